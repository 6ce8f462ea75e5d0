"""The fast paths of drift detection against the plain computations they replace.

``wasserstein_distance`` against scipy's; category counts (counted once per side and shared by
the selection and the tests) against the tests run on ``category_values``; the numeric columns'
single conversion against ``numeric_values``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from evergreen.errors import InvalidInput
from evergreen.validation.drift import (
    ChiSquareTest,
    DriftSpec,
    JensenShannonTest,
    KSTest,
    PSITest,
    ZTest,
    detect_drift,
)
from evergreen.validation.drift import wasserstein as wasserstein_module
from evergreen.validation.drift.counts import CategoryCounts
from evergreen.validation.drift.selection import distinct_values
from evergreen.validation.drift.wasserstein import wasserstein_distance
from evergreen.validation.kinds import category_values, numeric_values

_FLOATS = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
_TIED = st.integers(-3, 3).map(float)  # few values, so most of them are tied
_SAMPLE = st.lists(_FLOATS, min_size=1, max_size=80) | st.lists(_TIED, min_size=1, max_size=80)


def _close_to_scipy(reference: np.ndarray, current: np.ndarray) -> None:
    expected = stats.wasserstein_distance(reference, current)
    assert wasserstein_distance(reference, current) == pytest.approx(
        expected, rel=1e-9, abs=1e-12 * max(1.0, float(np.abs(np.r_[reference, current]).max()))
    )


@settings(max_examples=300, deadline=None)
@given(_SAMPLE, _SAMPLE)
def test_wasserstein_equals_scipys_on_any_samples(
    reference: list[float], current: list[float]
) -> None:
    _close_to_scipy(np.array(reference), np.array(current))


@pytest.mark.parametrize(
    ("n_reference", "n_current"),
    [(1, 1), (1, 7), (7, 1), (1_000, 1_000), (30_011, 20_000), (20_000, 30_011), (4_096, 6_144)],
    ids=["one-each", "one-ref", "one-cur", "equal", "coprime", "coprime-flipped", "shared-factor"],
)
def test_wasserstein_equals_scipys_on_samples_of_any_sizes(
    n_reference: int, n_current: int
) -> None:
    rng = np.random.default_rng(n_reference + n_current)
    reference = rng.normal(0.0, 1.0, n_reference)
    current = rng.standard_t(3, n_current) + 0.2
    _close_to_scipy(reference, current)
    _close_to_scipy(np.round(reference, 1), np.round(current, 1))  # many ties across sides


def test_wasserstein_is_exact_on_a_hand_computed_case() -> None:
    # quantile functions: ref 0 on (0, 1/2], 1 on (1/2, 1]; cur 0 on (0, 1/3], 3 on (1/3, 1]
    assert wasserstein_distance(np.array([1.0, 0.0]), np.array([3.0, 0.0, 3.0])) == (
        pytest.approx((1 / 6) * 3 + (1 / 2) * 2)
    )


def test_wasserstein_does_not_reorder_its_inputs() -> None:
    reference, current = np.array([3.0, 1.0, 2.0]), np.array([5.0, 4.0])
    wasserstein_distance(reference, current)
    assert reference.tolist() == [3.0, 1.0, 2.0]
    assert current.tolist() == [5.0, 4.0]


def test_wasserstein_with_infinities_or_a_huge_grid_defers_to_scipy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    infinite = np.array([0.0, np.inf])
    assert wasserstein_distance(infinite, np.array([1.0])) == stats.wasserstein_distance(
        infinite, np.array([1.0])
    )
    rng = np.random.default_rng(3)
    reference, current = rng.normal(size=101), rng.normal(size=57)
    monkeypatch.setattr(wasserstein_module, "_MAX_GRID", 100)
    assert wasserstein_distance(reference, current) == stats.wasserstein_distance(
        reference, current
    )


def _mixed_frames(rows: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(rows)

    def frame(shift: float) -> pd.DataFrame:
        letters = rng.choice(
            np.array(["a", "b", "c", "d"]), rows, p=[0.4 - shift, 0.3, 0.2, 0.1 + shift]
        )
        text = pd.Series(letters, dtype=object)
        text[rng.random(rows) < 0.1] = None
        flags = rng.random(rows) < 0.3 + shift
        nullable_flags = pd.array(flags, dtype="boolean")
        nullable_flags[rng.random(rows) < 0.1] = pd.NA
        mixed = pd.Series(rng.choice(np.array([1, "1", 1.0, True, "x"], dtype=object), rows))
        return pd.DataFrame(
            {
                "text": text,
                "category": pd.Categorical(letters, categories=["a", "b", "c", "d", "unused"]),
                "flag": flags,
                "nullable_flag": nullable_flags,
                "string": pd.array(letters, dtype="string"),
                "mixed": mixed,
                "number": rng.normal(shift, 1.0, rows),
            }
        )

    return frame(0.0), frame(0.2)


@pytest.mark.parametrize("rows", [300, 3_000], ids=["small-hypothesis-tests", "large-distances"])
def test_detect_drift_equals_the_tests_on_category_values(rows: int) -> None:
    reference, current = _mixed_frames(rows)
    spec = DriftSpec(correction="none", min_effect=0.0)

    report = detect_drift(reference, current, spec=spec)

    tests = {"chi2": ChiSquareTest(), "z": ZTest(), "jensenshannon": JensenShannonTest()}
    for column in reference.columns.drop("number"):
        result = report.column(column)
        expected = tests[result.test].test(
            category_values(reference[column]).to_numpy(),
            category_values(current[column]).to_numpy(),
            column=column,
        )
        assert result.statistic == pytest.approx(expected.statistic, rel=1e-12), column
        if expected.p_value is None:
            assert result.p_value is None, column
        else:
            assert result.p_value == pytest.approx(expected.p_value, rel=1e-9), column
        assert result.drifted == expected.drifted, column


def test_mixed_objects_that_hash_alike_stay_apart() -> None:
    counts = CategoryCounts.of_series(
        pd.Series([1, "1", 1.0, True, None, "1"], dtype=object), pd.Series(["1"], dtype=object)
    )
    found = dict(zip(counts.categories.tolist(), counts.reference.tolist(), strict=True))
    assert found == {"1": 3, "1.0": 1, "True": 1}  # pandas alone would count {1: 5}
    assert (counts.reference_rows, counts.current_rows) == (5, 1)


def test_unused_categories_are_not_counted() -> None:
    reference = pd.Series(pd.Categorical(["a", "b", "a"], categories=["a", "b", "z"]))
    counts = CategoryCounts.of_series(reference, reference.iloc[:1])
    assert sorted(counts.categories.tolist()) == ["a", "b"]
    assert counts.in_order().reference.tolist() == [2, 1]
    assert counts.in_order().current.tolist() == [1, 0]


def test_counts_of_an_empty_side_are_refused() -> None:
    counts = CategoryCounts.of_series(pd.Series(["a"]), pd.Series([None], dtype=object))
    for test in (JensenShannonTest(), PSITest(), ChiSquareTest(), ZTest()):
        with pytest.raises(InvalidInput, match="the current sample has no non-null values"):
            test.test_counts(counts, column="c")


def test_the_default_test_counts_expands_the_counts_into_values() -> None:
    rng = np.random.default_rng(5)
    reference, current = (
        rng.integers(0, 9, 400).astype(float),
        rng.integers(1, 9, 300).astype(float),
    )

    from_counts = KSTest().test_counts(CategoryCounts.of_values(reference, current), column="k")

    expected = KSTest().test(reference, current, column="k")
    assert (from_counts.statistic, from_counts.p_value) == (expected.statistic, expected.p_value)


def test_distinct_values_looks_past_the_head_when_it_must() -> None:
    reference = np.r_[np.zeros(10_000), np.arange(1.0, 8.0)]  # the head holds one value
    current = np.zeros(10_000)
    assert distinct_values(reference, current) == 8
    assert distinct_values(np.arange(10_000.0), current) > 5  # a lower bound is enough


def test_numeric_columns_are_read_once_with_nulls_and_infinities_dropped() -> None:
    rng = np.random.default_rng(9)
    values = rng.normal(size=2_000)
    reference = pd.DataFrame({"x": pd.array(np.round(values * 100), dtype="Int64")})
    reference.loc[::7, "x"] = pd.NA
    current = pd.DataFrame({"x": np.r_[values[:1_500] * 100 + 20, np.inf, -np.inf, np.nan]})

    result = detect_drift(reference, current).column("x")

    ref, cur = numeric_values(reference["x"]), numeric_values(current["x"])
    cur = cur[np.isfinite(cur)]
    expected = stats.wasserstein_distance(ref, cur) / np.std(ref)
    assert result.test == "wasserstein"
    assert result.statistic == pytest.approx(expected, rel=1e-9)
