"""scikit-learn linear models predicted by their matrix product alone: the model's own
answers, bit for bit, without its per-call checks."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn import linear_model
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import _base as linear_base
from sklearn.svm import LinearSVC

from evergreen.flavors import Signature, get_flavor
from evergreen.flavors.sklearn_linear import direct_linear

TWO = make_classification(n_samples=800, n_features=10, random_state=0)
THREE = make_classification(
    n_samples=800, n_features=10, n_informative=5, n_classes=3, random_state=1
)
VALUES = make_regression(n_samples=800, n_features=10, noise=3.0, random_state=0)
NAMED = (THREE[0], np.array(["low", "mid", "high"])[THREE[1]])
TWO_TARGETS = (VALUES[0], np.column_stack([VALUES[1], -2.0 * VALUES[1]]))


def no_fallback(rows: np.ndarray) -> np.ndarray:
    raise AssertionError("the model's own predict was called")


@pytest.mark.parametrize(
    ("make", "data"),
    [
        (lambda: linear_model.LogisticRegression(max_iter=1000), TWO),
        (lambda: linear_model.LogisticRegression(max_iter=1000), THREE),
        (lambda: linear_model.LogisticRegression(max_iter=1000), NAMED),
        (lambda: linear_model.SGDClassifier(random_state=0), THREE),
        (lambda: LinearSVC(), TWO),
        (lambda: linear_model.LinearRegression(), VALUES),
        (lambda: linear_model.LinearRegression(fit_intercept=False), VALUES),
        (lambda: linear_model.LinearRegression(), TWO_TARGETS),
        (lambda: linear_model.Ridge(alpha=1.0), VALUES),
        (lambda: linear_model.Ridge(alpha=1.0), TWO_TARGETS),
        (lambda: linear_model.Lasso(alpha=0.1), VALUES),
        (lambda: linear_model.ElasticNet(alpha=0.1), TWO_TARGETS),
        (lambda: linear_model.BayesianRidge(), VALUES),
        (lambda: linear_model.RidgeClassifier(), TWO),
        (lambda: linear_model.RidgeClassifier(), NAMED),
    ],
    ids=[
        "lr-2",
        "lr-3",
        "lr-names",
        "sgd",
        "svc",
        "ols",
        "ols-no-intercept",
        "ols-2-targets",
        "ridge",
        "ridge-2-targets",
        "lasso",
        "elastic-net-2-targets",
        "bayesian-ridge",
        "ridge-classifier-2",
        "ridge-classifier-names",
    ],
)
def test_a_linear_model_gives_its_own_answers(make: Any, data: Any) -> None:
    x, y = data
    model = make().fit(x[:600], y[:600])
    predict = direct_linear(model, no_fallback)
    assert predict is not None
    held_out = x[600:]
    expected = model.predict(held_out)
    got = predict(held_out)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)  # bit for bit, not approximately
    one = held_out[:1]  # its own call: BLAS may sum a lone row in another order
    np.testing.assert_array_equal(predict(one), model.predict(one))
    as_float32 = held_out.astype(np.float32)
    np.testing.assert_array_equal(predict(as_float32), model.predict(as_float32))


def test_the_library_checks_are_not_run(monkeypatch: pytest.MonkeyPatch) -> None:
    x, y = THREE
    model = linear_model.LogisticRegression(max_iter=1000).fit(x, y)
    expected = model.predict(x[:50])
    predict = direct_linear(model, no_fallback)
    assert predict is not None

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("validate_data was called")

    monkeypatch.setattr(linear_base, "validate_data", refuse)
    with pytest.raises(AssertionError, match="validate_data"):
        model.predict(x[:50])  # the model's own predict checks every call
    np.testing.assert_array_equal(predict(x[:50]), expected)


def test_rows_it_does_not_take_go_to_the_model() -> None:
    x, y = TWO
    model = linear_model.LogisticRegression(max_iter=1000).fit(x, y)
    calls: list[int] = []

    def fallback(rows: np.ndarray) -> np.ndarray:
        calls.append(len(rows))
        return np.asarray(model.predict(rows))

    predict = direct_linear(model, fallback)
    assert predict is not None
    np.testing.assert_array_equal(predict(x[:3]), model.predict(x[:3]))
    assert calls == []
    gappy = x[:4].copy()
    gappy[1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        predict(gappy)  # the model's own error, not a made-up answer
    with pytest.raises(ValueError, match="features"):
        predict(x[:5, :4])
    whole = np.rint(x[:6]).astype(np.int64)
    np.testing.assert_array_equal(predict(whole), model.predict(whole))
    assert calls == [4, 5, 6]


def test_other_models_are_not_taken() -> None:
    x, y = VALUES
    assert direct_linear(RandomForestClassifier(5).fit(*TWO), no_fallback) is None
    multilabel = np.column_stack([TWO[1], 1 - TWO[1]])  # thresholded by its own predict
    ridge = linear_model.RidgeClassifier().fit(TWO[0], multilabel)
    assert direct_linear(ridge, no_fallback) is None
    assert direct_linear(linear_model.ARDRegression().fit(x, y), no_fallback) is None  # own
    assert direct_linear(linear_model.LogisticRegression(), no_fallback) is None  # not fitted
    sparse = linear_model.LogisticRegression(max_iter=1000).fit(*TWO).sparsify()
    assert direct_linear(sparse, no_fallback) is None

    class Thresholded(linear_model.LogisticRegression):  # type: ignore[misc]
        def predict(self, X: Any) -> Any:
            return super().predict(X)

    assert direct_linear(Thresholded(max_iter=1000).fit(*TWO), no_fallback) is None


def test_the_sklearn_flavor_predicts_a_linear_model_on_arrays_directly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    x, y = TWO
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(x.shape[1])])
    target = pd.Series(y, name="label")
    model = linear_model.LogisticRegression(max_iter=1000).fit(frame, target)
    signature = Signature.infer(frame, target, "classification")
    on_array = get_flavor("sklearn").array_predict(model, signature)
    assert on_array is not None
    expected = model.predict(frame.iloc[:40])
    monkeypatch.setattr(linear_base, "validate_data", None)  # the direct path needs none
    np.testing.assert_array_equal(on_array(frame.iloc[:40].to_numpy()), expected)
