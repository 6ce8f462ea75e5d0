"""The gateway's Prometheus metrics (one registry per app, exposed at ``/metrics``).

With several worker processes each has its own registry; scrape each process, or run one
gateway per port behind the load balancer as usual with Prometheus.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from evergreen.serving.batching import BatchObserver

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
ROW_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)


class GatewayMetrics:
    """Requests, errors and latency per endpoint and variant; batches; loads; shadows."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "evergreen_requests",
            "Inference requests answered, by endpoint, variant and protocol",
            ["endpoint", "variant", "protocol"],
            registry=r,
        )
        self.errors = Counter(
            "evergreen_request_errors",
            "Inference requests that failed, by endpoint, variant, protocol and status code",
            ["endpoint", "variant", "protocol", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "evergreen_request_latency_seconds",
            "Time from a request's arrival to its answer",
            ["endpoint", "variant"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_rows = Histogram(
            "evergreen_batch_rows",
            "Rows per model call after micro-batching",
            ["model"],
            buckets=ROW_BUCKETS,
            registry=r,
        )
        self.batch_requests = Histogram(
            "evergreen_batch_requests",
            "Requests per model call after micro-batching",
            ["model"],
            buckets=ROW_BUCKETS,
            registry=r,
        )
        self.load_seconds = Gauge(
            "evergreen_model_load_seconds",
            "Seconds the last load of a model version took (verify, load, warm up)",
            ["model", "version", "backend"],
            registry=r,
        )
        self.shadow_lag = Histogram(
            "evergreen_shadow_lag_seconds",
            "Time from the primary's answer to the shadow's",
            ["endpoint", "variant"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.shadow_dropped = Counter(
            "evergreen_shadow_dropped",
            "Shadow copies not sent because the shadow was too far behind",
            ["endpoint", "variant"],
            registry=r,
        )
        self.shadow_shed = Counter(
            "evergreen_shadow_shed",
            "Shadow copies not sent because the gateway was short of CPU (--shadow-busy-share)",
            ["endpoint", "variant"],
            registry=r,
        )

    def batch_observer(self, model: str) -> BatchObserver:
        rows_hist = self.batch_rows.labels(model)
        requests_hist = self.batch_requests.labels(model)

        def observe(requests: int, rows: int, _seconds: float) -> None:
            rows_hist.observe(rows)
            requests_hist.observe(requests)

        return observe

    def render(self) -> bytes:
        return generate_latest(self.registry)
