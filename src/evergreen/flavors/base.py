"""What every flavor shares: a model's signature and the save/load contract.

Training saves through a flavor and the gateway loads through it; neither imports the other.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from evergreen.errors import InvalidInput

DType = Literal["float64", "int64", "bool", "string"]
Task = Literal["classification", "regression"]


def dtype_of(series: pd.Series) -> DType:
    if pd.api.types.is_bool_dtype(series):
        return "bool"
    if pd.api.types.is_integer_dtype(series):
        return "int64"
    if pd.api.types.is_numeric_dtype(series):
        return "float64"
    return "string"


_NUMPY_DTYPES: dict[str, np.dtype[Any]] = {
    "float64": np.dtype(np.float64),
    "int64": np.dtype(np.int64),
    "bool": np.dtype(np.bool_),
}


class ColumnSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str
    dtype: DType


class Signature(BaseModel):
    """The columns a model takes, in order, and what it returns."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    inputs: list[ColumnSpec]
    output: ColumnSpec
    task: Task

    @classmethod
    def infer(cls, features: pd.DataFrame, target: pd.Series, task: Task) -> Signature:
        inputs = [ColumnSpec(name=str(c), dtype=dtype_of(features[c])) for c in features.columns]
        # A regressor predicts floats whatever the target's type; a classifier, labels.
        dtype = dtype_of(target) if task == "classification" else "float64"
        output = ColumnSpec(name=str(target.name or "prediction"), dtype=dtype)
        return cls(inputs=inputs, output=output, task=task)

    @property
    def input_names(self) -> list[str]:
        return [c.name for c in self.inputs]

    @cached_property
    def input_index(self) -> pd.Index:
        """The input names as a pandas ``Index`` (shared: frames built with it conform at the
        cost of an identity check)."""
        return pd.Index(self.input_names)

    @cached_property
    def _input_dtypes(self) -> list[np.dtype[Any] | None]:
        return [_NUMPY_DTYPES.get(spec.dtype) for spec in self.inputs]

    @cached_property
    def _uniform_dtype(self) -> np.dtype[Any] | None:
        """The one numpy dtype of every input, when they share one."""
        dtypes = set(self._input_dtypes)
        return next(iter(dtypes)) if len(dtypes) == 1 else None

    def conform(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The frame with exactly the signature's columns, in order, cast to their types.

        Raises InvalidInput naming the first missing column or the column that cannot be cast.
        """
        columns = frame.columns
        if columns is self.input_index or columns.equals(self.input_index):
            uniform = self._uniform_dtype
            # Every column of the inputs' one dtype (a parsed 2-D tensor): checked without
            # building the per-column dtype Series; the common case on the serving path.
            if (
                uniform is not None
                and frame._is_homogeneous_type
                and frame.to_numpy().dtype == uniform
            ):
                return frame
            if frame.dtypes.tolist() == self._input_dtypes:
                return frame  # already conforms: no copy
        missing = [c for c in self.input_names if c not in columns]
        if missing:
            raise InvalidInput(
                f"input is missing column(s) {', '.join(map(repr, missing))}; "
                f"the model expects {self.input_names}"
            )
        out: dict[str, Any] = {}
        for spec in self.inputs:
            column = frame[spec.name]
            if column.dtype == _NUMPY_DTYPES.get(spec.dtype):
                out[spec.name] = column
                continue
            try:
                if spec.dtype == "string":
                    out[spec.name] = column.astype(str)
                elif spec.dtype == "bool":
                    out[spec.name] = column.astype(bool)
                else:
                    values = pd.to_numeric(column, errors="raise")
                    if spec.dtype == "int64" and not np.all(np.mod(values, 1) == 0):
                        raise ValueError("non-integer values")
                    out[spec.name] = values.astype(spec.dtype)
            except (ValueError, TypeError) as exc:
                raise InvalidInput(
                    f"input column {spec.name!r} cannot be read as {spec.dtype}: {exc}"
                ) from None
        return pd.DataFrame(out, index=frame.index)


@dataclass(frozen=True)
class OnnxExport:
    """A model's ONNX export, verified against the model, or why there is none.

    ``data`` holds the ONNX bytes only when onnxruntime's outputs on a sample matched the
    flavor's own predictions; otherwise it is None and ``reason`` says why (a missing extra, a
    converter that cannot convert the model, outputs that differ).
    """

    data: bytes | None
    reason: str


class Flavor(ABC):
    """Turns a trained model into bytes and back.

    Loading runs no code from the bytes, except in the ``python`` flavor (cloudpickle), whose
    bytes are trusted because the registry checks their sha256 before any flavor sees them.
    """

    name: str
    # Whether predict takes many rows at once, so the gateway may batch requests together.
    batchable: bool = True

    @abstractmethod
    def save(self, model: Any) -> bytes: ...

    def device(self, model: Any) -> str:
        """Where ``predict`` runs (``cpu``, or ``cuda`` for a model served on a GPU)."""
        return "cpu"

    @abstractmethod
    def load(self, data: bytes) -> Any: ...

    def owns(self, model: Any) -> bool:
        """Whether this flavor saves this kind of native object (see ``flavor_for``)."""
        return False

    def predict(self, model: Any, features: pd.DataFrame) -> np.ndarray:
        result: np.ndarray = np.asarray(model.predict(features))
        return result

    def array_predict(
        self, model: Any, signature: Signature
    ) -> Callable[[np.ndarray], np.ndarray] | None:
        """A predict that takes conformed rows as one 2-D array (columns in signature order),
        where that is cheaper than a frame and may give the same outputs; None where not (the
        default). The serving loader checks the outputs match on real rows before using it."""
        return None

    def params(self, model: Any) -> dict[str, Any]:
        """The model's hyper-parameters as the registry records them: JSON values, anything
        else as its ``repr``. From ``get_params()`` where the model has it, else empty."""
        get_params = getattr(model, "get_params", None)
        if not callable(get_params):
            return {}
        return {str(k): json_safe(v) for k, v in get_params(deep=False).items()}

    def export_onnx(self, model: Any, signature: Signature, sample: pd.DataFrame) -> OnnxExport:
        """The model as ONNX, verified on ``sample`` (see ``OnnxExport``); never raises for a
        model that cannot be exported: the reason is returned instead."""
        return OnnxExport(None, f"flavor {self.name} has no ONNX export")


def json_safe(value: Any) -> Any:
    """``value`` if JSON can hold it as is (numpy scalars as Python ones), else its repr."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: json_safe(v) for k, v in value.items()}
    return repr(value)


def is_json_native(value: Any) -> bool:
    """Whether ``json_safe`` keeps ``value`` as it is (so it can be passed back as a param)."""
    if value is None or isinstance(value, bool | int | str):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(is_json_native(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and is_json_native(v) for k, v in value.items())
    return False


class LoadedModel:
    """A model ready to serve: native object, flavor and signature together."""

    def __init__(self, name: str, version: int, flavor: Flavor, model: Any, signature: Signature):
        self.name, self.version = name, version
        self.flavor, self.model, self.signature = flavor, model, signature

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return self.flavor.predict(self.model, self.signature.conform(frame))

    def class_scores(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray] | None:
        """The classes and each row's probability per class, for a classifier that gives them
        (``predict_proba`` and ``classes_``, as scikit-learn's do); None otherwise."""
        predict_proba = getattr(self.model, "predict_proba", None)
        classes = getattr(self.model, "classes_", None)
        if not callable(predict_proba) or classes is None:
            return None
        scores = np.asarray(predict_proba(self.signature.conform(frame)), dtype=np.float64)
        return np.asarray(classes), scores
