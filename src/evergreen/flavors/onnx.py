"""Models that are ONNX graphs (imported with ``evergreen models import NAME FILE.onnx
--flavor onnx``): the bytes are the model, loading opens an onnxruntime session on the CPU.

A graph takes either one input per column (named after it) or one [N, k] float matrix of the
signature's columns in order; ``onnx_runtime.Graph.feeds`` handles both. The prediction is the first
output (a classifier's labels, as skl2onnx and onnxmltools order them).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import onnxruntime
import pandas as pd

from evergreen.errors import InvalidInput
from evergreen.flavors import onnx_runtime
from evergreen.flavors.base import ColumnSpec, DType, Flavor, OnnxExport, Signature, Task

# onnxruntime's element types to signature types.
DTYPES: dict[str, DType] = {
    "tensor(float)": "float64",
    "tensor(double)": "float64",
    "tensor(float16)": "float64",
    "tensor(int64)": "int64",
    "tensor(int32)": "int64",
    "tensor(int8)": "int64",
    "tensor(uint8)": "int64",
    "tensor(bool)": "bool",
    "tensor(string)": "string",
}
# Metadata keys under which a graph with one matrix input may name its columns (a JSON list or
# comma-separated names).
COLUMN_KEYS = ("columns", "feature_names", "input_columns")


class OnnxModel:
    """An ONNX graph ready to run: its bytes and an onnxruntime session."""

    def __init__(self, data: bytes) -> None:
        try:
            self.session = onnx_runtime.session(data)
        except Exception as exc:  # onnxruntime's own error types for unreadable graphs
            raise InvalidInput(f"not a readable ONNX model: {onnx_runtime.short(exc)}") from None
        self.graph = onnx_runtime.Graph(self.session)
        self.data = data

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """The first output on ``frame``, whose columns are the signature's, in order."""
        try:
            return self.graph.run(frame, list(frame.columns))
        except ValueError as exc:
            raise InvalidInput(f"cannot feed the ONNX model: {exc}") from None


class OnnxFlavor(Flavor):
    name = "onnx"

    def owns(self, model: Any) -> bool:
        return isinstance(model, OnnxModel) or type(model).__name__ == "ModelProto"

    def save(self, model: Any) -> bytes:
        if isinstance(model, OnnxModel):
            return model.data
        if isinstance(model, bytes):
            return model
        if type(model).__name__ == "ModelProto":
            data: bytes = model.SerializeToString()
            return data
        raise InvalidInput(f"the onnx flavor saves ONNX models, not {type(model).__name__}")

    def load(self, data: bytes) -> OnnxModel:
        return OnnxModel(data)

    def params(self, model: Any) -> dict[str, Any]:
        meta = _model(model).session.get_modelmeta()
        return {"producer": meta.producer_name, "graph": meta.graph_name, "version": meta.version}

    def export_onnx(self, model: Any, signature: Signature, sample: pd.DataFrame) -> OnnxExport:
        return OnnxExport(_model(model).data, "the model is an ONNX graph already")


def infer_signature(model: OnnxModel, task: Task | None = None) -> Signature:
    """The signature a graph states: its per-column inputs, or its one matrix input with column
    names from its metadata; InvalidInput when it names no columns."""
    inputs = model.session.get_inputs()
    if model.graph.per_column:
        columns = [ColumnSpec(name=i.name, dtype=_dtype(i.type, i.name)) for i in inputs]
    elif len(inputs) == 1:
        columns = [ColumnSpec(name=n, dtype="float64") for n in _named_columns(model, inputs[0])]
    else:
        names = [i.name for i in inputs]
        raise InvalidInput(
            f"the ONNX model's inputs {names} are neither one per column nor one matrix; "
            "pass --signature FILE"
        )
    output = model.session.get_outputs()[0]
    dtype = _dtype(output.type, output.name)
    if task is None:
        task = "regression" if dtype == "float64" else "classification"
    if task == "regression":
        dtype = "float64"
    return Signature(inputs=columns, output=ColumnSpec(name="prediction", dtype=dtype), task=task)


def _named_columns(model: OnnxModel, matrix: onnxruntime.NodeArg) -> list[str]:
    metadata = model.session.get_modelmeta().custom_metadata_map
    found = next((metadata[k] for k in COLUMN_KEYS if k in metadata), None)
    width = matrix.shape[1] if len(matrix.shape) == 2 else None
    if found is None:
        raise InvalidInput(
            f"the ONNX model takes one matrix input {matrix.name!r} of shape {matrix.shape} and "
            "does not name its columns; pass --signature FILE"
        )
    try:
        names = json.loads(found)
    except json.JSONDecodeError:
        names = [n.strip() for n in found.split(",")]
    if not isinstance(names, list) or (isinstance(width, int) and len(names) != width):
        raise InvalidInput(
            f"the ONNX model's metadata names {found!r} as columns, which does not fit its input "
            f"of shape {matrix.shape}; pass --signature FILE"
        )
    return [str(n) for n in names]


def _dtype(onnx_type: str, name: str) -> DType:
    try:
        return DTYPES[onnx_type]
    except KeyError:
        raise InvalidInput(
            f"the ONNX model's {name!r} is a {onnx_type}, which evergreen cannot map to a "
            "column; pass --signature FILE"
        ) from None


def _model(model: Any) -> OnnxModel:
    return model if isinstance(model, OnnxModel) else OnnxModel(OnnxFlavor().save(model))
