"""``--model``: the built-in names for each task, ``module:callable``, and clear errors."""

from __future__ import annotations

import pytest
from sklearn.base import is_classifier, is_regressor

from evergreen.backtest.models import make_model, model_factory
from evergreen.errors import InvalidInput


@pytest.mark.parametrize("spec", ["hgb", "rf", "linear"])
def test_built_in_models_fit_the_task(spec: str) -> None:
    assert is_classifier(model_factory(spec, "classification")())
    assert is_regressor(model_factory(spec, "regression")())


def test_each_call_builds_a_fresh_model() -> None:
    factory = model_factory("hgb", "regression")
    assert factory() is not factory()
    assert type(factory()).__name__ == "HistGradientBoostingRegressor"


def test_module_callable() -> None:
    model = make_model("backtest.custom_models:shallow_tree", "classification")
    assert type(model).__name__ == "DecisionTreeClassifier"
    assert model.max_depth == 3


@pytest.mark.parametrize(
    ("spec", "task", "message"),
    [
        ("xgb", "regression", "unknown model 'xgb'; use one of hgb, rf, linear, logistic"),
        ("logistic", "regression", "--model logistic is for classification"),
        ("no_such_module_x:f", "regression", "cannot import 'no_such_module_x'"),
        ("backtest.custom_models:NOT_CALLABLE", "regression", "has no callable 'NOT_CALLABLE'"),
    ],
)
def test_bad_models(spec: str, task: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        model_factory(spec, task)
