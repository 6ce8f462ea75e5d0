from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from evergreen.errors import InvalidInput
from evergreen.validation.drift import (
    ChiSquareTest,
    ColumnDrift,
    DriftReport,
    KSTest,
    ZTest,
    detect_drift,
    select_test,
)


@pytest.mark.parametrize(
    ("n_reference", "n_current", "shift"),
    [(30, 25, 0.0), (500, 800, 0.2), (20_000, 15_000, 0.01)],
    ids=["small-exact", "medium", "large-asymptotic"],
)
def test_ks_matches_scipy(n_reference: int, n_current: int, shift: float) -> None:
    rng = np.random.default_rng(1)
    reference = rng.normal(size=n_reference)
    current = rng.normal(shift, size=n_current)

    result = KSTest().test(reference, current, column="x")

    expected = stats.ks_2samp(reference, current)
    assert (result.statistic, result.p_value) == (expected.statistic, expected.pvalue)
    assert result.drifted == (expected.pvalue < 0.05)
    assert (result.column, result.test, result.threshold) == ("x", "ks", 0.05)


def test_ks_on_samples_of_one_distribution_rarely_drifts() -> None:
    rng = np.random.default_rng(2)
    test = KSTest()
    drifted = [test.test(rng.normal(size=300), rng.normal(size=300)).drifted for _ in range(200)]
    assert sum(drifted) / len(drifted) <= 0.1  # about 0.05 expected


def test_ks_detects_a_shifted_mean() -> None:
    rng = np.random.default_rng(3)
    result = KSTest().test(rng.normal(size=500), rng.normal(0.5, size=500))
    assert result.drifted
    assert result.p_value is not None
    assert result.p_value < 1e-6


def test_ks_drops_nans_and_rejects_empty_or_text() -> None:
    with_nans = KSTest().test(np.array([1.0, np.nan, 2.0]), np.array([1.0, 2.0, np.nan]))
    assert (with_nans.statistic, with_nans.p_value) == (0.0, 1.0)
    with pytest.raises(InvalidInput, match=r"column 'x'.*reference sample has no non-null"):
        KSTest().test(np.array([np.nan]), np.array([1.0]), column="x")
    with pytest.raises(InvalidInput, match=r"needs numeric values.*chi-square"):
        KSTest().test(np.array(["a", "b"]), np.array(["a"]))


def _categories(counts: dict[str, int]) -> np.ndarray:
    return np.array([value for value, n in counts.items() for _ in range(n)])


def test_chi_square_matches_scipy_on_the_contingency_table() -> None:
    reference = _categories({"clear": 500, "mist": 300, "rain": 200})
    current = _categories({"clear": 380, "mist": 320, "rain": 300})

    result = ChiSquareTest().test(reference, current, column="weather")

    expected = stats.chi2_contingency([[500, 300, 200], [380, 320, 300]], correction=False)
    assert result.statistic == pytest.approx(expected.statistic)
    assert result.p_value == pytest.approx(expected.pvalue)
    assert result.drifted


def test_chi_square_on_samples_of_one_mix_rarely_drifts() -> None:
    rng = np.random.default_rng(4)
    categories, mix = ["clear", "mist", "rain"], [0.5, 0.3, 0.2]
    test = ChiSquareTest()
    drifted = [
        test.test(rng.choice(categories, 400, p=mix), rng.choice(categories, 400, p=mix)).drifted
        for _ in range(200)
    ]
    assert sum(drifted) / len(drifted) <= 0.1  # about 0.05 expected


def test_chi_square_detects_a_changed_mix() -> None:
    rng = np.random.default_rng(6)
    categories = ["clear", "mist", "rain"]
    reference = rng.choice(categories, 1_000, p=[0.5, 0.3, 0.2])
    current = rng.choice(categories, 1_000, p=[0.4, 0.3, 0.3])
    assert ChiSquareTest().test(reference, current).drifted


@pytest.mark.parametrize(
    ("current", "drifted"),
    [
        ({"a": 500, "b": 498, "new": 2}, False),
        ({"a": 400, "b": 400, "new": 200}, True),
        ({"new": 10}, True),
    ],
    ids=["a-rare-new-category", "a-frequent-new-category", "only-new-categories"],
)
def test_chi_square_handles_categories_unseen_in_the_reference(
    current: dict[str, int], drifted: bool
) -> None:
    result = ChiSquareTest().test(_categories({"a": 500, "b": 500}), _categories(current))
    assert result.statistic is not None
    assert np.isfinite(result.statistic)
    assert result.drifted == drifted


def test_chi_square_on_a_single_shared_category() -> None:
    result = ChiSquareTest().test(np.array(["a", "a"]), np.array(["a"]))
    assert (result.statistic, result.p_value, result.drifted) == (0.0, 1.0, False)


@given(st.lists(st.sampled_from(["a", "b", "c", "d", "e"]), min_size=1, max_size=300))
def test_chi_square_of_a_sample_against_itself_never_drifts(values: list[str]) -> None:
    sample = np.array(values)
    assert not ChiSquareTest().test(sample, sample).drifted


@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=300))
def test_ks_of_a_sample_against_itself_is_zero(values: list[float]) -> None:
    result = KSTest().test(np.array(values), np.array(values))
    assert (result.statistic, result.p_value, result.drifted) == (0.0, 1.0, False)


@pytest.mark.parametrize(
    ("kind", "test"),
    [("numeric", KSTest), ("categorical", ChiSquareTest), ("boolean", ZTest)],
    ids=["numeric", "categorical", "boolean"],
)
def test_select_test(kind: str, test: type) -> None:
    chosen = select_test(kind, 0.01)  # type: ignore[arg-type]
    assert isinstance(chosen, test)
    assert chosen is not None
    assert chosen.threshold == 0.01
    assert select_test("datetime") is None


def _frames(seed: int = 5, n: int = 1_000) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)

    def frame(shift: float, mix: list[float]) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "a": rng.normal(size=n),
                "b": rng.normal(shift, size=n),
                "c": rng.choice(["x", "y", "z"], size=n, p=mix),
                "d": rng.integers(0, 10, size=n),
            }
        )

    return frame(0.0, [0.6, 0.3, 0.1]), frame(1.0, [0.6, 0.3, 0.1])


def test_drift_share_counts_drifted_columns() -> None:
    reference, current = _frames()

    report = detect_drift(reference, current)

    assert [(c.column, c.test) for c in report.columns] == [
        ("a", "ks"),
        ("b", "ks"),
        ("c", "chi2"),
        ("d", "ks"),
    ]
    assert report.drifted_columns == ["b"]
    assert report.drift_share == 0.25
    assert not report.dataset_drift
    assert detect_drift(reference, current, share_threshold=0.25).dataset_drift


def test_columns_restrict_the_report() -> None:
    reference, current = _frames()
    report = detect_drift(reference, current, columns=["b", "c"])
    assert [c.column for c in report.columns] == ["b", "c"]
    assert (report.drift_share, report.dataset_drift) == (0.5, True)


def test_missing_columns_are_named() -> None:
    reference, current = _frames()
    with pytest.raises(
        InvalidInput, match=r"reference data lacks \['zz'\]; current data lacks \['a', 'zz'\]"
    ):
        detect_drift(reference, current.drop(columns="a"), columns=["a", "b", "zz"])


def test_columns_without_values_are_skipped_and_noted() -> None:
    reference, current = _frames()
    current = current.assign(a=np.nan, c=None)
    reference = reference.assign(when=pd.Timestamp("2024-01-01"))
    current = current.assign(when=pd.Timestamp("2024-02-01"), d=current["d"].astype(str))

    report = detect_drift(reference, current)

    skipped = {c.column: c.note for c in report.columns if c.skipped}
    assert skipped == {
        "a": "no non-null values in the current data",
        "c": "no non-null values in the current data",
        "d": "kind changed from numeric to categorical; see the batch anomalies",
        "when": "no drift test for datetime columns",
    }
    assert report.skipped_columns == ["a", "c", "d", "when"]
    assert report.tested_columns == ["b"]
    assert (report.drifted_columns, report.drift_share) == (["b"], 1.0)


def test_nothing_testable_means_no_dataset_drift() -> None:
    reference = pd.DataFrame({"a": [np.nan, np.nan]})
    report = detect_drift(reference, pd.DataFrame({"a": [1.0]}))
    assert (report.drift_share, report.dataset_drift) == (0.0, False)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"p_threshold": 0.0}, "p-value threshold must be between 0 and 1"),
        ({"p_threshold": 1.5}, "p-value threshold must be between 0 and 1"),
        ({"share_threshold": 0.0}, r"share_threshold must be in \(0, 1\]"),
    ],
    ids=["p-zero", "p-above-one", "share-zero"],
)
def test_thresholds_are_checked(kwargs: dict[str, float], message: str) -> None:
    reference, current = _frames()
    with pytest.raises(InvalidInput, match=message):
        detect_drift(reference, current, **kwargs)  # type: ignore[arg-type]


def test_no_shared_columns() -> None:
    with pytest.raises(InvalidInput, match="share no columns"):
        detect_drift(pd.DataFrame({"a": [1]}), pd.DataFrame({"b": [1]}))


def test_report_round_trips_through_json() -> None:
    reference, current = _frames()
    report = detect_drift(reference, current.assign(a=np.nan))
    data = json.loads(json.dumps(report.to_dict()))
    assert data["drift_share"] == report.drift_share
    assert DriftReport.from_dict(data) == report


def test_column_drift_must_agree_with_its_p_value() -> None:
    with pytest.raises(ValueError, match="drifted must be p_value < threshold"):
        ColumnDrift(column="x", test="ks", statistic=0.1, p_value=0.5, threshold=0.05, drifted=True)


def test_year_over_year_drift_in_bike_sharing(bike_sharing: pd.DataFrame) -> None:
    features = bike_sharing.drop(columns=["instant", "dteday", "yr"])
    y2011, y2012 = features[bike_sharing["yr"] == 0], features[bike_sharing["yr"] == 1]

    report = detect_drift(y2011, y2012, columns=["cnt", "registered"])

    assert report.drifted_columns == ["cnt", "registered"]
    assert report.dataset_drift


def test_random_halves_of_2011_do_not_drift(bike_sharing: pd.DataFrame) -> None:
    y2011 = bike_sharing[bike_sharing["yr"] == 0].drop(columns=["instant", "dteday"])
    shuffled = y2011.sample(frac=1.0, random_state=11)
    first, second = shuffled.iloc[: len(shuffled) // 2], shuffled.iloc[len(shuffled) // 2 :]

    report = detect_drift(first, second)

    assert len(report.columns) == 14
    assert not report.dataset_drift
    assert report.drift_share < 0.2
