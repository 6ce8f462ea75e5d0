"""`evergreen serve`'s option defaults are the gateway's own (`GatewayConfig`, `BatchingSpec`):
the command spells them out for its `--help`, so a default changed in one place only would
serve with one value and document another."""

from __future__ import annotations

import inspect

from evergreen.cli.main import serve
from evergreen.serving.app import GatewayConfig
from evergreen.serving.batching import BatchingSpec


def test_every_serve_default_is_the_gateway_default() -> None:
    options = {
        name: parameter.default for name, parameter in inspect.signature(serve).parameters.items()
    }
    config, batching = GatewayConfig(), BatchingSpec()
    expected = {
        "poll": config.poll_interval,
        "max_batch_rows": batching.max_batch_rows,
        "max_wait_ms": batching.max_wait * 1000.0,
        "latency_target_ms": batching.latency_target * 1000.0,
        "onnx": config.onnx,
        "grpc_port": config.grpc_port,
        "default_endpoint": config.default_endpoint,
        "max_body_bytes": config.max_body_bytes,
        "access_log": config.access_log,
        "shadow_busy_share": config.shadow_busy_share,
    }
    assert {name: options[name] for name in expected} == expected
    # every option that shapes the gateway is compared (a new one must be added above)
    assert set(options) - set(expected) == {"port", "host", "workers"}
