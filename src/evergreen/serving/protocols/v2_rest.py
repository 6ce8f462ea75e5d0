"""The Open Inference Protocol V2 over HTTP: health, server and model metadata, inference.

Every model path exists with and without ``/versions/{version}``. Answers name the variant and
version that answered (``X-Evergreen-Variant``, ``X-Model-Version`` and the body's
``model_version``). Inference takes JSON with or without a ``Content-Type`` header, and the
binary tensor data extension (``Inference-Header-Content-Length``: a JSON header, then raw
tensors); it answers with binary output data when the request asks for it.
"""

from __future__ import annotations

import asyncio
import json
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette import routing
from starlette.types import Receive, Scope, Send

from evergreen.errors import EvergreenError, InvalidInput, NotFound
from evergreen.serving.access_log import annotate
from evergreen.serving.errors import error_response, status_of
from evergreen.serving.gateway import Gateway, Route
from evergreen.serving.protocols import v2, v2_binary

PROTOCOL = "v2-rest"
INFER_PATH = "/v2/models/{name}/infer"
INFER_VERSION_PATH = "/v2/models/{name}/versions/{version}/infer"
VERSION_HEADER = "X-Model-Version"
VARIANT_HEADER = "X-Evergreen-Variant"
# Bodies up to this size are parsed on the event loop; larger ones in a worker thread.
INLINE_PARSE_BYTES = 64 * 1024
# The most a compressed request may expand to.
MAX_DECODED_BYTES = 64 * 1024 * 1024


def answered_by(route: Route) -> dict[str, str]:
    return {VERSION_HEADER: str(route.model.version), VARIANT_HEADER: route.variant}


def _version(text: str) -> int:
    if not text.isdigit():
        raise NotFound(f"version {text!r} is not a version number")
    return int(text)


def v2_router(gateway: Gateway, server_name: str, server_version: str) -> APIRouter:
    router = APIRouter()

    @router.get("/v2/health/live")
    async def live() -> dict[str, bool]:
        return {"live": True}

    @router.get("/v2/health/ready")
    async def ready() -> JSONResponse:
        return JSONResponse({"ready": gateway.ready}, status_code=200 if gateway.ready else 503)

    @router.get("/v2")
    @router.get("/v2/")
    async def server_metadata() -> dict[str, Any]:
        return {"name": server_name, "version": server_version, "extensions": v2.EXTENSIONS}

    @router.get("/v2/models/{name}")
    async def model_metadata(name: str) -> JSONResponse:
        route = await gateway.route(name)
        return JSONResponse(v2.model_metadata(route.model, name), headers=answered_by(route))

    @router.get("/v2/models/{name}/versions/{version}")
    async def version_metadata(name: str, version: str) -> JSONResponse:
        route = await gateway.route(name, _version(version))
        return JSONResponse(v2.model_metadata(route.model, name), headers=answered_by(route))

    @router.get("/v2/models/{name}/ready")
    async def model_ready(name: str) -> JSONResponse:
        route = await gateway.route(name)
        return JSONResponse({"name": name, "ready": True}, headers=answered_by(route))

    @router.get("/v2/models/{name}/versions/{version}/ready")
    async def version_ready(name: str, version: str) -> JSONResponse:
        number = _version(version)
        loaded = gateway.cache.is_loaded(name, number)
        if not loaded:
            await asyncio.to_thread(gateway.cache.registry.get_version, name, number)  # 404
        return JSONResponse(
            {"name": name, "ready": loaded},
            status_code=200 if loaded else 503,
            headers={VERSION_HEADER: str(number)},
        )

    async def infer(request: Request) -> Response:
        body = _decoded(await request.body(), request.headers.get("content-encoding"))
        route = await gateway.route(request.path_params["name"], headers=request.headers)
        return await _infer(request, route, body)

    async def infer_version(request: Request) -> Response:
        body = _decoded(await request.body(), request.headers.get("content-encoding"))
        name, version = request.path_params["name"], request.path_params["version"]
        route = await gateway.route(name, _version(version), headers=request.headers)
        return await _infer(request, route, body)

    # These answer: routes are matched in order, so the FastAPI routes below (same paths, same
    # handlers) only describe inference in the OpenAPI schema. First in the list, as inference
    # is most of the traffic: matching the other routes first cost ~5% of a request.
    router.routes[:0] = [
        routing.Route(INFER_PATH, _Endpoint(infer), methods=["POST"]),
        routing.Route(INFER_VERSION_PATH, _Endpoint(infer_version), methods=["POST"]),
    ]

    @router.post(INFER_PATH)
    async def infer_documented(name: str, request: Request) -> Response:
        return await infer(request)

    @router.post(INFER_VERSION_PATH)
    async def infer_version_documented(name: str, version: str, request: Request) -> Response:
        return await infer_version(request)

    async def _infer(request: Request, route: Route, body: bytes) -> Response:
        header_length = request.headers.get(v2_binary.HEADER_LENGTH)
        annotate(
            request.scope,
            endpoint=route.endpoint,
            variant=route.variant,
            version=str(route.model.version),
        )
        try:
            if len(body) <= INLINE_PARSE_BYTES:
                parsed = _parse(route, body, header_length)
            else:
                parsed = await asyncio.to_thread(_parse, route, body, header_length)
        except EvergreenError as exc:
            gateway.count_error(route, PROTOCOL, status_of(exc))
            return _refused(route, exc)
        annotate(request.scope, request_id=parsed.id)
        try:
            outputs = await gateway.predict(route, parsed.frame, parsed.id, protocol=PROTOCOL)
        except EvergreenError as exc:  # counted by predict
            return _refused(route, exc)
        if parsed.binary_output:
            return _binary_response(route, parsed.id, outputs)
        content = v2.infer_response(route.model, parsed.id, outputs, model_name=route.endpoint)
        return Response(
            orjson.dumps(content), media_type="application/json", headers=answered_by(route)
        )

    def _refused(route: Route, exc: EvergreenError) -> Response:
        """The error, answered by the version that refused the request."""
        response = error_response(status_of(exc), str(exc))
        response.headers.update(answered_by(route))
        return response

    return router


class _Endpoint:
    """An inference route as a plain ASGI app: FastAPI's per-request machinery (dependency
    solving, its request wrapper, per-route exception wrapping) cost more than parsing and
    conforming a 1-row request. Errors raised here still reach the app's handlers."""

    def __init__(self, handle: Callable[[Request], Awaitable[Response]]) -> None:
        self.handle = handle

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.handle(Request(scope, receive))
        await response(scope, receive, send)


def _decoded(body: bytes, encoding: str | None) -> bytes:
    """The body without its ``Content-Encoding`` (gzip or deflate, as Triton's client sends
    with ``request_compression_algorithm``), at most ``MAX_DECODED_BYTES``."""
    if encoding is None or encoding.strip().lower() == "identity":
        return body
    kind = encoding.strip().lower()
    if kind not in ("gzip", "deflate"):
        raise InvalidInput(f"Content-Encoding {encoding!r} is not supported; use gzip or deflate")
    decoder = zlib.decompressobj(zlib.MAX_WBITS | 16 if kind == "gzip" else zlib.MAX_WBITS)
    try:
        decoded = decoder.decompress(body, MAX_DECODED_BYTES)
    except zlib.error as exc:
        raise InvalidInput(f"the body is not valid {kind} data: {exc}") from None
    if decoder.unconsumed_tail:
        raise InvalidInput(f"the decompressed body is larger than {MAX_DECODED_BYTES} bytes")
    return decoded


def _parse(route: Route, body: bytes, header_length: str | None) -> v2.InferRequest:
    header, binary = v2_binary.split_body(body, header_length)
    return v2.parse_infer_request(_json(header, header_length), route.model.signature, binary)


def _json(header: bytes, header_length: str | None) -> Any:
    """The JSON document: parsed by orjson (about 10x faster), or by the standard library
    where orjson refuses it (``NaN`` and ``Infinity`` literals, integers past 64 bits), whose
    message names the problem in a refusal."""
    try:
        return orjson.loads(header)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(header)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        where = "JSON header" if header_length is not None else "body"
        raise InvalidInput(f"the request {where} is not valid JSON: {exc}") from None


def _binary_response(route: Route, request_id: str, outputs: np.ndarray) -> Response:
    """A response with binary output data: the JSON header, then the raw output."""
    header, raw = v2.binary_infer_response(
        route.model, request_id, outputs, model_name=route.endpoint
    )
    encoded = json.dumps(header, separators=(",", ":")).encode()
    headers = {**answered_by(route), v2_binary.HEADER_LENGTH: str(len(encoded))}
    return Response(encoded + raw, media_type="application/octet-stream", headers=headers)
