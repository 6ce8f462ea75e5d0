"""The inference gateway: every protocol over one ``Gateway`` (routing, batching, shadows,
logging), the registry's REST API, the control API and Prometheus metrics.

``create_app`` takes its collaborators explicitly: the registry to serve from and, optionally, a
prediction-log writer. Endpoint policies and feedback labels live in the registry's database.
The app's lifespan starts the model cache's refresher; on shutdown it stops taking requests,
waits for shadow copies still running, stops the refresher and closes the writer (which writes
every record still buffered).
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from evergreen.registry import Registry
from evergreen.serving.access_log import AccessLogMiddleware
from evergreen.serving.batching import BatchingSpec
from evergreen.serving.control_api import Verdict, control_router
from evergreen.serving.endpoints import Endpoints
from evergreen.serving.errors import install_error_handlers
from evergreen.serving.experiment import judge_endpoint
from evergreen.serving.gateway import Gateway
from evergreen.serving.in_flight import InFlight, InFlightMiddleware
from evergreen.serving.limits import LimitsMiddleware
from evergreen.serving.loader import ModelLoader, ServedModel
from evergreen.serving.metrics import GatewayMetrics
from evergreen.serving.model_cache import ModelCache
from evergreen.serving.prediction_log import PredictionLogWriter
from evergreen.serving.protocols.mlflow import mlflow_router
from evergreen.serving.protocols.v2_rest import VERSION_HEADER, v2_router
from evergreen.serving.registry_api import Lineage, registry_router
from evergreen.serving.shadows import BUSY_SHARE
from evergreen.store.endpoints import EndpointRepository, FeedbackRepository
from evergreen.store.events import EventRepository

if TYPE_CHECKING:
    from evergreen.serving.protocols.v2_grpc import GrpcServer

log = logging.getLogger(__name__)

__all__ = ["VERSION_HEADER", "GatewayConfig", "create_app"]


def _server_version() -> str:
    try:
        return package_version("evergreen")
    except PackageNotFoundError:
        return "0+unknown"


@dataclass(frozen=True)
class GatewayConfig:
    """How a gateway serves: polling, batching, the ONNX fast path, tokens, limits."""

    poll_interval: float = 1.0
    batching: BatchingSpec = field(default_factory=BatchingSpec)
    onnx: bool = True
    api_token: str | None = None
    inference_token: str | None = None
    max_body_bytes: int = 64 * 1024 * 1024
    # The V2 gRPC service (needs the `grpc` extra) on this port (0: a free one); None: off.
    grpc_port: int | None = None
    grpc_host: str = "127.0.0.1"
    # The endpoint MLflow's /invocations answers for; None: the only endpoint served.
    default_endpoint: str | None = None
    # `evergreen serve` writes JSON access lines to stdout (in each worker process).
    access_log: bool = True
    # The share of requests each shadow gets at most while the gateway is short of CPU
    # (shadows.py); 1: every copy it samples, whatever the load.
    shadow_busy_share: float = BUSY_SHARE

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> GatewayConfig:
        """The configuration ``to_json`` wrote (worker processes read it from the environment)."""
        data = json.loads(text)
        data["batching"] = BatchingSpec(**data.get("batching", {}))
        return cls(**data)


def _grpc_server(gateway: Gateway, config: GatewayConfig) -> GrpcServer | None:
    """The V2 gRPC service the config asks for; raises ``Unavailable`` without grpcio."""
    if config.grpc_port is None:
        return None
    from evergreen.serving.protocols.v2_grpc import GrpcServer

    return GrpcServer(
        gateway,
        "evergreen",
        _server_version(),
        host=config.grpc_host,
        port=config.grpc_port,
        token=config.inference_token,
        max_message_bytes=config.max_body_bytes,
    )


def create_app(
    registry: Registry,
    log_writer: PredictionLogWriter | None,
    *,
    config: GatewayConfig | None = None,
    poll_interval: float | None = None,
    api_token: str | None = None,
    lineage: Lineage | None = None,
    verdict: Verdict | None = None,
) -> FastAPI:
    """The gateway app; ``app.state.gateway`` is its ``Gateway`` and ``app.state.cache`` its
    ``ModelCache``. ``poll_interval`` and ``api_token`` override ``config``'s."""
    config = config or GatewayConfig()
    if poll_interval is not None or api_token is not None:
        from dataclasses import replace

        config = replace(
            config,
            poll_interval=config.poll_interval if poll_interval is None else poll_interval,
            api_token=config.api_token if api_token is None else api_token,
        )
    db = registry.models.db
    metrics = GatewayMetrics()

    def loaded(served: ServedModel) -> None:
        model = served.model
        metrics.load_seconds.labels(model.name, str(model.version), served.backend).set(
            served.load_seconds
        )

    loader = ModelLoader(
        registry, config.batching, onnx=config.onnx, observer=metrics.batch_observer
    )
    cache = ModelCache(
        registry,
        endpoints=EndpointRepository(db),
        loader=loader,
        poll_interval=config.poll_interval,
        on_load=loaded,
    )
    in_flight = InFlight()
    gateway = Gateway(
        cache,
        log_writer,
        metrics,
        in_flight=in_flight,
        shadow_busy_share=config.shadow_busy_share,
    )
    endpoints = Endpoints(EndpointRepository(db), registry, registry.clock)
    feedback = FeedbackRepository(db)
    if verdict is None and log_writer is not None:
        writer = log_writer

        def verdict(name: str) -> dict[str, Any]:
            served = cache.endpoints.get(name)
            return judge_endpoint(
                registry, endpoints, writer.predictions, writer.artifacts, feedback, name, served
            )

    grpc_server = _grpc_server(gateway, config)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        cache.start()
        try:
            if grpc_server is not None:
                app.state.grpc_port = await grpc_server.start()
            yield
        finally:
            if grpc_server is not None:
                await grpc_server.stop()
            await gateway.drain()
            await run_in_threadpool(cache.stop)
            gateway.close()
            if log_writer is not None:
                try:
                    await run_in_threadpool(log_writer.close)
                except Exception:
                    log.exception("could not write the rest of the prediction log")

    app = FastAPI(title="evergreen gateway", version=_server_version(), lifespan=lifespan)
    app.state.gateway = gateway
    app.state.cache = cache
    app.state.config = config
    app.state.grpc_port = None
    install_error_handlers(app)
    app.include_router(v2_router(gateway, "evergreen", _server_version()))
    app.include_router(mlflow_router(gateway, _server_version(), config.default_endpoint))
    app.include_router(registry_router(registry, token=config.api_token, lineage=lineage))
    app.include_router(
        control_router(
            endpoints,
            feedback,
            cache,
            registry.clock,
            token=config.api_token,
            inference_token=config.inference_token,
            verdict=verdict,
            events=EventRepository(db),
        )
    )

    @app.get("/metrics", include_in_schema=False)
    async def prometheus() -> Response:
        return Response(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    # The last added is the outermost: the access log sees what the limits refuse.
    app.add_middleware(
        LimitsMiddleware,
        max_body_bytes=config.max_body_bytes,
        inference_token=config.inference_token,
    )
    app.add_middleware(AccessLogMiddleware)
    app.add_middleware(InFlightMiddleware, counter=in_flight)
    return app
