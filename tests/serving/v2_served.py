"""A gateway serving real models over V2 REST and gRPC, shared by a test module (starting one
takes seconds): ``rentals`` (a regressor; version 1, and version 2 in production), ``load`` (a
classifier whose outputs are labels) and the endpoint ``split`` (rentals 1 and 2, sticky on
``X-User``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from sklearn.linear_model import LinearRegression, LogisticRegression

from evergreen import bootstrap
from evergreen.flavors import Signature
from evergreen.serving import GatewayThread, create_app
from evergreen.serving.app import GatewayConfig
from evergreen.serving.endpoints import Endpoints
from evergreen.settings import Settings
from evergreen.store.endpoints import EndpointRepository

from .conftest import numeric_data


@dataclass
class Served:
    http: str  # host:port of V2 REST
    grpc: str  # host:port of V2 gRPC
    models: dict[tuple[str, int], Any]  # (name, version) -> the fitted model
    rows: pd.DataFrame  # rows every model takes
    gateway: Any = None  # the app's Gateway

    def predict(self, name: str, version: int) -> Any:
        return self.models[(name, version)].predict(self.rows)


@contextmanager
def serve(home: Path, **config: Any) -> Iterator[Served]:
    ctx = bootstrap.build(Settings(home=home))
    try:
        registry = ctx.registry
        models: dict[tuple[str, int], Any] = {}
        for name, seed, task in [
            ("rentals", 0, "regression"),
            ("rentals", 1, "regression"),
            ("load", 2, "classification"),
        ]:
            features, target = numeric_data(seed)
            if task == "classification":
                target = (target > target.median()).map({True: "busy", False: "quiet"})
                target.name = "load"
                model: Any = LogisticRegression(max_iter=500).fit(features, target)
            else:
                model = LinearRegression().fit(features, target)
            registry.ensure_model(name, task=task, target=str(target.name), actor="test")
            row = registry.register(
                name,
                model,
                flavor="sklearn",
                signature=Signature.infer(features, target, task),  # type: ignore[arg-type]
                actor="test",
                gate={"passed": True, "reason": "published by the test"},
                validation={"passed": True},
            )
            registry.promote(name, row.version, "production", actor="test")
            models[(name, row.version)] = model
        Endpoints(EndpointRepository(registry.models.db), registry).set(
            "split",
            {
                "variants": [
                    {"name": "a", "model": "rentals:1"},
                    {"name": "b", "model": "rentals:2"},
                ],
                "sticky": "X-User",
            },
            actor="test",
        )
        settings = {"poll_interval": 0.05, "grpc_port": 0, **config}
        app = create_app(registry, None, config=GatewayConfig(**settings))
        with GatewayThread(app) as thread:
            assert app.state.cache.wait_ready(10)
            rows = numeric_data(7, rows=6)[0]
            yield Served(
                f"127.0.0.1:{thread.port}",
                f"127.0.0.1:{app.state.grpc_port}",
                models,
                rows,
                app.state.gateway,
            )
    finally:
        ctx.close()
