"""Model performance on the labelled rows of a window, and the per-row error stream.

Classification: ``accuracy`` and ``f1`` (macro) from the logged class labels. ``roc_auc`` and
``log_loss`` need the model's scores, and the prediction log keeps only the predicted class
(the flavors' ``predict``), so they are reported as not available, with that reason, rather
than computed from hard labels. Regression: ``mae``, ``rmse``, ``r2``.

Predictions and labels compare as numbers when both read as numbers (``1`` and ``1.0`` are the
same class), else as strings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from evergreen.errors import InvalidInput
from evergreen.training.metrics import get_metric

METRICS = {
    "classification": ("accuracy", "f1", "roc_auc", "log_loss"),
    "regression": ("mae", "rmse", "r2"),
}
NEEDS_SCORES = ("roc_auc", "log_loss")
NO_SCORES = (
    "needs the model's class probabilities; the prediction log holds only the predicted class"
)


@dataclass(frozen=True)
class MetricValue:
    """One metric on ``rows`` labelled rows; ``value`` None when it is not available (``note``
    says why)."""

    name: str
    value: float | None
    rows: int
    note: str = ""


def metric_names(task: str, chosen: Sequence[str] | None) -> tuple[str, ...]:
    """The metrics a pass computes: ``chosen`` (checked against the task) or all of the task's."""
    known = METRICS.get(task)
    if known is None:
        raise InvalidInput(f"task must be regression or classification, got {task!r}")
    if chosen is None:
        return known
    unknown = [m for m in chosen if m not in known]
    if unknown:
        raise InvalidInput(
            f"monitor metric(s) {unknown} do not suit a {task} model; choose from {list(known)}"
        )
    return tuple(chosen)


def performance(
    labelled: pd.DataFrame, task: str, metrics: Sequence[str] | None = None
) -> list[MetricValue]:
    """Each metric on the ``prediction`` and ``label`` columns of ``labelled``."""
    names = metric_names(task, metrics)
    rows = len(labelled)
    if rows == 0:
        return [MetricValue(n, None, 0, "no labelled rows") for n in names]
    truth, predicted = aligned(labelled, task)
    out = []
    for name in names:
        if name in NEEDS_SCORES:
            out.append(MetricValue(name, None, rows, NO_SCORES))
        else:
            out.append(MetricValue(name, get_metric(name)(truth, predicted), rows))
    return out


def errors(labelled: pd.DataFrame, task: str) -> np.ndarray:
    """The per-row error: 1.0 for a misclassified row (else 0.0), or the absolute error."""
    truth, predicted = aligned(labelled, task)
    if task == "classification":
        return np.asarray(truth != predicted, dtype=np.float64)
    return np.asarray(np.abs(truth - predicted), dtype=np.float64)


def aligned(labelled: pd.DataFrame, task: str) -> tuple[np.ndarray, np.ndarray]:
    """The labels and predictions as two comparable arrays (floats for a regression)."""
    label, prediction = labelled["label"], labelled["prediction"]
    truth = pd.to_numeric(label, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    predicted = pd.to_numeric(prediction, errors="coerce").to_numpy(
        dtype=np.float64, na_value=np.nan
    )
    if task == "regression":
        if np.isnan(truth).any() or np.isnan(predicted).any():
            raise InvalidInput(
                "a regression monitor needs numeric labels and predictions; some label or "
                "logged prediction is not a number (check what the feedback API was sent)"
            )
        return truth, predicted
    if np.isnan(truth).any() or np.isnan(predicted).any():
        return label.astype(str).to_numpy(), prediction.astype(str).to_numpy()
    return truth, predicted
