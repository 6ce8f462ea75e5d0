"""scikit-learn linear models predicted without the library's per-call checks.

A linear model's ``predict`` is one matrix product, ~2 us for a row of 30 features; the checks
around it (``check_is_fitted``, ``validate_data``, the array-API namespace lookups) cost ~100
us a call whatever the rows: most of what a 1-row request to a logistic regression spends in
the model. ``direct_linear`` does the same arithmetic on the same arrays, in the same order, as
the library's own ``LinearModel._decision_function`` (regressors) or
``LinearClassifierMixin.decision_function`` and ``predict`` (classifiers): ``X @ coef_.T +
intercept_`` (``X @ coef_`` for a 1-D ``coef_``), then for a classifier the positive-score test
(one column of scores) or the highest score's class. The results are the same bit for bit.

Only for models whose ``predict`` (and ``decision_function``) are the library's own (those of
its linear bases, or of models that override them only to pass dense rows on: ``Ridge``,
``Lasso``, ``ElasticNet``, ``BayesianRidge``, ``RidgeClassifier``; see ``_own_methods``), with
dense floating-point coefficients; rows that are not floating-point, hold NaN or infinities, or are
not as many columns as the model was fitted on go to the model's own ``predict`` (which refuses
them as it always does). The serving array path uses it only once its outputs are the same as
the model's on real rows (``serving.array_path``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


def direct_linear(
    model: Any, fallback: Callable[[np.ndarray], Any]
) -> Callable[[np.ndarray], np.ndarray] | None:
    """A predict on 2-D arrays for a linear ``model`` as described above, or None for any
    other model; ``fallback`` predicts rows the direct path does not take."""
    from sklearn.linear_model._base import LinearClassifierMixin, LinearModel

    kind = type(model)
    own = _own_methods()
    classifier = (
        isinstance(model, LinearClassifierMixin)
        and kind.predict in own["classifier_predict"]
        and kind.decision_function is LinearClassifierMixin.decision_function
        and not _multilabel(model)
    )
    regressor = (
        isinstance(model, LinearModel)
        and not isinstance(model, LinearClassifierMixin)
        and kind.predict in own["regressor_predict"]
        and kind._decision_function in own["decision_function"]
    )
    coef = getattr(model, "coef_", None)
    intercept = getattr(model, "intercept_", None)
    features = getattr(model, "n_features_in_", None)
    if not (classifier or regressor) or features is None:
        return None
    if not isinstance(coef, np.ndarray) or coef.dtype.kind != "f" or coef.ndim not in (1, 2):
        return None  # sparsified coefficients, or something the library does not make
    if not isinstance(intercept, np.ndarray | float | int):
        return None
    classes = np.asarray(model.classes_) if classifier else None
    weights = coef.T if coef.ndim == 2 else coef
    width = int(features)

    def predict(rows: np.ndarray) -> np.ndarray:
        x = np.asarray(rows)
        if x.ndim != 2 or x.shape[1] != width or x.dtype.kind != "f" or not np.isfinite(x).all():
            return np.asarray(fallback(rows))  # the model's own checks and errors
        scores = x @ weights + intercept
        if classes is None:
            return np.asarray(scores)
        if scores.ndim > 1 and scores.shape[1] == 1:
            scores = scores.reshape(-1)
        one_column = scores.ndim == 1
        indices = (scores > 0).astype(np.intp) if one_column else np.argmax(scores, axis=1)
        return np.asarray(classes.take(indices, axis=0))

    return predict


_OWN: dict[str, tuple[Any, ...]] = {}


def _own_methods() -> dict[str, tuple[Any, ...]]:
    """The library's methods that come down to the arithmetic above for dense rows: its linear
    bases', and those of the models that override them only to hand dense rows on to them
    (``Ridge.predict``, ``BayesianRidge.predict`` without ``return_std``, ``ElasticNet`` and
    ``Lasso``'s ``_decision_function``, the ridge classifiers' ``predict`` for one label a
    row)."""
    if not _OWN:
        from sklearn import linear_model
        from sklearn.linear_model import _base

        def found(module: Any, owner: str, method: str) -> tuple[Any, ...]:
            """The method where this scikit-learn has it (private names move between versions;
            one missing only keeps its models on their own ``predict``)."""
            value = getattr(getattr(module, owner, None), method, None)
            return () if value is None else (value,)

        ridge = getattr(linear_model, "_ridge", None)
        _OWN["classifier_predict"] = (
            _base.LinearClassifierMixin.predict,
            *found(ridge, "_RidgeClassifierMixin", "predict"),
        )
        _OWN["regressor_predict"] = (
            _base.LinearModel.predict,
            *found(_base, "MultiOutputLinearModel", "predict"),
            *found(linear_model, "Ridge", "predict"),
            *found(linear_model, "BayesianRidge", "predict"),
        )
        _OWN["decision_function"] = (
            _base.LinearModel._decision_function,
            *found(linear_model, "ElasticNet", "_decision_function"),
        )
    return _OWN


def _multilabel(model: Any) -> bool:
    """A ridge classifier fitted on several labels a row (its ``predict`` thresholds them)."""
    binarizer = getattr(model, "_label_binarizer", None)
    return str(getattr(binarizer, "y_type_", "")).startswith("multilabel")
