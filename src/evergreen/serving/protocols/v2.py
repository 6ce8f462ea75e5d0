"""The Open Inference Protocol (KServe V2): requests to frames, results to responses.

A request carries either one tensor per input column (named after the signature's inputs, each
of shape ``[N]`` or ``[N, 1]``) or a single 2-D tensor of shape ``[N, n_features]`` whose columns
map to the signature's inputs in order. JSON requests give each tensor's ``data`` (flat or
nested) or, with the binary tensor data extension, its raw bytes; gRPC builds the same
``Tensor``s from its contents and shares ``frame_from_tensors``. Every problem raises
``InvalidInput`` naming the tensor or field at fault.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from evergreen.errors import InvalidInput
from evergreen.flavors.base import DType, LoadedModel, Signature
from evergreen.serving.protocols import v2_binary

# V2 datatype -> numpy dtype, and the array kinds whose values a tensor of that type may hold.
DATATYPES: dict[str, tuple[np.dtype[Any], str]] = {
    "BOOL": (np.dtype(np.bool_), "b"),
    "INT8": (np.dtype(np.int8), "iu"),
    "INT16": (np.dtype(np.int16), "iu"),
    "INT32": (np.dtype(np.int32), "iu"),
    "INT64": (np.dtype(np.int64), "iu"),
    "UINT8": (np.dtype(np.uint8), "iu"),
    "UINT16": (np.dtype(np.uint16), "iu"),
    "UINT32": (np.dtype(np.uint32), "iu"),
    "UINT64": (np.dtype(np.uint64), "iu"),
    "FP16": (np.dtype(np.float16), "iuf"),
    "FP32": (np.dtype(np.float32), "iuf"),
    "FP64": (np.dtype(np.float64), "iuf"),
    "BYTES": (np.dtype(object), "U"),
}

_SIGNATURE_DATATYPES: dict[DType, str] = {
    "float64": "FP64",
    "int64": "INT64",
    "bool": "BOOL",
    "string": "BYTES",
}


# Protocol extensions this server implements (``GET /v2`` lists them).
EXTENSIONS: list[str] = [v2_binary.EXTENSION]


@dataclass(frozen=True)
class InferRequest:
    """A parsed request: its id (given or generated), the input rows (one column per input) and
    whether the output is asked for as binary data."""

    id: str
    frame: pd.DataFrame
    binary_output: bool = False


@dataclass(frozen=True)
class Tensor:
    """One input tensor: its name, datatype, shape and values (already in that shape)."""

    name: str
    datatype: str
    shape: tuple[int, ...]
    values: np.ndarray


def parse_infer_request(body: Any, signature: Signature, binary: bytes = b"") -> InferRequest:
    """The request's id and its inputs as a frame with the signature's columns, in order.

    ``binary`` is the body's tail after the JSON header (the binary tensor data extension): the
    raw data of every input whose ``parameters`` name a ``binary_data_size``, in input order.
    """
    if not isinstance(body, dict):
        raise InvalidInput("the request body must be a JSON object with an 'inputs' list")
    request_id = body.get("id")
    if request_id is None or request_id == "":
        request_id = uuid.uuid4().hex
    elif not isinstance(request_id, str):
        raise InvalidInput("field 'id' must be a string when given")
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise InvalidInput("field 'inputs' must be a non-empty list of tensors")
    reader = _BinaryReader(binary)
    tensors = [_tensor(index, raw, reader) for index, raw in enumerate(inputs)]
    reader.finish()
    frame = frame_from_tensors(tensors, signature)
    binary_output = _binary_output(body, output_name(signature))
    return InferRequest(request_id, frame, binary_output)


def frame_from_tensors(tensors: list[Tensor], signature: Signature) -> pd.DataFrame:
    """The rows the tensors carry: one tensor per input column, or one 2-D tensor whose
    columns are the signature's inputs in order."""
    names = signature.input_names
    if len(tensors) == 1 and len(tensors[0].shape) == 2 and tensors[0].name not in names:
        return _from_matrix(tensors[0], signature.input_index)
    return _from_columns(tensors, names)


def output_name(signature: Signature) -> str:
    return signature.output.name or "predict"


class _BinaryReader:
    """Hands out the binary tail of a request, tensor by tensor."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.offset = 0

    def take(self, name: str, size: Any) -> bytes:
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise InvalidInput(
                f"tensor {name!r}: parameter 'binary_data_size' must be a byte count, got {size!r}"
            )
        left = len(self.data) - self.offset
        if size > left:
            raise InvalidInput(
                f"tensor {name!r}: binary_data_size is {size} but only {left} bytes of binary "
                f"data are left (check the {v2_binary.HEADER_LENGTH} header)"
            )
        chunk = self.data[self.offset : self.offset + size]
        self.offset += size
        return chunk

    def finish(self) -> None:
        left = len(self.data) - self.offset
        if left:
            raise InvalidInput(
                f"{left} bytes of binary data follow the last tensor that names a "
                "binary_data_size; check the inputs' sizes and the "
                f"{v2_binary.HEADER_LENGTH} header"
            )


def _tensor(index: int, raw: Any, reader: _BinaryReader) -> Tensor:
    if not isinstance(raw, dict):
        raise InvalidInput(f"inputs[{index}] must be an object with name, shape, datatype, data")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidInput(f"inputs[{index}].name must be a non-empty string")
    shape = raw.get("shape")
    if (
        not isinstance(shape, list)
        or not shape
        or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
    ):
        raise InvalidInput(
            f"tensor {name!r}: 'shape' must be a list of non-negative integers, got {shape!r}"
        )
    datatype = raw.get("datatype")
    if datatype not in DATATYPES:
        raise InvalidInput(
            f"tensor {name!r}: unknown datatype {datatype!r}; use one of {', '.join(DATATYPES)}"
        )
    parameters = raw.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise InvalidInput(f"tensor {name!r}: 'parameters' must be an object")
    if "binary_data_size" in parameters:
        data = reader.take(name, parameters["binary_data_size"])
        values = v2_binary.from_raw(name, datatype, tuple(shape), data)
    elif "data" in raw:
        values = _values(name, datatype, raw["data"])
    else:
        raise InvalidInput(
            f"tensor {name!r}: field 'data' is missing (or send binary data and "
            "'parameters': {'binary_data_size': <bytes>})"
        )
    return make_tensor(name, datatype, tuple(shape), values)


def make_tensor(name: str, datatype: str, shape: tuple[int, ...], values: np.ndarray) -> Tensor:
    """A tensor from its flat values, checking that they fill ``shape``."""
    expected = math.prod(shape)
    if values.size != expected:
        raise InvalidInput(
            f"tensor {name!r}: shape {list(shape)} holds {expected} values but its data has "
            f"{values.size}"
        )
    if not shape or shape[0] == 0:
        raise InvalidInput(f"tensor {name!r}: send at least one row")
    return Tensor(name, datatype, shape, values.reshape(shape))


def _binary_output(body: dict[str, Any], name: str) -> bool:
    """Whether the request asks for its output as binary data; refuses unknown outputs."""
    parameters = body.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise InvalidInput("field 'parameters' must be an object")
    binary = parameters.get("binary_data_output", False) is True
    outputs = body.get("outputs")
    if outputs is None:
        return binary
    if not isinstance(outputs, list):
        raise InvalidInput("field 'outputs' must be a list of {'name': ...} objects")
    for index, output in enumerate(outputs):
        if not isinstance(output, dict) or not isinstance(output.get("name"), str):
            raise InvalidInput(f"outputs[{index}] must be an object with a 'name'")
        if output["name"] != name:
            raise InvalidInput(
                f"unknown output tensor {output['name']!r}; the model returns {name!r}"
            )
        asked = (output.get("parameters") or {}).get("binary_data")
        if isinstance(asked, bool):
            binary = asked
    return binary


def _values(name: str, datatype: str, data: Any) -> np.ndarray:
    """The tensor's data, flattened, as an array of the datatype's numpy type."""
    dtype, kinds = DATATYPES[datatype]
    if not isinstance(data, list):
        raise InvalidInput(f"tensor {name!r}: 'data' must be a (flat or nested) list")
    try:
        array = np.asarray(data)
    except (ValueError, TypeError, OverflowError):
        raise InvalidInput(
            f"tensor {name!r}: 'data' is ragged or holds values that do not fit {datatype}"
        ) from None
    flat = array.ravel()
    if flat.size == 0:
        return flat.astype(dtype)
    if datatype.startswith("FP") and flat.dtype.kind == "O":
        flat = _floats_with_nulls(name, datatype, flat)
    if flat.dtype.kind not in kinds:
        raise InvalidInput(
            f"tensor {name!r}: datatype {datatype} cannot hold values like {flat[:1].tolist()[0]!r}"
        )
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        if flat.min() < info.min or flat.max() > info.max:
            raise InvalidInput(
                f"tensor {name!r}: values outside the range of {datatype} [{info.min}, {info.max}]"
            )
    if datatype == "BYTES":
        return flat.astype(object)
    return flat.astype(dtype)


def _floats_with_nulls(name: str, datatype: str, flat: np.ndarray) -> np.ndarray:
    """Floating-point data where JSON ``null`` stands for a missing value (NaN)."""
    if not all(v is None or (isinstance(v, int | float) and not isinstance(v, bool)) for v in flat):
        raise InvalidInput(f"tensor {name!r}: datatype {datatype} holds numbers or null only")
    return np.array([np.nan if v is None else v for v in flat], dtype=np.float64)


def _from_columns(tensors: list[Tensor], names: list[str]) -> pd.DataFrame:
    columns: dict[str, np.ndarray] = {}
    first = tensors[0]
    for tensor in tensors:
        if tensor.name not in names:
            raise InvalidInput(f"unknown input tensor {tensor.name!r}; the model expects {names}")
        if tensor.name in columns:
            raise InvalidInput(f"input tensor {tensor.name!r} is given more than once")
        if len(tensor.shape) > 2 or (len(tensor.shape) == 2 and tensor.shape[1] != 1):
            raise InvalidInput(
                f"tensor {tensor.name!r}: shape {list(tensor.shape)} is not [N] or [N, 1]"
            )
        if tensor.shape[0] != first.shape[0]:
            raise InvalidInput(
                f"tensor {tensor.name!r} has {tensor.shape[0]} rows "
                f"but tensor {first.name!r} has {first.shape[0]}"
            )
        columns[tensor.name] = tensor.values.reshape(-1)
    missing = [n for n in names if n not in columns]
    if missing:
        raise InvalidInput(f"input tensor(s) {', '.join(map(repr, missing))} missing")
    return pd.DataFrame({n: columns[n] for n in names})


def _from_matrix(tensor: Tensor, names: pd.Index) -> pd.DataFrame:
    """The tensor's columns named ``names`` (the signature's own ``Index``, so that the frame
    conforms at the cost of an identity check)."""
    if tensor.shape[1] != len(names):
        raise InvalidInput(
            f"tensor {tensor.name!r}: shape {list(tensor.shape)} has {tensor.shape[1]} columns "
            f"but the model expects {len(names)} ({', '.join(names)})"
        )
    if tensor.values.dtype.kind in "biuf":  # one block: much cheaper than column by column
        return pd.DataFrame(tensor.values, columns=names)
    return pd.DataFrame({n: tensor.values[:, i] for i, n in enumerate(names)})


def infer_response(
    model: LoadedModel, request_id: str, outputs: np.ndarray, *, model_name: str | None = None
) -> dict[str, Any]:
    """The V2 response body for a model's predictions (``model_name``: the endpoint asked)."""
    array = np.asarray(outputs)
    body = _response_head(model, request_id, array, model_name)
    body["outputs"][0]["data"] = _json_values(array)
    return body


def binary_infer_response(
    model: LoadedModel, request_id: str, outputs: np.ndarray, *, model_name: str | None = None
) -> tuple[dict[str, Any], bytes]:
    """The JSON header and the binary tail of a response with binary output data."""
    array = np.asarray(outputs)
    body = _response_head(model, request_id, array, model_name)
    output = body["outputs"][0]
    raw = v2_binary.to_raw(array, output["datatype"])
    output["parameters"] = {"binary_data_size": len(raw)}
    return body, raw


def _response_head(
    model: LoadedModel, request_id: str, array: np.ndarray, model_name: str | None
) -> dict[str, Any]:
    return {
        "model_name": model_name or model.name,
        "model_version": str(model.version),
        "id": request_id,
        "outputs": [
            {
                "name": output_name(model.signature),
                "datatype": datatype_of(array),
                "shape": list(array.shape),
            }
        ],
    }


def datatype_of(array: np.ndarray) -> str:
    """The V2 datatype of a numpy array (strings and objects are BYTES)."""
    kind = array.dtype.kind
    if kind == "b":
        return "BOOL"
    if kind in "iuf":
        prefix = {"i": "INT", "u": "UINT", "f": "FP"}[kind]
        return f"{prefix}{array.dtype.itemsize * 8}"
    return "BYTES"


def _json_values(array: np.ndarray) -> list[Any]:
    flat = array.ravel()
    if flat.dtype.kind == "f" and not np.isfinite(flat).all():
        return [v if math.isfinite(v) else None for v in flat.tolist()]
    if flat.dtype.kind in "biuf":
        values: list[Any] = flat.tolist()
        return values
    return [v.decode() if isinstance(v, bytes) else str(v) for v in flat.tolist()]


def model_metadata(model: LoadedModel, name: str | None = None) -> dict[str, Any]:
    """The V2 model metadata of the version being served (``name``: the endpoint asked)."""
    signature = model.signature
    return {
        "name": name or model.name,
        "versions": [str(model.version)],
        "platform": f"evergreen-{model.flavor.name}",
        "inputs": [
            {"name": c.name, "datatype": _SIGNATURE_DATATYPES[c.dtype], "shape": [-1]}
            for c in signature.inputs
        ],
        "outputs": [
            {
                "name": output_name(signature),
                "datatype": _SIGNATURE_DATATYPES[signature.output.dtype],
                "shape": [-1],
            }
        ],
    }
