"""Request limits, as pure ASGI middleware in front of every route: the body size limit and the
optional bearer token on inference.

A request whose ``Content-Length`` is over ``max_body_bytes`` is answered 413 before its body is
read, and the connection closed; a streamed (chunked) body is counted as it arrives and refused
(413) once it passes the limit. With an inference token, inference routes (``/v2/models/...``,
``/invocations``, ``/endpoints/...``) need ``Authorization: Bearer <token>`` (401 otherwise);
health, metrics and version routes stay open. Control routes check their own token (see
``registry_api.bearer_guard``).
"""

from __future__ import annotations

import hmac
import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from evergreen.serving.protocols.mlflow import ERROR_CODES

INFERENCE_PREFIXES = ("/v2/models/", "/invocations", "/endpoints/")
# Routes that answer MLflow's scoring protocol answer its error shape.
MLFLOW_PREFIXES = ("/invocations", "/endpoints/")
_CLOSE = {"Connection": "close"}


class BodyTooLarge(HTTPException):
    """Raised while a route reads a streamed body past the limit; answered 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, _too_large(limit), headers=_CLOSE)


def needs_inference_token(path: str) -> bool:
    return path.startswith(INFERENCE_PREFIXES)


class LimitsMiddleware:
    def __init__(
        self, app: ASGIApp, *, max_body_bytes: int, inference_token: str | None = None
    ) -> None:
        if max_body_bytes < 1:
            raise ValueError(f"max_body_bytes must be at least 1; got {max_body_bytes}")
        self.app = app
        self.max_body_bytes = max_body_bytes
        self._token = inference_token.encode() if inference_token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length: bytes | None = None
        authorization = b""
        for key, value in scope["headers"]:
            if key == b"content-length":
                length = value
            elif key == b"authorization":
                authorization = value
        path: str = scope["path"]
        if self._token is not None and needs_inference_token(path):
            scheme, _, given = authorization.partition(b" ")
            if scheme.lower() != b"bearer" or not hmac.compare_digest(given, self._token):
                message = "inference needs 'Authorization: Bearer <token>' (the gateway's token)"
                await _answer(send, path, 401, message, {"WWW-Authenticate": "Bearer"})
                return
        if length is not None and length.isdigit():
            if int(length) > self.max_body_bytes:
                await _answer(send, path, 413, _too_large(self.max_body_bytes), _CLOSE)
                return
            await self.app(scope, receive, send)  # the server never reads past Content-Length
            return
        await self._counted(scope, receive, send)

    async def _counted(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.max_body_bytes
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge as exc:  # a route that let it escape
            if started:
                raise
            await _answer(send, scope["path"], 413, str(exc.detail), _CLOSE)


def _too_large(limit: int) -> str:
    return (
        f"the request body is larger than this gateway's limit of {limit} bytes; send fewer "
        "rows per request, or raise the limit (evergreen serve --max-body-bytes)"
    )


async def _answer(
    send: Send, path: str, status: int, message: str, headers: dict[str, str]
) -> None:
    if path.startswith(MLFLOW_PREFIXES):
        content = {"error_code": ERROR_CODES.get(status, "INTERNAL_ERROR"), "message": message}
    else:
        content = {"error": message}
    body = json.dumps(content).encode()
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    raw += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
