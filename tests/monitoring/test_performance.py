"""Performance on labelled rows, checked against scikit-learn and numpy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    log_loss,
    mean_absolute_error,
    r2_score,
    roc_auc_score,
)

from evergreen.errors import InvalidInput
from evergreen.monitoring.performance import NO_SCORES, errors, performance


def test_classification_metrics_and_why_scores_are_missing_without_probabilities() -> None:
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


@pytest.mark.parametrize("classes", [2, 3], ids=["binary", "three-classes"])
def test_roc_auc_and_log_loss_from_the_models_class_scores(classes: int) -> None:
    rng = np.random.default_rng(classes)
    x = rng.normal(size=(600, 4))
    y = (x[:, 0] * 2 + rng.normal(size=600) > 0).astype(int) + (classes == 3) * (x[:, 1] > 1)
    model = LogisticRegression().fit(x[:300], y[:300])
    test = pd.DataFrame(x[300:])
    rows = pd.DataFrame(
        {"prediction": model.predict(x[300:]), "label": y[300:].astype(float)}  # JSON floats
    )

    def scores(_rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        return model.classes_, model.predict_proba(test)

    found = {m.name: m for m in performance(rows, "classification", scores=scores)}
    proba = model.predict_proba(test)
    expected_auc = (
        roc_auc_score(y[300:], proba[:, 1])
        if classes == 2
        else roc_auc_score(y[300:], proba, multi_class="ovr")
    )
    assert found["roc_auc"].value == pytest.approx(expected_auc)
    assert found["log_loss"].value == pytest.approx(log_loss(y[300:], proba))
    assert found["roc_auc"].rows == 300


def test_labels_that_are_no_class_of_the_model_are_left_out_and_counted() -> None:
    classes = np.array(["no", "yes"])
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.5, 0.5]])
    rows = pd.DataFrame(
        {"prediction": ["no", "yes", "yes", "no"], "label": ["no", "yes", "maybe", "yes"]}
    )
    found = {
        m.name: m
        for m in performance(
            rows, "classification", ["log_loss"], scores=lambda r: (classes, proba)
        )
    }
    kept = [0, 1, 3]
    expected = log_loss(["no", "yes", "yes"], proba[kept], labels=classes)
    assert found["log_loss"].value == pytest.approx(expected) and found["log_loss"].rows == 3
    assert "1 labels are not classes" in found["log_loss"].note


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
