"""XGBoost's scikit-learn API (``XGBRegressor``, ``XGBClassifier``), saved without pickle.

The archive (``archive.py``) holds the booster in XGBoost's own UBJSON format
(``Booster.save_raw("ubj")``, the same bytes for the same trees) and a header with the class,
the parameters JSON can hold and, for classifiers, the classes; loading rebuilds the estimator
with ``load_model``. ONNX exports go through onnxmltools' XGBoost converter.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import xgboost

from evergreen.errors import IntegrityFailure, InvalidInput
from evergreen.flavors import onnx_runtime
from evergreen.flavors.archive import classes_from_json, classes_to_json, pack, unpack
from evergreen.flavors.base import Flavor, OnnxExport, Signature, is_json_native

CLASSES: dict[str, type[xgboost.XGBModel]] = {
    "XGBRegressor": xgboost.XGBRegressor,
    "XGBClassifier": xgboost.XGBClassifier,
}
MODEL_FILE = "model.ubj"


class XGBoostFlavor(Flavor):
    name = "xgboost"

    def owns(self, model: Any) -> bool:
        return type(model) in CLASSES.values()

    def save(self, model: Any) -> bytes:
        if not self.owns(model):
            raise InvalidInput(
                f"the xgboost flavor saves {' and '.join(CLASSES)}, not {type(model).__name__}"
            )
        header: dict[str, Any] = {
            "flavor": self.name,
            "class": type(model).__name__,
            "params": _params(model),
            "xgboost": xgboost.__version__,
        }
        if isinstance(model, xgboost.XGBClassifier):
            header["classes"] = classes_to_json(np.asarray(model.classes_))
        return pack(header, {MODEL_FILE: bytes(model.get_booster().save_raw("ubj"))})

    def load(self, data: bytes) -> Any:
        header, (raw,) = unpack(data, self.name, (MODEL_FILE,))
        kind = CLASSES.get(str(header.get("class")))
        if kind is None:
            raise IntegrityFailure(
                f"xgboost archive names an unknown class {header.get('class')!r}"
            )
        model = kind(**header["params"])
        model.load_model(bytearray(raw))
        if "classes" in header and not np.array_equal(
            classes_from_json(header["classes"]), np.asarray(model.classes_)
        ):
            raise IntegrityFailure("xgboost archive: the header's classes do not match the model")
        return model

    def export_onnx(self, model: Any, signature: Signature, sample: pd.DataFrame) -> OnnxExport:
        return onnx_runtime.converted(
            lambda: _onnxmltools(model, signature), "onnxmltools", self, model, signature, sample
        )


def _params(model: xgboost.XGBModel) -> dict[str, Any]:
    """The constructor parameters JSON holds as they are (callbacks and the like are not needed
    to predict: the booster holds the trees)."""
    return {k: v for k, v in model.get_params(deep=False).items() if is_json_native(v)}


def _onnxmltools(model: xgboost.XGBModel, signature: Signature) -> bytes:
    import onnxmltools
    from onnxmltools.convert.common.data_types import (
        FloatTensorType,
    )

    if any(c.dtype == "string" for c in signature.inputs):
        raise ValueError("string columns cannot be fed to XGBoost's ONNX graph")
    # The converter reads features as f0, f1, ...: a copy of the booster without the names.
    booster = model.get_booster().copy()
    booster.feature_names = None
    plain = type(model)(**_params(model))
    plain.load_model(bytearray(booster.save_raw("ubj")))
    matrix = [("X", FloatTensorType([None, len(signature.inputs)]))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # converters' deprecation noise; the result is verified
        proto = onnxmltools.convert_xgboost(plain, initial_types=matrix)
    data: bytes = onnx_runtime.column_inputs(proto, signature.input_names).SerializeToString()
    return data
