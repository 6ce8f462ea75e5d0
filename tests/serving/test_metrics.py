"""Prometheus metrics at ``/metrics``, after real requests on a real gateway."""

from __future__ import annotations

import json
import time

import pandas as pd
from prometheus_client.parser import text_string_to_metric_families

from evergreen.bootstrap import Context
from evergreen.serving import EndpointPolicy, GatewayConfig, Shadow, Variant
from evergreen.serving.endpoints import Endpoints
from evergreen.store.endpoints import EndpointRepository

from .conftest import Gateway, Publish, StartGateway, columns_request

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(gateway: Gateway) -> Samples:
    response = gateway.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def records(frame: pd.DataFrame) -> str:
    return json.dumps({"dataframe_records": frame.to_dict(orient="records")})


def test_requests_errors_latency_batches_and_loads(
    publish: Publish, start_gateway: StartGateway
) -> None:
    published = publish()
    gateway = start_gateway()
    rows = published.features.head(4)
    for _ in range(3):
        assert gateway.client.post("/invocations", content=records(rows)).is_success
    for _ in range(2):
        v2 = gateway.client.post("/v2/models/rentals/infer", json=columns_request(rows.head(2)))
        assert v2.is_success
    # refused while parsing (counted by the protocol) and by the signature (by the gateway)
    assert gateway.client.post("/invocations", content=b'{"inputs": 3}').status_code == 400
    wrong_type = records(rows.assign(temp="warm"))
    assert gateway.client.post("/invocations", content=wrong_type).status_code == 400

    samples = scrape(gateway)
    where = {"endpoint": "rentals", "variant": "production"}
    assert value(samples, "evergreen_requests_total", **where, protocol="mlflow") == 3
    assert value(samples, "evergreen_requests_total", **where, protocol="v2-rest") == 2
    errors = value(
        samples, "evergreen_request_errors_total", **where, protocol="mlflow", status="400"
    )
    assert errors == 2
    assert value(samples, "evergreen_request_latency_seconds_count", **where) == 5
    assert value(samples, "evergreen_request_latency_seconds_bucket", **where, le="+Inf") == 5
    assert value(samples, "evergreen_request_latency_seconds_bucket", **where, le="10.0") == 5
    assert value(samples, "evergreen_request_latency_seconds_sum", **where) > 0
    # every row answered went through the micro-batcher
    model = {"model": f"rentals:{published.version}"}
    assert value(samples, "evergreen_batch_rows_sum", **model) == 3 * 4 + 2 * 2
    assert 1 <= value(samples, "evergreen_batch_rows_count", **model) <= 5
    assert value(samples, "evergreen_batch_requests_sum", **model) == 5
    loads = [
        v
        for (name, labels), v in samples.items()
        if name == "evergreen_model_load_seconds"
        and {("model", "rentals"), ("version", "1")} <= labels
    ]
    assert len(loads) == 1
    assert loads[0] > 0


def test_shadow_lag(context: Context, publish: Publish, start_gateway: StartGateway) -> None:
    published = publish()
    publish(seed=1, promote=False)
    policy = EndpointPolicy(
        variants=(Variant(name="main", model="rentals@production"),),
        shadows=(Shadow(name="next", model="rentals:2"),),
    )
    endpoints = Endpoints(EndpointRepository(context.registry.models.db), context.registry)
    endpoints.set("bikes", policy, actor="test")
    gateway = start_gateway(config=GatewayConfig(shadow_busy_share=1.0))  # every copy
    rows = published.features.head(3)
    for _ in range(4):
        answer = gateway.client.post("/endpoints/bikes/invocations", content=records(rows))
        assert answer.headers["X-Evergreen-Variant"] == "main"
    lag = 0.0
    deadline = time.monotonic() + 10
    while lag < 4 and time.monotonic() < deadline:  # shadows answer after the primary
        lag = value(
            scrape(gateway), "evergreen_shadow_lag_seconds_count", endpoint="bikes", variant="next"
        )
        time.sleep(0.05)
    assert lag == 4
    samples = scrape(gateway)
    assert (
        value(
            samples, "evergreen_requests_total", endpoint="bikes", variant="main", protocol="mlflow"
        )
        == 4
    )


def test_v2_requests_refused_while_parsing_are_counted(
    publish: Publish, start_gateway: StartGateway
) -> None:
    published = publish()
    gateway = start_gateway()
    bad = columns_request(published.features.head(2))
    bad["inputs"][0]["name"] = "nope"
    response = gateway.client.post("/v2/models/rentals/infer", json=bad)
    assert response.status_code == 400 and "nope" in response.json()["error"]
    assert gateway.client.post("/v2/models/rentals/infer", content=b"{").status_code == 400
    samples = scrape(gateway)
    where = {"endpoint": "rentals", "variant": "production", "protocol": "v2-rest"}
    assert value(samples, "evergreen_request_errors_total", **where, status="400") == 2
    assert value(samples, "evergreen_requests_total", **where) == 0
