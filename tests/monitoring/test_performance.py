"""Performance on labelled rows, checked against scikit-learn and numpy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error, r2_score

from evergreen.errors import InvalidInput
from evergreen.monitoring.performance import NO_SCORES, errors, performance


def test_classification_metrics_and_why_scores_are_missing() -> None:
    rng = np.random.default_rng(0)
    label = rng.integers(0, 3, 500)
    predicted = np.where(rng.random(500) < 0.7, label, rng.integers(0, 3, 500))
    # labels arrive as JSON numbers (floats), predictions were logged as ints
    rows = pd.DataFrame({"prediction": predicted, "label": label.astype(float)})
    found = {m.name: m for m in performance(rows, "classification")}
    assert found["accuracy"].value == pytest.approx(accuracy_score(label, predicted))
    assert found["f1"].value == pytest.approx(f1_score(label, predicted, average="macro"))
    assert found["roc_auc"].value is None and found["roc_auc"].note == NO_SCORES
    assert found["log_loss"].value is None and all(m.rows == 500 for m in found.values())
    assert errors(rows, "classification").sum() == (label != predicted).sum()


def test_string_classes_compare_as_strings() -> None:
    rows = pd.DataFrame({"prediction": ["yes", "no", "yes"], "label": ["yes", "yes", "yes"]})
    (accuracy,) = performance(rows, "classification", ["accuracy"])
    assert accuracy.value == pytest.approx(2 / 3)


def test_regression_metrics() -> None:
    rng = np.random.default_rng(1)
    label = rng.normal(10, 3, 400)
    predicted = label + rng.normal(0, 1, 400)
    rows = pd.DataFrame({"prediction": predicted, "label": label})
    found = {m.name: m.value for m in performance(rows, "regression")}
    assert found["mae"] == pytest.approx(mean_absolute_error(label, predicted))
    assert found["rmse"] == pytest.approx(np.sqrt(np.mean((label - predicted) ** 2)))
    assert found["r2"] == pytest.approx(r2_score(label, predicted))
    assert errors(rows, "regression") == pytest.approx(np.abs(label - predicted))


def test_metrics_that_do_not_suit_the_task_are_refused() -> None:
    rows = pd.DataFrame({"prediction": [1.0], "label": [1.0]})
    with pytest.raises(InvalidInput, match="do not suit a regression model"):
        performance(rows, "regression", ["accuracy"])
    with pytest.raises(InvalidInput, match="numeric labels"):
        performance(pd.DataFrame({"prediction": [1.0], "label": ["x"]}), "regression")
