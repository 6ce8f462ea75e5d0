"""Model metrics by name, each knowing whether higher is better."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

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


def _mae(y: ArrayLike, p: ArrayLike) -> float:
    return float(np.mean(np.abs(y.astype(float) - p.astype(float))))


def _r2(y: ArrayLike, p: ArrayLike) -> float:
    y = y.astype(float)
    total = float(np.sum((y - y.mean()) ** 2))
    residual = float(np.sum((y - p.astype(float)) ** 2))
    return 1.0 - residual / total if total > 0 else 0.0


def _accuracy(y: ArrayLike, p: ArrayLike) -> float:
    return float(np.mean(y == p))


def _f1_macro(y: ArrayLike, p: ArrayLike) -> float:
    from sklearn.metrics import f1_score  # imported on use: scikit-learn is slow to import

    return float(f1_score(y, p, average="macro", zero_division=0))


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("rmse", _rmse, False, "regression"),
        Metric("mae", _mae, False, "regression"),
        Metric("r2", _r2, True, "regression"),
        Metric("accuracy", _accuracy, True, "classification"),
        Metric("f1", _f1_macro, True, "classification"),
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
