from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression

from evergreen.bootstrap import Context
from evergreen.flavors import Signature, get_flavor
from evergreen.flavors.base import Task
from evergreen.serving import (
    GatewayConfig,
    GatewayThread,
    ModelCache,
    PredictionLogWriter,
    create_app,
)


@pytest.fixture
def one_cpu() -> Iterator[int]:
    """This thread pinned to one CPU (its affinity restored afterwards)."""
    before = os.sched_getaffinity(0)
    cpu = min(before)
    os.sched_setaffinity(0, {cpu})
    try:
        yield cpu
    finally:
        os.sched_setaffinity(0, before)


def numeric_data(seed: int, rows: int = 200) -> tuple[pd.DataFrame, pd.Series]:
    """Two float columns and one int column; the target depends on all three and on ``seed``."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "temp": rng.normal(20, 5, rows),
            "humidity": rng.uniform(0, 1, rows),
            "weekday": rng.integers(0, 7, rows).astype("int64"),
        }
    )
    target = 3.0 * frame["temp"] - 10 * frame["humidity"] + (seed + 1) * frame["weekday"]
    return frame, pd.Series(target + rng.normal(0, 0.1, rows), name="rentals")


@dataclass
class Published:
    name: str
    version: int
    model: Any
    features: pd.DataFrame


Publish = Callable[..., Published]


@pytest.fixture
def publish(context: Context) -> Publish:
    """Train, register and (by default) promote a model; returns what was published."""

    def publish(
        name: str = "rentals",
        *,
        seed: int = 0,
        task: Task = "regression",
        promote: bool = True,
    ) -> Published:
        features, target = numeric_data(seed)
        model: Any
        if task == "classification":
            target = (target > target.median()).map({True: "busy", False: "quiet"})
            target.name = "load"
            model = LogisticRegression(max_iter=500).fit(features, target)
        else:
            model = LinearRegression().fit(features, target)
        registry = context.registry
        registry.ensure_model(name, task=task, target=str(target.name), actor="test")
        row = registry.register(
            name,
            model,
            flavor="sklearn",
            signature=Signature.infer(features, target, task),
            actor="test",
            # the evidence a pipeline run records, without which production is refused
            gate={"passed": True, "reason": "published by the test"},
            validation={"passed": True},
        )
        if promote:
            registry.promote(name, row.version, "production", actor="test")
        return Published(name, row.version, model, features)

    return publish


@dataclass
class Gateway:
    thread: GatewayThread
    cache: ModelCache
    writer: PredictionLogWriter | None
    client: httpx.Client

    @property
    def url(self) -> str:
        return self.thread.url

    def stop(self) -> None:
        self.client.close()
        self.thread.stop()


StartGateway = Callable[..., Gateway]


@pytest.fixture
def start_gateway(context: Context) -> Iterator[StartGateway]:
    """Start the real gateway (uvicorn on a loopback port); waits until its models are loaded."""
    started: list[Gateway] = []

    def start(
        *, poll_interval: float = 0.05, log: bool = True, config: GatewayConfig | None = None
    ) -> Gateway:
        writer = (
            PredictionLogWriter(context.artifacts, context.predictions, flush_interval=0.1)
            if log
            else None
        )
        app = create_app(context.registry, writer, config=config, poll_interval=poll_interval)
        thread = GatewayThread(app).start()
        cache: ModelCache = app.state.cache
        assert cache.wait_ready(10)
        gateway = Gateway(thread, cache, writer, httpx.Client(base_url=thread.url, timeout=10))
        started.append(gateway)
        return gateway

    yield start
    for gateway in started:
        gateway.stop()


def columns_request(frame: pd.DataFrame, **extra: Any) -> dict[str, Any]:
    """A V2 request with one tensor per column."""
    datatypes = {"f": "FP64", "i": "INT64", "b": "BOOL"}
    return {
        "inputs": [
            {
                "name": str(column),
                "shape": [len(frame)],
                "datatype": datatypes.get(frame[column].dtype.kind, "BYTES"),
                "data": frame[column].tolist(),
            }
            for column in frame.columns
        ],
        **extra,
    }


def matrix_request(frame: pd.DataFrame, **extra: Any) -> dict[str, Any]:
    """A V2 request with one 2-D FP64 tensor, columns in signature order."""
    values = frame.to_numpy(dtype="float64")
    return {
        "inputs": [
            {
                "name": "input-0",
                "shape": list(values.shape),
                "datatype": "FP64",
                "data": values.tolist(),
            }
        ],
        **extra,
    }


def register_rentals(
    context: Context, model: Any, *, export_of: Any = None, reference: bool = True
) -> int:
    """Register ``model`` as a version of ``rentals`` (on ``numeric_data(0)``), with its
    reference rows unless ``reference`` is False and an ONNX export of ``export_of`` if given."""
    features, target = numeric_data(0)
    signature = Signature.infer(features, target, "regression")
    baseline: dict[str, Any] = {}
    if reference:
        buffer = io.BytesIO()
        features.to_parquet(buffer)
        baseline["reference_sha256"] = context.artifacts.put_bytes(buffer.getvalue()).sha256
    exports: dict[str, bytes | str] = {}
    if export_of is not None:
        export = get_flavor("sklearn").export_onnx(export_of, signature, features.head(50))
        assert export.data is not None, export.reason
        exports["onnx"] = export.data
    registry = context.registry
    registry.ensure_model("rentals", task="regression", target="rentals", actor="test")
    row = registry.register(
        "rentals", model, flavor="sklearn", signature=signature, actor="test",
        baseline=baseline, exports=exports,
    )  # fmt: skip
    return row.version
