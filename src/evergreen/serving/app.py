"""The inference gateway: Open Inference Protocol V2 over HTTP, with hot-swapped models.

``create_app`` takes its collaborators explicitly: the registry to serve from and, optionally, a
prediction-log writer. The app's lifespan starts the model cache's refresher and, on shutdown,
stops it and closes the writer (which writes every record still buffered).
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from typing import Any

import numpy as np
import pandas as pd
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from evergreen.errors import EvergreenError, InvalidInput
from evergreen.flavors.base import LoadedModel
from evergreen.registry import Registry
from evergreen.serving.errors import error_response, install_error_handlers, status_of
from evergreen.serving.model_cache import ModelCache
from evergreen.serving.prediction_log import PredictionLogWriter
from evergreen.serving.protocols import v2
from evergreen.serving.registry_api import Lineage, registry_router

log = logging.getLogger(__name__)

VERSION_HEADER = "X-Model-Version"


def _server_version() -> str:
    try:
        return package_version("evergreen")
    except PackageNotFoundError:
        return "0+unknown"


def create_app(
    registry: Registry,
    log_writer: PredictionLogWriter | None,
    *,
    poll_interval: float = 1.0,
    api_token: str | None = None,
    lineage: Lineage | None = None,
) -> FastAPI:
    """The gateway app; ``app.state.cache`` is its ``ModelCache``. It also serves the
    registry's REST API under ``/api/v1`` (writes need ``api_token``)."""
    cache = ModelCache(registry, poll_interval=poll_interval)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        cache.start()
        try:
            yield
        finally:
            await run_in_threadpool(cache.stop)
            if log_writer is not None:
                try:
                    await run_in_threadpool(log_writer.close)
                except Exception:
                    log.exception("could not write the rest of the prediction log")

    app = FastAPI(title="evergreen gateway", version=_server_version(), lifespan=lifespan)
    app.state.cache = cache
    install_error_handlers(app)
    app.include_router(registry_router(registry, token=api_token, lineage=lineage))

    def answered_by(model: LoadedModel, body: dict[str, Any]) -> JSONResponse:
        return JSONResponse(body, headers={VERSION_HEADER: str(model.version)})

    # -- health and server metadata ---------------------------------------------------------
    @app.get("/v2/health/live")
    async def live() -> dict[str, bool]:
        return {"live": True}

    @app.get("/v2/health/ready")
    async def ready() -> JSONResponse:
        return JSONResponse({"ready": cache.ready}, status_code=200 if cache.ready else 503)

    @app.get("/v2")
    @app.get("/v2/")
    async def server_metadata() -> dict[str, Any]:
        return {"name": "evergreen", "version": _server_version(), "extensions": []}

    # -- models -----------------------------------------------------------------------------
    @app.get("/v2/models/{name}")
    async def model_metadata(name: str) -> JSONResponse:
        model = cache.get(name)
        return answered_by(model, v2.model_metadata(model))

    @app.get("/v2/models/{name}/versions/{version}")
    async def version_metadata(name: str, version: int) -> JSONResponse:
        model = await run_in_threadpool(cache.get_version, name, version)
        return answered_by(model, v2.model_metadata(model))

    @app.get("/v2/models/{name}/ready")
    async def model_ready(name: str) -> JSONResponse:
        model = cache.get(name)
        return answered_by(model, {"name": name, "ready": True})

    @app.get("/v2/models/{name}/versions/{version}/ready")
    async def version_ready(name: str, version: int) -> JSONResponse:
        loaded = cache.is_loaded(name, version)
        if not loaded:
            await run_in_threadpool(registry.get_version, name, version)  # 404 when unknown
        headers = {VERSION_HEADER: str(version)}
        return JSONResponse(
            {"name": name, "ready": loaded}, status_code=200 if loaded else 503, headers=headers
        )

    @app.post("/v2/models/{name}/infer")
    async def infer(name: str, request: Request) -> JSONResponse:
        model = cache.get(name)  # kept for the whole request, even if a new version swaps in
        return await _infer(model, await request.body())

    @app.post("/v2/models/{name}/versions/{version}/infer")
    async def infer_version(name: str, version: int, request: Request) -> JSONResponse:
        body = await request.body()
        model = await run_in_threadpool(cache.get_version, name, version)
        return await _infer(model, body)

    async def _infer(model: LoadedModel, body: bytes) -> JSONResponse:
        try:
            request_id, inputs, outputs = await run_in_threadpool(_predict, model, body)
        except EvergreenError as exc:  # the version that refused the request still answers
            response = error_response(status_of(exc), str(exc))
            response.headers[VERSION_HEADER] = str(model.version)
            return response
        if log_writer is not None:
            try:
                log_writer.record(model.name, model.version, request_id, inputs, outputs)
            except EvergreenError as exc:  # a prediction is answered even if it cannot be logged
                log.error(
                    "prediction %s of %s:%d not logged: %s",
                    request_id,
                    model.name,
                    model.version,
                    exc,
                )
        return answered_by(model, v2.infer_response(model, request_id, outputs))

    return app


def _predict(model: LoadedModel, body: bytes) -> tuple[str, pd.DataFrame, np.ndarray]:
    """Decode, parse and predict (CPU-bound: runs in a worker thread)."""
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"the request body is not valid JSON: {exc}") from None
    request = v2.parse_infer_request(payload, model.signature)
    inputs = model.signature.conform(request.frame)
    try:
        outputs = model.flavor.predict(model.model, inputs)  # inputs already conform
    except (ValueError, TypeError) as exc:
        raise InvalidInput(
            f"model {model.name}:{model.version} cannot predict on this input: {exc}"
        ) from None
    return request.id, inputs, np.asarray(outputs)
