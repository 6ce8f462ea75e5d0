"""Statistics deltas between two datasets (what `data diff` prints beside the schema)."""

from __future__ import annotations

import pandas as pd
import pytest

from evergreen.validation.statistics import compute_statistics
from evergreen.validation.stats_diff import statistics_delta


def delta_of(a: pd.DataFrame, b: pd.DataFrame) -> dict[str, dict[str, object]]:
    deltas = statistics_delta(compute_statistics(a), compute_statistics(b))
    return {d.column: d.to_dict() for d in deltas}


def test_equal_data_has_no_deltas() -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "c": ["a", "b", "a"]})
    assert delta_of(frame, frame.copy()) == {}


def test_numeric_changes_are_listed_with_their_delta() -> None:
    a = pd.DataFrame({"x": [1.0, 2.0, 3.0], "same": [5, 5, 6]})
    b = pd.DataFrame({"x": [1.0, 2.0, None, 7.0], "same": [5, 5, 6, 6]})
    deltas = delta_of(a, b)
    changes = deltas["x"]["changes"]
    assert changes["mean"] == {"a": 2.0, "b": pytest.approx(10 / 3), "delta": pytest.approx(4 / 3)}
    assert changes["null_ratio"] == {"a": 0.0, "b": 0.25, "delta": 0.25}
    assert changes["max"] == {"a": 3.0, "b": 7.0, "delta": 4.0}
    assert "min" not in changes and "count" not in changes  # 1.0 and 3 non-null on both sides
    assert set(deltas["same"]["changes"]) == {"count", "mean"}  # sample std 0.577 on both


def test_categories_that_appear_or_vanish_are_named() -> None:
    a = pd.DataFrame({"city": ["Bern", "Basel", "Bern"]})
    b = pd.DataFrame({"city": ["Bern", "Zurich", "Bern"]})
    city = delta_of(a, b)["city"]
    assert (city["values_added"], city["values_removed"]) == (["Zurich"], ["Basel"])
    line = statistics_delta(compute_statistics(a), compute_statistics(b))[0].describe()
    assert line == "city: new values Zurich; values gone Basel"


def test_a_column_that_changes_kind_is_reported() -> None:
    a = pd.DataFrame({"v": [1.0, 2.0]})
    b = pd.DataFrame({"v": ["one", "two"]})
    v = delta_of(a, b)["v"]
    assert (v["kind_a"], v["kind_b"]) == ("numeric", "categorical")
    assert v["changes"]["mean"] == {"a": 1.5, "b": None, "delta": None}
