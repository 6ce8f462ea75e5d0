"""The Open Inference Protocol V2 over gRPC: ``inference.GRPCInferenceService`` (ServerLive,
ServerReady, ModelReady, ServerMetadata, ModelMetadata, ModelInfer) on the gateway's event loop,
sharing its ``Gateway`` (routing, batchers, model cache) with the REST protocols.

``ModelInfer`` takes ``raw_input_contents`` (what Triton's client sends) or typed ``contents``
and answers with ``raw_output_contents``; ``model_version`` names the version that answered and
the initial metadata ``x-evergreen-variant`` the variant. Errors are gRPC status codes:
INVALID_ARGUMENT, NOT_FOUND, UNAVAILABLE, UNAUTHENTICATED (a wrong or missing inference token).

grpcio is an optional extra, imported only when a server is made.
"""

from __future__ import annotations

import asyncio
import hmac
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from functools import wraps
from types import ModuleType
from typing import Any, TypeVar

import numpy as np

from evergreen.errors import (
    AlreadyExists,
    EvergreenError,
    InvalidInput,
    InvalidState,
    NotFound,
    Unavailable,
)
from evergreen.serving.gateway import Gateway
from evergreen.serving.protocols import v2, v2_binary

VARIANT_KEY = "x-evergreen-variant"
VERSION_KEY = "x-model-version"
# Requests whose raw data is larger than this are parsed in a worker thread.
INLINE_PARSE_BYTES = 64 * 1024

# Error kinds -> gRPC status code names, most specific first.
_CODES: list[tuple[type[EvergreenError], str]] = [
    (InvalidInput, "INVALID_ARGUMENT"),
    (NotFound, "NOT_FOUND"),
    (AlreadyExists, "ALREADY_EXISTS"),
    (InvalidState, "FAILED_PRECONDITION"),
    (Unavailable, "UNAVAILABLE"),
]

# V2 datatype -> the InferTensorContents field that carries it (FP16 travels raw only).
_CONTENTS: dict[str, str] = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}


def _modules() -> tuple[ModuleType, ModuleType, ModuleType]:
    """grpc and the generated stubs, or one line saying what to install."""
    try:
        import grpc

        from evergreen.serving.protocols.grpc_stubs import (
            grpc_predict_v2_pb2,
            grpc_predict_v2_pb2_grpc,
        )
    except (ImportError, RuntimeError) as exc:
        raise Unavailable(
            f"serving gRPC needs grpcio and protobuf: pip install 'evergreen[grpc]' ({exc})"
        ) from None
    return grpc, grpc_predict_v2_pb2, grpc_predict_v2_pb2_grpc


def check_installed() -> None:
    """Raise ``Unavailable`` (saying what to install) unless grpcio and protobuf import."""
    _modules()


class GrpcServer:
    """The V2 gRPC service of one gateway, listening on ``host:port`` (0 picks a free port)."""

    def __init__(
        self,
        gateway: Gateway,
        server_name: str,
        server_version: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
        max_message_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.grpc, self.pb2, self.pb2_grpc = _modules()
        self.gateway = gateway
        self.host = host
        self.port = port
        self.server_name = server_name
        self.server_version = server_version
        self.token = token
        self.max_message_bytes = max_message_bytes
        self._server: Any = None

    async def start(self) -> int:
        """Start serving on the running event loop; returns the port it listens on."""
        options = [
            ("grpc.max_receive_message_length", self.max_message_bytes),
            ("grpc.max_send_message_length", self.max_message_bytes),
        ]
        server = self.grpc.aio.server(options=options)
        self.pb2_grpc.add_GRPCInferenceServiceServicer_to_server(_Servicer(self), server)
        address = f"{self.host}:{self.port}"
        try:
            port: int = server.add_insecure_port(address)
        except RuntimeError as exc:
            raise Unavailable(f"cannot listen for gRPC on {address}: {exc}") from None
        if port == 0:
            raise Unavailable(f"cannot listen for gRPC on {address}; is the port in use?")
        await server.start()
        self._server = server
        self.port = port
        return port

    async def stop(self, grace: float = 5.0) -> None:
        """Stop taking calls; calls in flight get ``grace`` seconds to finish."""
        if self._server is not None:
            await self._server.stop(grace)
            self._server = None


Handler = TypeVar("Handler", bound=Callable[..., Awaitable[Any]])


def _answers(method: Handler) -> Handler:
    """Turn evergreen errors into gRPC status codes, the message as the details; count the
    call in the gateway's requests in flight."""

    @wraps(method)
    async def wrapper(self: _Servicer, request: Any, context: Any) -> Any:
        in_flight = self.gateway.in_flight  # gRPC calls count as requests in flight too
        if in_flight is not None:
            in_flight.count += 1
        try:
            return await method(self, request, context)
        except EvergreenError as exc:
            code = next((c for kind, c in _CODES if isinstance(exc, kind)), "INTERNAL")
            await context.abort(getattr(self.grpc.StatusCode, code), str(exc))
        finally:
            if in_flight is not None:
                in_flight.count -= 1

    return wrapper  # type: ignore[return-value]


class _Servicer:
    """The service's methods (grpc.aio calls them with the request and its context)."""

    def __init__(self, server: GrpcServer) -> None:
        self.server = server
        self.gateway = server.gateway
        self.grpc = server.grpc
        self.pb2 = server.pb2

    async def _authorize(self, context: Any) -> None:
        token = self.server.token
        if token is None:
            return
        given = _Metadata(context.invocation_metadata()).get("authorization", "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.encode(), token.encode()):
            await context.abort(
                self.grpc.StatusCode.UNAUTHENTICATED,
                "inference needs the metadata 'authorization: Bearer <token>'",
            )

    async def ServerLive(self, request: Any, context: Any) -> Any:
        return self.pb2.ServerLiveResponse(live=True)

    async def ServerReady(self, request: Any, context: Any) -> Any:
        return self.pb2.ServerReadyResponse(ready=self.gateway.ready)

    @_answers
    async def ServerMetadata(self, request: Any, context: Any) -> Any:
        await self._authorize(context)
        return self.pb2.ServerMetadataResponse(
            name=self.server.server_name, version=self.server.server_version, extensions=[]
        )

    @_answers
    async def ModelReady(self, request: Any, context: Any) -> Any:
        await self._authorize(context)
        number = _version(request.version)
        if number is None:
            await self.gateway.route(request.name)
            return self.pb2.ModelReadyResponse(ready=True)
        cache = self.gateway.cache
        loaded = cache.is_loaded(request.name, number)
        if not loaded:
            await asyncio.to_thread(cache.registry.get_version, request.name, number)  # NOT_FOUND
        return self.pb2.ModelReadyResponse(ready=loaded)

    @_answers
    async def ModelMetadata(self, request: Any, context: Any) -> Any:
        await self._authorize(context)
        route = await self.gateway.route(request.name, _version(request.version))
        metadata = v2.model_metadata(route.model, request.name)
        response = self.pb2.ModelMetadataResponse(
            name=metadata["name"], versions=metadata["versions"], platform=metadata["platform"]
        )
        for tensor in metadata["inputs"]:
            response.inputs.add(**tensor)
        for tensor in metadata["outputs"]:
            response.outputs.add(**tensor)
        return response

    @_answers
    async def ModelInfer(self, request: Any, context: Any) -> Any:
        await self._authorize(context)
        headers = _Metadata(context.invocation_metadata())
        route = await self.gateway.route(
            request.model_name, _version(request.model_version), headers=headers
        )
        await context.send_initial_metadata(
            ((VARIANT_KEY, route.variant), (VERSION_KEY, str(route.model.version)))
        )
        signature = route.model.signature
        if sum(len(raw) for raw in request.raw_input_contents) <= INLINE_PARSE_BYTES:
            frame = _frame(request, signature)
        else:
            frame = await asyncio.to_thread(_frame, request, signature)
        _check_outputs(request, v2.output_name(signature))
        request_id = request.id or uuid.uuid4().hex
        outputs = np.asarray(
            await self.gateway.predict(route, frame, request_id, protocol="v2-grpc")
        )
        datatype = v2.datatype_of(outputs)
        response = self.pb2.ModelInferResponse(
            model_name=route.endpoint, model_version=str(route.model.version), id=request_id
        )
        response.outputs.add(
            name=v2.output_name(signature), datatype=datatype, shape=list(outputs.shape)
        )
        response.raw_output_contents.append(v2_binary.to_raw(outputs, datatype))
        return response


def _version(text: str) -> int | None:
    if not text:
        return None
    if not text.isdigit():
        raise NotFound(f"version {text!r} is not a version number")
    return int(text)


def _frame(request: Any, signature: Any) -> Any:
    raw = list(request.raw_input_contents)
    if raw and len(raw) != len(request.inputs):
        raise InvalidInput(
            f"raw_input_contents has {len(raw)} entries but the request has "
            f"{len(request.inputs)} inputs; send one per input, in input order"
        )
    if not request.inputs:
        raise InvalidInput("the request has no inputs; send one tensor per input column")
    tensors = []
    for index, tensor in enumerate(request.inputs):
        name = tensor.name or f"inputs[{index}]"
        datatype = tensor.datatype
        if datatype not in v2.DATATYPES:
            raise InvalidInput(
                f"tensor {name!r}: unknown datatype {datatype!r}; "
                f"use one of {', '.join(v2.DATATYPES)}"
            )
        shape = tuple(int(d) for d in tensor.shape)
        if not shape or any(d < 0 for d in shape):
            raise InvalidInput(
                f"tensor {name!r}: 'shape' must be non-negative integers, got {list(shape)}"
            )
        if raw:
            values = v2_binary.from_raw(name, datatype, shape, raw[index])
        else:
            values = _from_contents(name, datatype, tensor.contents)
        tensors.append(v2.make_tensor(name, datatype, shape, values))
    return v2.frame_from_tensors(tensors, signature)


def _from_contents(name: str, datatype: str, contents: Any) -> np.ndarray:
    """A tensor's values from its typed contents (range-checked for the narrow integers)."""
    field = _CONTENTS.get(datatype)
    if field is None:
        raise InvalidInput(f"tensor {name!r}: {datatype} has no typed contents; send it raw")
    values = list(getattr(contents, field))
    if datatype == "BYTES":
        try:
            return np.array([v.decode() for v in values], dtype=object)
        except UnicodeDecodeError:
            raise InvalidInput(f"tensor {name!r}: BYTES elements must be UTF-8 text") from None
    dtype = v2.DATATYPES[datatype][0]
    array = np.asarray(values)
    if array.size and dtype.kind in "iu":
        info = np.iinfo(dtype)
        if array.min() < info.min or array.max() > info.max:
            raise InvalidInput(
                f"tensor {name!r}: values outside the range of {datatype} [{info.min}, {info.max}]"
            )
    return array.astype(dtype)


def _check_outputs(request: Any, name: str) -> None:
    for output in request.outputs:
        if output.name != name:
            raise InvalidInput(f"unknown output tensor {output.name!r}; the model returns {name!r}")


class _Metadata(Mapping[str, str]):
    """gRPC metadata as a case-insensitive mapping (gRPC keys are lower case; policies name
    headers like ``X-User``); binary (``-bin``) entries are left out."""

    def __init__(self, pairs: Iterable[tuple[str, Any]] | None) -> None:
        self._items = {k.lower(): v for k, v in pairs or () if isinstance(v, str)}

    def __getitem__(self, key: str) -> str:
        return self._items[key.lower()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)
