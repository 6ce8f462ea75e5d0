"""The gate: absolute bounds, improvement over production, and slices that may not regress."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evergreen.errors import InvalidInput
from evergreen.training.gate import GateSpec, judge
from evergreen.training.metrics import get_metric
from evergreen.training.slices import SliceScore, slice_scores

RMSE = get_metric("rmse")


def holdout(rows: int = 400, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "season": rng.choice([1, 2, 3, 4], rows),
            "temp": rng.uniform(0, 1, rows),
            "city": rng.choice(["Bern", "Basel", None], rows),
        }
    )
    return frame, rng.normal(100, 10, rows)


def test_slices_by_value_by_quantile_bin_and_with_nulls() -> None:
    frame, y = holdout()
    scores = slice_scores(frame, ("season", "temp", "city"), y, y + 1, y + 2, RMSE, min_rows=30)
    by_column: dict[str, list[SliceScore]] = {}
    for score in scores:
        by_column.setdefault(score.column, []).append(score)
    assert sorted(s.value for s in by_column["season"]) == ["1", "2", "3", "4"]
    assert len(by_column["temp"]) == 5  # 400 distinct values: five quantile bins
    assert sorted(s.value for s in by_column["city"]) == ["Basel", "Bern", "null"]
    assert sum(s.rows for s in by_column["season"]) == 400
    assert all(
        s.candidate == pytest.approx(1.0) and s.baseline == pytest.approx(2.0) for s in scores
    )


def test_small_slices_are_left_out_and_a_missing_column_is_named() -> None:
    frame, y = holdout(rows=100)
    frame.loc[:2, "season"] = 9  # three rows: below min_rows
    values = {s.value for s in slice_scores(frame, ("season",), y, y, None, RMSE, min_rows=10)}
    assert "9" not in values and values <= {"1", "2", "3", "4"}
    with pytest.raises(InvalidInput, match=r"slices by \['region'\]"):
        slice_scores(frame, ("region",), y, y, None, RMSE)


def test_a_slice_that_regresses_fails_a_candidate_that_wins_overall() -> None:
    frame, y = holdout()
    candidate = y + np.where(frame["season"] == 4, 6.0, 0.5)  # better overall, worse in winter
    baseline = y + 4.0
    spec = GateSpec(slices=("season",), max_slice_regression=0.25)
    scores = slice_scores(frame, spec.slices, y, candidate, baseline, RMSE)
    overall_c, overall_b = RMSE(y, candidate), RMSE(y, baseline)
    assert overall_c < overall_b

    verdict = judge(spec, "rmse", overall_c, overall_b, 3, scores)

    assert not verdict.passed
    assert "1 slice(s) regress by more than 25%: season=4" in verdict.reason
    assert "+50%" in verdict.reason  # 6 against 4
    assert {s["value"] for s in verdict.slices} == {"1", "2", "3", "4"}
    loose = judge(
        spec.model_copy(update={"max_slice_regression": 0.6}),
        "rmse",
        overall_c,
        overall_b,
        3,
        scores,
    )
    assert loose.passed and "no slice regresses by more than 60%" in loose.reason


def test_a_first_model_records_its_slices_without_judging_them() -> None:
    frame, y = holdout()
    scores = slice_scores(frame, ("season",), y, y + 3, None, RMSE)
    verdict = judge(GateSpec(slices=("season",)), "rmse", 3.0, None, None, scores)
    assert verdict.passed and len(verdict.slices) == 4
    assert all(s["baseline"] is None for s in verdict.slices)


@pytest.mark.parametrize(
    ("candidate", "baseline", "greater", "expected"),
    [
        (110.0, 100.0, False, 0.1),
        (90.0, 100.0, True, 0.1),
        (90.0, 100.0, False, -0.1),
        (1.0, 0.0, False, float("inf")),
    ],
)
def test_regression_is_relative_and_follows_the_direction(
    candidate: float, baseline: float, greater: bool, expected: float
) -> None:
    score = SliceScore("c", "v", 50, candidate, baseline)
    assert score.regression(greater) == pytest.approx(expected)
