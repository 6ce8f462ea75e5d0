from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from evergreen.errors import InvalidInput
from evergreen.validation.statistics import (
    HISTOGRAM_BINS,
    QUANTILES,
    TOP_VALUES,
    DatasetStatistics,
    compute_statistics,
)


def test_numeric_statistics_match_numpy() -> None:
    rng = np.random.default_rng(7)
    values = rng.normal(10.0, 3.0, size=1_000)
    column = pd.Series(values).mask(rng.random(1_000) < 0.1)
    finite = column.dropna().to_numpy()

    stats = compute_statistics(pd.DataFrame({"x": column})).columns["x"]

    assert stats.kind == "numeric"
    assert stats.count == finite.size
    assert stats.nulls == 1_000 - finite.size
    assert stats.min == finite.min()
    assert stats.max == finite.max()
    assert stats.mean == pytest.approx(np.mean(finite))
    assert stats.std == pytest.approx(np.std(finite, ddof=1))
    assert stats.quantiles == pytest.approx(
        dict(zip(QUANTILES, np.quantile(finite, list(QUANTILES.values())), strict=True))
    )
    counts, edges = np.histogram(finite, bins=HISTOGRAM_BINS)
    assert stats.histogram is not None
    assert stats.histogram.counts == counts.tolist()
    assert stats.histogram.edges == pytest.approx(edges.tolist())


@pytest.mark.parametrize(
    ("series", "kind"),
    [
        (pd.Series([1, 2, 3]), "numeric"),
        (pd.Series([1.5, None]), "numeric"),
        (pd.Series([1, None], dtype="Int64"), "numeric"),
        (pd.Series([1, 2.5, None], dtype=object), "numeric"),
        (pd.Series([True, False]), "boolean"),
        (pd.Series([True, None], dtype="boolean"), "boolean"),
        (pd.Series([True, None], dtype=object), "boolean"),
        (pd.Series(["a", "b"]), "categorical"),
        (pd.Series(["a", 1], dtype=object), "categorical"),
        (pd.Series(["a", "b"], dtype="category"), "categorical"),
        (pd.Series([1, 2], dtype="category"), "categorical"),
        (pd.Series(pd.to_datetime(["2024-01-01", None])), "datetime"),
        (pd.Series(pd.to_datetime(["2024-01-01"]).tz_localize("UTC")), "datetime"),
    ],
    ids=[
        "int64",
        "float64",
        "nullable-int",
        "object-numbers",
        "bool",
        "nullable-boolean",
        "object-bools",
        "str",
        "object-mixed",
        "category",
        "category-of-ints",
        "datetime",
        "datetime-tz",
    ],
)
def test_kinds(series: pd.Series, kind: str) -> None:
    assert compute_statistics(pd.DataFrame({"c": series})).columns["c"].kind == kind


def test_nulls_are_counted_whatever_their_spelling() -> None:
    frame = pd.DataFrame(
        {
            "num": [1.0, np.nan, None, 4.0],
            "text": ["a", None, np.nan, "b"],
            "flag": pd.Series([True, pd.NA, False, pd.NA], dtype="boolean"),
        }
    )
    stats = compute_statistics(frame)
    assert stats.rows == 4
    assert {name: (c.count, c.nulls) for name, c in stats.columns.items()} == {
        "num": (2, 2),
        "text": (2, 2),
        "flag": (2, 2),
    }
    assert stats.columns["num"].null_ratio == 0.5


def test_top_values_are_strings_most_frequent_first_and_capped() -> None:
    values = [f"v{i:03d}" for i in range(80) for _ in range(1 + i % 3)]
    stats = compute_statistics(pd.DataFrame({"c": values})).columns["c"]
    assert stats.distinct == 80
    assert stats.top_values is not None
    assert len(stats.top_values) == TOP_VALUES
    counts = list(stats.top_values.values())
    assert counts == sorted(counts, reverse=True)
    assert next(iter(stats.top_values)) == "v002"  # count 3, smallest name among ties


def test_boolean_top_values() -> None:
    stats = compute_statistics(pd.DataFrame({"b": [True, True, False]})).columns["b"]
    assert (stats.kind, stats.dtype, stats.top_values) == (
        "boolean",
        "bool",
        {"True": 2, "False": 1},
    )
    assert stats.mean is None


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([5.0], {"min": 5.0, "max": 5.0, "mean": 5.0, "std": 0.0}),
        ([2.0, 2.0, 2.0], {"min": 2.0, "max": 2.0, "mean": 2.0, "std": 0.0}),
        ([1.0, np.inf, 3.0, -np.inf], {"min": 1.0, "max": 3.0, "mean": 2.0}),
        ([np.nan, np.nan], {"min": None, "max": None, "mean": None, "std": None}),
        ([], {"min": None, "max": None, "mean": None, "std": None}),
    ],
    ids=["single-value", "constant", "infinities-excluded", "all-null", "empty"],
)
def test_degenerate_numeric_columns(values: list[float], expected: dict[str, float]) -> None:
    stats = compute_statistics(pd.DataFrame({"x": pd.Series(values, dtype=float)})).columns["x"]
    assert {key: getattr(stats, key) for key in expected} == expected


def test_round_trips_through_json(bike_sharing: pd.DataFrame) -> None:
    stats = compute_statistics(bike_sharing)
    assert DatasetStatistics.from_dict(json.loads(json.dumps(stats.to_dict()))) == stats


def test_from_dict_names_the_bad_key() -> None:
    data = compute_statistics(pd.DataFrame({"x": [1, 2]})).to_dict()
    data["columns"]["x"]["mena"] = 1.5
    with pytest.raises(InvalidInput, match=r"stats\.json .*columns\.x.*'mena'.*'mean'"):
        DatasetStatistics.from_dict(data, source="stats.json")


def test_duplicate_column_names_are_rejected() -> None:
    frame = pd.DataFrame([[1, 2]], columns=["a", "a"])
    with pytest.raises(InvalidInput, match=r"duplicate column names \['a'\]"):
        compute_statistics(frame)


@given(
    st.lists(
        st.one_of(st.none(), st.floats(min_value=-1e9, max_value=1e9, allow_nan=False)),
        min_size=1,
        max_size=60,
    )
)
def test_numeric_invariants(values: list[float | None]) -> None:
    stats = compute_statistics(pd.DataFrame({"x": pd.Series(values, dtype=float)})).columns["x"]
    assert stats.count + stats.nulls == len(values)
    if stats.count == 0:
        assert stats.histogram is None
        return
    assert stats.quantiles is not None
    assert stats.histogram is not None
    assert stats.min is not None
    assert stats.max is not None
    quantiles = list(stats.quantiles.values())
    assert quantiles == sorted(quantiles)
    assert stats.min <= quantiles[0]
    assert quantiles[-1] <= stats.max
    assert sum(stats.histogram.counts) == stats.count
