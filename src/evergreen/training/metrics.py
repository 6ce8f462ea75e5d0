"""Model metrics by name, each knowing whether higher is better."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn import metrics as skm

from evergreen.errors import InvalidInput

ArrayLike = np.ndarray


@dataclass(frozen=True)
class Metric:
    name: str
    fn: Callable[[ArrayLike, ArrayLike], float]
    greater_is_better: bool
    task: str

    def __call__(self, y_true: ArrayLike, y_pred: ArrayLike) -> float:
        if len(y_true) == 0:
            raise InvalidInput(f"cannot compute {self.name} on zero rows")
        return float(self.fn(np.asarray(y_true), np.asarray(y_pred)))

    def better(self, a: float, b: float) -> bool:
        """Whether score ``a`` is strictly better than ``b``."""
        return a > b if self.greater_is_better else a < b


def _rmse(y: ArrayLike, p: ArrayLike) -> float:
    return float(np.sqrt(np.mean((y.astype(float) - p.astype(float)) ** 2)))


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("rmse", _rmse, False, "regression"),
        Metric("mae", lambda y, p: float(skm.mean_absolute_error(y, p)), False, "regression"),
        Metric("r2", lambda y, p: float(skm.r2_score(y, p)), True, "regression"),
        Metric("accuracy", lambda y, p: float(skm.accuracy_score(y, p)), True, "classification"),
        Metric(
            "f1",
            lambda y, p: float(skm.f1_score(y, p, average="macro", zero_division=0)),
            True,
            "classification",
        ),
    )
}

DEFAULT_METRIC = {"regression": "rmse", "classification": "accuracy"}


def get_metric(name: str) -> Metric:
    try:
        return METRICS[name]
    except KeyError:
        raise InvalidInput(
            f"unknown metric {name!r}; known metrics: {', '.join(sorted(METRICS))}"
        ) from None
