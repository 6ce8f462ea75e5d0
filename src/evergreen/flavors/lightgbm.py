"""LightGBM's scikit-learn API (``LGBMRegressor``, ``LGBMClassifier``), saved without pickle.

The archive (``archive.py``) holds LightGBM's text model (``Booster.model_to_string``) and a
header with the class, the parameters JSON can hold, the objective and, for classifiers, the
classes. LightGBM has no way to load a text model into its scikit-learn estimators, so loading
sets the fitted state ``LGBMModel.fit`` sets (the attributes below, checked against LightGBM
4.x by the tests). ONNX exports go through onnxmltools' LightGBM converter.
"""

from __future__ import annotations

import warnings
from typing import Any

import lightgbm
import numpy as np
import pandas as pd

from evergreen.errors import IntegrityFailure, InvalidInput
from evergreen.flavors import onnx_runtime
from evergreen.flavors.archive import classes_from_json, classes_to_json, pack, unpack
from evergreen.flavors.base import Flavor, OnnxExport, Signature, is_json_native

CLASSES: dict[str, type[lightgbm.LGBMModel]] = {
    "LGBMRegressor": lightgbm.LGBMRegressor,
    "LGBMClassifier": lightgbm.LGBMClassifier,
}
MODEL_FILE = "model.txt"


class LightGBMFlavor(Flavor):
    name = "lightgbm"

    def owns(self, model: Any) -> bool:
        return type(model) in CLASSES.values()

    def save(self, model: Any) -> bytes:
        if not self.owns(model):
            raise InvalidInput(
                f"the lightgbm flavor saves {' and '.join(CLASSES)}, not {type(model).__name__}"
            )
        objective = model.objective_
        header: dict[str, Any] = {
            "flavor": self.name,
            "class": type(model).__name__,
            "params": _params(model),
            "objective": objective if isinstance(objective, str) else None,
            "feature_names": bool(model._fitted_with_feature_names),
            "lightgbm": lightgbm.__version__,
        }
        if isinstance(model, lightgbm.LGBMClassifier):
            header["classes"] = classes_to_json(np.asarray(model.classes_))
        text = model.booster_.model_to_string().encode()
        return pack(header, {MODEL_FILE: text})

    def load(self, data: bytes) -> Any:
        header, (text,) = unpack(data, self.name, (MODEL_FILE,))
        kind = CLASSES.get(str(header.get("class")))
        if kind is None:
            raise IntegrityFailure(
                f"lightgbm archive names an unknown class {header.get('class')!r}"
            )
        model = kind(**header["params"])
        booster = lightgbm.Booster(model_str=text.decode())
        model._Booster = booster
        model._n_features = model._n_features_in = booster.num_feature()
        model._objective = header["objective"]
        model._fitted_with_feature_names = header["feature_names"]
        if isinstance(model, lightgbm.LGBMClassifier):
            from sklearn.preprocessing import LabelEncoder

            classes = classes_from_json(header["classes"])
            model._le = LabelEncoder().fit(classes)
            model._classes, model._n_classes = model._le.classes_, len(classes)
            model._class_map = {c: i for i, c in enumerate(model._le.classes_)}
        model.fitted_ = True
        return model

    def export_onnx(self, model: Any, signature: Signature, sample: pd.DataFrame) -> OnnxExport:
        return onnx_runtime.converted(
            lambda: _onnxmltools(model, signature), "onnxmltools", self, model, signature, sample
        )


def _params(model: lightgbm.LGBMModel) -> dict[str, Any]:
    return {k: v for k, v in model.get_params(deep=False).items() if is_json_native(v)}


def _onnxmltools(model: lightgbm.LGBMModel, signature: Signature) -> bytes:
    import onnxmltools
    from onnxmltools.convert.common.data_types import (
        FloatTensorType,
    )

    if any(c.dtype == "string" for c in signature.inputs):
        raise ValueError("string columns cannot be fed to LightGBM's ONNX graph")
    matrix = [("X", FloatTensorType([None, len(signature.inputs)]))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # converters' deprecation noise; the result is verified
        proto = onnxmltools.convert_lightgbm(model, initial_types=matrix, zipmap=False)
    data: bytes = onnx_runtime.column_inputs(proto, signature.input_names).SerializeToString()
    return data
