"""Model performance on the labelled rows of a window, and the per-row error stream.

Classification: ``accuracy`` and ``f1`` (macro) from the logged class labels; ``roc_auc``
(one-vs-rest for more than two classes) and ``log_loss`` from the class probabilities, which the
prediction log does not keep (it holds the answered class): the monitor gets them by scoring the
logged inputs with the same version again (``LoadedModel.class_scores``; the version is the one
that answered, loaded verified, so the scores are those it had). A model without probabilities
reports them as not available, with the reason. Regression: ``mae``, ``rmse``, ``r2``.

Predictions and labels compare as numbers when both read as numbers (``1`` and ``1.0`` are the
same class), else as strings.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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
NO_SCORES = "needs class probabilities, and this model gives none (no predict_proba/classes_)"
Scores = tuple[np.ndarray, np.ndarray]  # the classes, and each row's probability per class


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
    labelled: pd.DataFrame,
    task: str,
    metrics: Sequence[str] | None = None,
    scores: Callable[[pd.DataFrame], Scores | None] | None = None,
) -> list[MetricValue]:
    """Each metric on the ``prediction`` and ``label`` columns of ``labelled``; ``scores``
    gives the class probabilities of its rows for the metrics that need them."""
    names = metric_names(task, metrics)
    rows = len(labelled)
    if rows == 0:
        return [MetricValue(n, None, 0, "no labelled rows") for n in names]
    truth, predicted = aligned(labelled, task)
    scored = scores(labelled) if scores is not None and set(names) & set(NEEDS_SCORES) else None
    out = []
    for name in names:
        if name not in NEEDS_SCORES:
            out.append(MetricValue(name, get_metric(name)(truth, predicted), rows))
        elif scored is None:
            out.append(MetricValue(name, None, rows, NO_SCORES))
        else:
            out.append(_from_scores(name, labelled["label"], *scored))
    return out


def _from_scores(
    name: str, label: pd.Series, classes: np.ndarray, proba: np.ndarray
) -> MetricValue:
    """ROC AUC or log loss of the labelled rows whose label is one of the model's classes."""
    from sklearn.metrics import log_loss, roc_auc_score  # slow to import: on use

    numeric = pd.to_numeric(label, errors="coerce")
    if np.issubdtype(classes.dtype, np.number) and not numeric.isna().any():
        truth, known = numeric.to_numpy(np.float64), classes.astype(np.float64)
    else:
        truth, known = label.astype(str).to_numpy(), classes.astype(str)
    keep = np.isin(truth, known)
    truth, proba = truth[keep], proba[keep]
    rows = int(keep.sum())
    skipped = (
        f"; {int((~keep).sum())} labels are not classes of the model" if not keep.all() else ""
    )
    if rows == 0:
        return MetricValue(name, None, 0, "no label is one of the model's classes")
    if name == "log_loss":
        return MetricValue(
            name, float(log_loss(truth, proba, labels=known)), rows, skipped.lstrip("; ")
        )
    if len(np.unique(truth)) < 2:
        return MetricValue(name, None, rows, "ROC AUC needs labels of two classes at least")
    if len(known) == 2:
        value = roc_auc_score(truth == known[1], proba[:, 1])
    else:
        value = roc_auc_score(truth, proba, multi_class="ovr", labels=known)
    return MetricValue(name, float(value), rows, skipped.lstrip("; "))


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
