"""MLflow's scoring protocol: ``POST /invocations`` and ``/endpoints/{name}/invocations``,
``/ping``, ``/health`` and ``/version``, as MLflow's scoring server and its clients speak it.

A JSON body holds exactly one of ``dataframe_split``, ``dataframe_records``, ``instances`` or
``inputs`` (and optionally ``params``, accepted and not used: evergreen's flavors take none);
``text/csv`` and Parquet bodies are tables with a header. The answer is
``{"predictions": [...]}``; errors answer MLflow's shape, ``{"error_code": ..., "message": ...}``.
``/invocations`` answers for the gateway's default endpoint (``GatewayConfig.default_endpoint``,
or the only endpoint served).

Behaviour mirrors ``mlflow.pyfunc.scoring_server`` (MLflow 3.x): malformed JSON, a body
without exactly one input field, or data that is not a table are ``BAD_REQUEST`` with status
400 (``_decode_json_input``, ``infer_and_parse_data``, ``dataframe_from_parsed_json``); an
unsupported content type or charset is status 415 (``invocations``; MLflow answers that one in
``text/plain``, we keep the JSON error shape so every error parses the same way).
"""

from __future__ import annotations

import asyncio
import io
import json
import math
import uuid
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from evergreen.errors import EvergreenError, InvalidInput, NotFound, Unavailable
from evergreen.flavors.base import Signature
from evergreen.serving.access_log import annotate
from evergreen.serving.errors import status_of
from evergreen.serving.gateway import Gateway, Route
from evergreen.serving.protocols.v2_rest import INLINE_PARSE_BYTES, answered_by

PROTOCOL = "mlflow"
CONTENT_TYPE_JSON = "application/json"
CONTENT_TYPE_CSV = "text/csv"
CONTENT_TYPE_PARQUET = "application/vnd.apache.parquet"
CONTENT_TYPES = (CONTENT_TYPE_JSON, CONTENT_TYPE_CSV, CONTENT_TYPE_PARQUET)
DF_SPLIT, DF_RECORDS, INSTANCES, INPUTS = (
    "dataframe_split",
    "dataframe_records",
    "instances",
    "inputs",
)
FORMATS = (DF_SPLIT, DF_RECORDS, INSTANCES, INPUTS)
REQUIRED_INPUT_FORMAT = (
    f"The input must be a JSON dictionary with exactly one of the input fields {list(FORMATS)}"
)
REQUEST_ID_HEADER = "X-Request-Id"
MAX_REQUEST_ID = 128
# MLflow's names for statuses (mlflow.exceptions.HTTP_STATUS_TO_ERROR_CODE and its error codes).
ERROR_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "ENDPOINT_NOT_FOUND",
    409: "RESOURCE_CONFLICT",
    413: "REQUEST_LIMIT_EXCEEDED",
    415: "BAD_REQUEST",
    503: "TEMPORARILY_UNAVAILABLE",
}


class UnsupportedMediaType(InvalidInput):
    """A body in a content type (or charset) the protocol does not read: status 415."""


def error_response(status: int, message: str) -> JSONResponse:
    """MLflow's error shape, as ``MlflowException.serialize_as_json`` writes it."""
    code = ERROR_CODES.get(status, "INTERNAL_ERROR")
    return JSONResponse({"error_code": code, "message": message}, status_code=status)


# -- parsing ----------------------------------------------------------------------------------
def media_type(content_type: str | None) -> str:
    """The body's media type; a missing content type is JSON. Raises ``UnsupportedMediaType``
    as MLflow does for a charset other than UTF-8, unknown parameters or another type."""
    if not content_type:
        return CONTENT_TYPE_JSON
    mime, *parameters = (part.strip() for part in content_type.split(";"))
    values = {key.lower(): value for key, _, value in (p.partition("=") for p in parameters if p)}
    if values.get("charset", "utf-8").strip('"').lower() != "utf-8":
        raise UnsupportedMediaType("the scoring server only reads UTF-8; send charset=utf-8")
    if unknown := sorted(set(values) - {"charset"}):
        raise UnsupportedMediaType(f"unrecognized content type parameters: {', '.join(unknown)}")
    mime = mime.lower()
    if mime not in CONTENT_TYPES:
        raise UnsupportedMediaType(
            f"this endpoint reads the content types {list(CONTENT_TYPES)}; got {content_type!r}"
        )
    return mime


def parse_body(body: bytes, mime: str, signature: Signature) -> pd.DataFrame:
    """The table a request carries, its columns named (not yet conformed to ``signature``)."""
    if mime == CONTENT_TYPE_CSV:
        return frame_from_csv(body, signature)
    if mime == CONTENT_TYPE_PARQUET:
        return frame_from_parquet(body)
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(
            f"Invalid input. Ensure that input is a valid JSON formatted string. Error: {exc}"
        ) from None
    return frame_from_json(payload, signature)


def frame_from_json(payload: Any, signature: Signature) -> pd.DataFrame:
    if not isinstance(payload, dict):
        raise InvalidInput(f"{REQUIRED_INPUT_FORMAT}. Received a JSON {_kind(payload)}.")
    present = [key for key in FORMATS if key in payload]
    if len(present) != 1:
        raise InvalidInput(
            f"{REQUIRED_INPUT_FORMAT}. Received dictionary with input fields: {list(payload)}"
        )
    params = payload.get("params")
    if params is not None and not isinstance(params, dict):
        raise InvalidInput(f"params must be a JSON object of names to values; got {_kind(params)}")
    key = present[0]
    value = payload[key]
    names = signature.input_names
    if key == DF_SPLIT:
        return _from_split(value, names)
    if key == DF_RECORDS:
        if not isinstance(value, list):
            raise InvalidInput(f"{DF_RECORDS} must be a list of records; got a {_kind(value)}")
        return _from_rows(value, DF_RECORDS, names, objects_only=True)
    if key == INPUTS and isinstance(value, dict):
        return _from_columns(value, names)
    if not isinstance(value, list):
        raise InvalidInput(f"{key} must be a list of rows; got a {_kind(value)}")
    return _from_rows(value, key, names)


def frame_from_csv(body: bytes, signature: Signature) -> pd.DataFrame:
    strings = {c.name: str for c in signature.inputs if c.dtype == "string"}
    try:
        return pd.read_csv(io.BytesIO(body), dtype=strings)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        # EmptyDataError is a ValueError
        raise InvalidInput(
            "the CSV body cannot be read as a table: "
            f"{exc}; send a header row, then one line per row, as DataFrame.to_csv(index=False) "
            "writes"
        ) from None


def frame_from_parquet(body: bytes) -> pd.DataFrame:
    try:
        return pd.read_parquet(io.BytesIO(body))
    except (ValueError, OSError, ImportError) as exc:
        raise InvalidInput(
            f"the Parquet body cannot be read as a table: {exc}; send DataFrame.to_parquet()'s "
            "bytes"
        ) from None


def check_columns(frame: pd.DataFrame, signature: Signature) -> None:
    """Refuse a table that lacks a column of the signature, naming what is missing and what
    came instead (extra columns alone are ignored, as MLflow does)."""
    names = signature.input_names
    got = [str(c) for c in frame.columns]
    present = set(got)
    missing = [n for n in names if n not in present]
    if missing:
        unexpected = [c for c in got if c not in names]
        instead = f"; got unexpected column(s) {', '.join(map(repr, unexpected))}" * bool(
            unexpected
        )
        raise InvalidInput(
            f"input is missing column(s) {', '.join(map(repr, missing))}{instead}; "
            f"the model expects {names}"
        )


def _from_split(value: Any, names: list[str]) -> pd.DataFrame:
    if not isinstance(value, dict):
        raise InvalidInput(f"{DF_SPLIT} must be a JSON object; got a {_kind(value)}")
    keys = set(value)
    if "data" not in keys or keys - {"columns", "data", "index"}:
        raise InvalidInput(
            f"{DF_SPLIT} must have a 'data' field and optionally 'columns' and 'index'; "
            f"got {sorted(keys)}"
        )
    columns = value.get("columns")
    if columns is None:
        columns = names
    elif not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise InvalidInput(f"{DF_SPLIT}.columns must be a list of column names")
    elif len(set(columns)) != len(columns):
        twice = sorted({c for c in columns if columns.count(c) > 1})
        raise InvalidInput(f"{DF_SPLIT}.columns names {', '.join(map(repr, twice))} twice")
    data = value["data"]
    if not isinstance(data, list) or not data:
        raise InvalidInput(f"{DF_SPLIT}.data must be a non-empty list of rows")
    index = value.get("index")
    if index is not None and (not isinstance(index, list) or len(index) != len(data)):
        size = len(index) if isinstance(index, list) else _kind(index)
        raise InvalidInput(
            f"{DF_SPLIT}.index must list one label per row: {len(data)} rows, index {size}"
        )
    for i, row in enumerate(data):
        if not isinstance(row, list) or len(row) != len(columns):
            size = f"{len(row)} values" if isinstance(row, list) else f"a {_kind(row)}"
            raise InvalidInput(
                f"{DF_SPLIT}.data[{i}] has {size}; each row needs {len(columns)}, one per column "
                f"of {columns}"
            )
    return pd.DataFrame(data, columns=columns)


def _from_rows(
    rows: list[Any], field: str, names: list[str], *, objects_only: bool = False
) -> pd.DataFrame:
    if not rows:
        raise InvalidInput(f"{field} holds no rows")
    first = rows[0]
    if isinstance(first, dict):
        required = set(names)
        for i, row in enumerate(rows):
            if not isinstance(row, dict):
                raise InvalidInput(f"{field}[{i}] is a {_kind(row)}; every row must be an object")
            if missing := required.difference(row):
                raise InvalidInput(
                    f"{field}[{i}] is missing column(s) {', '.join(map(repr, sorted(missing)))}; "
                    f"got {sorted(row)}, the model expects {names}"
                )
        return pd.DataFrame(rows)
    if objects_only:
        raise InvalidInput(f"{field}[0] is a {_kind(first)}; every record must be an object")
    if not isinstance(first, list):
        if len(names) != 1:
            raise InvalidInput(
                f"{field} holds single values, but the model takes {len(names)} columns "
                f"({names}); send one list or object per row"
            )
        rows = [[v] for v in rows]
    for i, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != len(names):
            size = f"{len(row)} values" if isinstance(row, list) else f"a {_kind(row)}"
            raise InvalidInput(
                f"{field}[{i}] has {size}; each row needs {len(names)}, in the order {names}"
            )
    return pd.DataFrame(rows, columns=names)


def _from_columns(columns: dict[str, Any], names: list[str]) -> pd.DataFrame:
    if not columns:
        raise InvalidInput(f"{INPUTS} holds no columns; the model expects {names}")
    lists = {k: v for k, v in columns.items() if isinstance(v, list)}
    if not lists:  # one row given as {"column": value, ...}
        return pd.DataFrame({k: [v] for k, v in columns.items()})
    if len(lists) != len(columns):
        scalar = next(k for k in columns if k not in lists)
        raise InvalidInput(
            f"{INPUTS}[{scalar!r}] is a single value while other columns are lists; "
            "send a list of values for every column"
        )
    first, size = next((k, len(v)) for k, v in lists.items())
    for key, values in lists.items():
        if len(values) != size:
            raise InvalidInput(
                f"{INPUTS}[{key!r}] has {len(values)} values where {INPUTS}[{first!r}] has {size}"
            )
    return pd.DataFrame(lists)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "object", list: "list", str: "string", bool: "boolean"}.get(
        type(value), "number" if isinstance(value, int | float) else type(value).__name__
    )


def predictions(outputs: np.ndarray) -> list[Any]:
    """Outputs as JSON values: numbers, strings, None for a non-finite float."""
    array = np.asarray(outputs)
    if array.dtype.kind in "biu":
        values: list[Any] = array.tolist()
        return values
    return [_jsonable(v) for v in array.tolist()]


def _jsonable(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if value is None or isinstance(value, bool | int | str):
        return value
    return str(value)


def request_id_of(headers: Mapping[str, str]) -> str:
    given = headers.get(REQUEST_ID_HEADER)
    if given and len(given) <= MAX_REQUEST_ID:
        return given
    return uuid.uuid4().hex


# -- the router -------------------------------------------------------------------------------
def default_endpoint(gateway: Gateway, configured: str | None) -> str:
    """The endpoint ``/invocations`` answers for: the configured one, else the only one."""
    if configured:
        return configured
    if not gateway.ready:
        raise Unavailable("the gateway is still loading its models; retry in a moment")
    names = sorted(gateway.cache.endpoints)
    if len(names) == 1:
        return names[0]
    if not names:
        raise NotFound(
            "no endpoint is served here, so /invocations has nothing to answer with; promote a "
            "model version to production or set an endpoint policy"
        )
    raise InvalidInput(
        f"this gateway serves {len(names)} endpoints ({', '.join(names)}), so /invocations "
        "does not know which one to use; post to /endpoints/{name}/invocations, or start the "
        "gateway with --default-endpoint NAME"
    )


def mlflow_router(gateway: Gateway, server_version: str, default: str | None) -> APIRouter:
    router = APIRouter(tags=["mlflow"])

    @router.get("/ping", include_in_schema=False)
    @router.get("/health", include_in_schema=False)
    async def ping() -> Response:
        # MLflow answers 200 with a newline; evergreen is healthy once its models are loaded.
        status = 200 if gateway.ready else 503
        return Response("\n", status_code=status, media_type=CONTENT_TYPE_JSON)

    @router.get("/version", include_in_schema=False)
    async def version() -> Response:
        return Response(server_version, media_type="text/plain")

    @router.post("/invocations")
    async def invocations(request: Request) -> Response:
        return await _invoke(request, None)

    @router.post("/endpoints/{name}/invocations")
    async def endpoint_invocations(name: str, request: Request) -> Response:
        return await _invoke(request, name)

    async def _invoke(request: Request, name: str | None) -> Response:
        request_id = request_id_of(request.headers)
        route: Route | None = None
        try:
            mime = media_type(request.headers.get("content-type"))
            body = await request.body()
            endpoint = name or default_endpoint(gateway, default)
            annotate(request.scope, endpoint=endpoint, request_id=request_id)
            route = await gateway.route(endpoint, headers=request.headers)
            annotate(request.scope, variant=route.variant, version=str(route.model.version))
            frame = await _parse(route, body, mime)
            outputs = await gateway.predict(route, frame, request_id, protocol=PROTOCOL)
        except EvergreenError as exc:
            status = 415 if isinstance(exc, UnsupportedMediaType) else status_of(exc)
            return _refused(status, str(exc), route, request_id)
        except HTTPException as exc:  # the body limit, while reading the body
            response = _refused(exc.status_code, str(exc.detail), route, request_id)
            response.headers.update(exc.headers or {})
            return response
        headers = {**answered_by(route), REQUEST_ID_HEADER: request_id}
        return JSONResponse({"predictions": predictions(outputs)}, headers=headers)

    async def _parse(route: Route, body: bytes, mime: str) -> pd.DataFrame:
        try:
            if len(body) <= INLINE_PARSE_BYTES:
                frame = parse_body(body, mime, route.model.signature)
            else:
                frame = await asyncio.to_thread(parse_body, body, mime, route.model.signature)
            check_columns(frame, route.model.signature)
        except InvalidInput as exc:  # counted here; predict counts what it refuses itself
            status = 415 if isinstance(exc, UnsupportedMediaType) else 400
            gateway.count_error(route, PROTOCOL, status)
            raise
        return frame

    return router


def _refused(status: int, message: str, route: Route | None, request_id: str) -> JSONResponse:
    response = error_response(status, message)
    response.headers[REQUEST_ID_HEADER] = request_id
    if route is not None:  # the version that refused the request still answers
        response.headers.update(answered_by(route))
    return response
