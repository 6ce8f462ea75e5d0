"""The model a backtest trains, named by ``--model``.

- ``hgb`` (default): histogram gradient boosting (scikit-learn), classifier or regressor;
- ``rf``: a random forest of 100 trees;
- ``linear``: standardised ridge regression, or logistic regression for classes;
- ``logistic``: standardised logistic regression (classification only);
- ``module:callable``: your own, e.g. ``mypackage.models:make``; it is called with no
  arguments for each training run and returns an unfitted estimator (``fit``/``predict``).
  The module must be importable (on ``PYTHONPATH``) by the worker processes too.

A spec is a string so that each worker process rebuilds the factory itself.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from functools import partial
from typing import Any

from evergreen.errors import InvalidInput

BUILT_IN = ("hgb", "rf", "linear", "logistic")


def make_model(spec: str, task: str) -> Any:
    """A fresh, unfitted estimator of ``spec`` for ``task``."""
    if ":" in spec:
        return _custom(spec)()
    return _built_in(spec, task)


def model_factory(spec: str, task: str) -> Callable[[], Any]:
    """Check ``spec`` now (one clear error before any work), return its factory."""
    spec = spec.strip()
    if ":" in spec:
        _custom(spec)
    elif spec not in BUILT_IN:
        raise InvalidInput(
            f"unknown model {spec!r}; use one of {', '.join(BUILT_IN)} or module:callable"
        )
    elif spec == "logistic" and task != "classification":
        raise InvalidInput(
            "--model logistic is for classification; the target looks like a regression "
            "target (use linear, or --task classification)"
        )
    return partial(make_model, spec, task)


def _custom(spec: str) -> Any:
    module_name, _, attribute = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InvalidInput(f"--model {spec}: cannot import {module_name!r}: {exc}") from None
    factory = getattr(module, attribute, None)
    if not callable(factory):
        raise InvalidInput(f"--model {spec}: {module_name} has no callable {attribute!r}")
    return factory


def _built_in(name: str, task: str) -> Any:
    from sklearn.ensemble import (
        HistGradientBoostingClassifier,
        HistGradientBoostingRegressor,
        RandomForestClassifier,
        RandomForestRegressor,
    )
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    classes = task == "classification"
    if name == "hgb":
        return (HistGradientBoostingClassifier if classes else HistGradientBoostingRegressor)(
            random_state=0
        )
    if name == "rf":
        forest = RandomForestClassifier if classes else RandomForestRegressor
        return forest(n_estimators=100, min_samples_leaf=2, n_jobs=1, random_state=0)
    if classes:
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    return make_pipeline(StandardScaler(), Ridge(alpha=1.0))
