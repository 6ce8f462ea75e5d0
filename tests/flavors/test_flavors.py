"""``evergreen.flavors``: flavors load on first use, ``flavor_for`` picks one for a native
object, and a flavor whose library is missing says which extra to install."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

import evergreen.flavors
from evergreen.errors import InvalidInput, Unavailable
from evergreen.flavors import flavor_for, get_flavor
from evergreen.flavors.base import Flavor, OnnxExport, Signature, json_safe
from flavors.support import features, regression_target

FRAME = features(rows=30)


class Rule:
    def predict(self, frame: object) -> np.ndarray:
        return np.zeros(3)


class ForeignEstimator(BaseEstimator, RegressorMixin):  # type: ignore[misc]
    """A scikit-learn-compatible estimator from outside scikit-learn: skops would refuse it."""

    def predict(self, frame: object) -> np.ndarray:
        return np.zeros(3)


def test_importing_the_package_loads_no_model_library() -> None:
    code = (
        "import sys, evergreen.flavors\n"
        "heavy = {'xgboost', 'lightgbm', 'torch', 'onnx', 'onnxruntime', 'skl2onnx', 'sklearn'}\n"
        "print(sorted(heavy & set(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("make", "flavor"),
    [
        (lambda: LinearRegression().fit(FRAME, regression_target(FRAME)), "sklearn"),
        (lambda: make_pipeline(FunctionTransformer(np.log1p), LinearRegression()), "sklearn"),
        (lambda: make_pipeline(FunctionTransformer(lambda x: x), LinearRegression()), "python"),
        (lambda: __import__("xgboost").XGBRegressor(), "xgboost"),
        (lambda: __import__("lightgbm").LGBMClassifier(), "lightgbm"),
        (lambda: __import__("evergreen.flavors.torch").flavors.torch.TorchRegressor(), "torch"),
        (lambda: __import__("onnx").ModelProto(), "onnx"),
        (Rule, "python"),
        (ForeignEstimator, "python"),
        (lambda: make_pipeline(ForeignEstimator()), "python"),
    ],
    ids=[
        "sklearn",
        "pipeline",
        "lambda-pipeline",
        "xgboost",
        "lightgbm",
        "torch",
        "onnx",
        "rule",
        "foreign",
        "foreign-pipeline",
    ],
)
def test_flavor_for_picks_the_flavor_that_owns_the_object(make: object, flavor: str) -> None:
    assert flavor_for(make()).name == flavor  # type: ignore[operator]


def test_an_object_without_predict_has_no_flavor() -> None:
    with pytest.raises(InvalidInput, match="no flavor can save a dict"):
        flavor_for({})


def test_unknown_flavors_are_named() -> None:
    with pytest.raises(InvalidInput, match="known flavors: lightgbm, onnx, python, sklearn"):
        get_flavor("h2o")


def test_a_flavor_whose_library_is_missing_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(evergreen.flavors._FLAVORS, "xgboost", raising=False)
    monkeypatch.delitem(sys.modules, "evergreen.flavors.xgboost", raising=False)
    monkeypatch.setitem(sys.modules, "xgboost", None)  # import xgboost now fails
    with pytest.raises(Unavailable, match=r"pip install 'evergreen\[xgboost\]'"):
        get_flavor("xgboost")


def test_the_base_flavor_has_no_onnx_export_and_json_safe_params() -> None:
    class Plain(Flavor):
        name = "plain"

        def save(self, model: object) -> bytes:
            return b""

        def load(self, data: bytes) -> object:
            return None

    sig = Signature.infer(FRAME, regression_target(FRAME), "regression")
    flavor = Plain()
    assert not flavor.owns(Rule())
    assert flavor.export_onnx(Rule(), sig, FRAME) == OnnxExport(
        None, "flavor plain has no ONNX export"
    )
    assert flavor.params(Rule()) == {}
    assert json_safe({"a": np.float32(0.5), "b": (1, None), "c": float("nan"), "d": Rule}) == {
        "a": 0.5,
        "b": [1, None],
        "c": "nan",
        "d": repr(Rule),
    }
