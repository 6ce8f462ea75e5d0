"""A PyTorch model served on a CUDA GPU with micro-batching (runs where a GPU is present; the
CPU path of the same code is covered by every other serving test).

Self-contained (its own home, gateway and client) so that it also runs on a GPU machine with
``--noconftest``, without the database servers the shared fixtures start.
"""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from pathlib import Path  # noqa: E402

import httpx  # noqa: E402

from evergreen.bootstrap import build  # noqa: E402
from evergreen.flavors import Signature  # noqa: E402
from evergreen.flavors.torch import TorchRegressor  # noqa: E402
from evergreen.serving import BatchingSpec, GatewayConfig, GatewayThread, create_app  # noqa: E402
from evergreen.settings import Settings  # noqa: E402

from .conftest import columns_request, numeric_data  # noqa: E402

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_torch_model_is_served_on_the_gpu_in_batches(tmp_path: Path) -> None:
    context = build(Settings(home=tmp_path / "home"))
    features, target = numeric_data(0, rows=400)
    model = TorchRegressor(epochs=20).fit(features, target)
    registry = context.registry
    registry.ensure_model("rentals", task="regression", target="rentals", actor="test")
    row = registry.register(
        "rentals",
        model,
        flavor="torch",
        signature=Signature.infer(features, target, "regression"),
        actor="test",
        gate={"passed": True},
        validation={"passed": True},
    )
    registry.promote("rentals", row.version, "production", actor="test")
    config = GatewayConfig(
        poll_interval=0.05, batching=BatchingSpec(max_batch_rows=256, max_wait=0.005)
    )
    app = create_app(registry, None, config=config)
    with GatewayThread(app) as thread, httpx.Client(base_url=thread.url, timeout=30) as client:
        assert app.state.cache.wait_ready(30)
        check_gpu_serving(client, model, features)
    context.close()


def check_gpu_serving(client: httpx.Client, model: TorchRegressor, features: pd.DataFrame) -> None:
    [variant] = client.get("/api/v1/endpoints").json()[0]["serving"]["variants"]
    assert variant["backend"] == "native-cuda"

    answers: dict[int, list[float]] = {}

    def send(i: int) -> None:
        response = client.post("/v2/models/rentals/infer", json=columns_request(features.iloc[[i]]))
        assert response.status_code == 200, response.text
        answers[i] = response.json()["outputs"][0]["data"]

    threads = [threading.Thread(target=send, args=(i,)) for i in range(64)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    expected = TorchRegressor.predict(model, features.iloc[:64])
    got = np.array([answers[i][0] for i in range(64)])
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-3)
    metrics = client.get("/metrics").text
    calls = [
        float(line.split()[-1])
        for line in metrics.splitlines()
        if line.startswith("evergreen_batch_rows_count")
    ]
    assert sum(calls) < 64  # requests shared GPU calls
