"""The one table from evergreen error kinds to HTTP status codes, and the gateway's handlers.

Every error answers ``{"error": "<message>"}``.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from evergreen.errors import (
    AlreadyExists,
    EvergreenError,
    IntegrityFailure,
    InvalidInput,
    InvalidState,
    NotFound,
    Unavailable,
)

log = logging.getLogger(__name__)

STATUS: dict[type[EvergreenError], int] = {
    InvalidInput: 400,
    NotFound: 404,
    InvalidState: 409,
    AlreadyExists: 409,
    IntegrityFailure: 500,
    Unavailable: 503,
    EvergreenError: 500,
}


def status_of(error: EvergreenError) -> int:
    """The status of the most specific kind in ``STATUS`` that ``error`` is."""
    for kind in type(error).__mro__:
        if kind in STATUS:
            return STATUS[kind]
    return 500


def error_response(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(EvergreenError)
    async def evergreen_error(_: Request, exc: EvergreenError) -> JSONResponse:
        status = status_of(exc)
        if status >= 500:
            log.error("%s: %s", type(exc).__name__, exc)
        return error_response(status, str(exc))

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', 'invalid')}"
            for e in exc.errors()
        )
        return error_response(400, f"invalid request: {problems}")

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        response = error_response(exc.status_code, str(exc.detail))
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    @app.exception_handler(Exception)
    async def unexpected_error(_: Request, exc: Exception) -> JSONResponse:
        log.error("unexpected error in the gateway", exc_info=exc)
        return error_response(500, "internal error in the gateway; see its log")
