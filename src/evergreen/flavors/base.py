"""What every flavor shares: a model's signature and the save/load contract.

Training saves through a flavor and the gateway loads through it; neither imports the other.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
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

    def conform(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The frame with exactly the signature's columns, in order, cast to their types.

        Raises InvalidInput naming the first missing column or the column that cannot be cast.
        """
        missing = [c for c in self.input_names if c not in frame.columns]
        if missing:
            raise InvalidInput(
                f"input is missing column(s) {', '.join(map(repr, missing))}; "
                f"the model expects {self.input_names}"
            )
        out: dict[str, Any] = {}
        for spec in self.inputs:
            column = frame[spec.name]
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


class Flavor(ABC):
    """Turns a trained model into bytes and back. Loading never runs untrusted code."""

    name: str

    @abstractmethod
    def save(self, model: Any) -> bytes: ...

    @abstractmethod
    def load(self, data: bytes) -> Any: ...

    def predict(self, model: Any, features: pd.DataFrame) -> np.ndarray:
        result: np.ndarray = np.asarray(model.predict(features))
        return result


class LoadedModel:
    """A model ready to serve: native object, flavor and signature together."""

    def __init__(self, name: str, version: int, flavor: Flavor, model: Any, signature: Signature):
        self.name, self.version = name, version
        self.flavor, self.model, self.signature = flavor, model, signature

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return self.flavor.predict(self.model, self.signature.conform(frame))
