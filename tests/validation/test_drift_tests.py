"""The distance and z tests against numpy/scipy references, the selection rule, the spec,
the corrections and the tracker."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats
from scipy.spatial import distance

from evergreen.errors import InvalidInput
from evergreen.validation.drift import (
    ChiSquareTest,
    ColumnDrift,
    DriftReport,
    DriftSpec,
    DriftTracker,
    JensenShannonTest,
    KSTest,
    PSITest,
    WassersteinTest,
    ZTest,
    detect_drift,
    select_test,
)
from evergreen.validation.drift.correction import adjust_p_values


def _normal(seed: int, n: int, shift: float = 0.0) -> np.ndarray:
    return np.random.default_rng(seed).normal(shift, 1.0, size=n)


def _mix(seed: int, n: int, shares: list[float]) -> np.ndarray:
    return np.random.default_rng(seed).choice(np.array(["a", "b", "c", "d"]), n, p=shares)


def test_wasserstein_matches_scipy_normed_by_reference_std() -> None:
    reference, current = _normal(1, 2_000), _normal(2, 1_500, 0.3) * 2
    result = WassersteinTest().test(reference, current, column="x")
    expected = stats.wasserstein_distance(reference, current) / np.std(reference)
    assert result.statistic == pytest.approx(expected)
    assert (result.p_value, result.drifted, result.test) == (None, True, "wasserstein")


def test_wasserstein_of_a_constant_reference_uses_the_floor() -> None:
    result = WassersteinTest().test(np.zeros(10), np.full(10, 0.01))
    assert result.statistic == pytest.approx(0.01 / 0.001)


def test_jensen_shannon_matches_scipy_on_category_shares() -> None:
    reference = _mix(3, 4_000, [0.4, 0.3, 0.2, 0.1])
    current = _mix(4, 3_000, [0.25, 0.25, 0.25, 0.25])
    result = JensenShannonTest().test(reference, current)
    shares = [np.array([np.mean(s == c) for c in "abcd"]) for s in (reference, current)]
    assert result.statistic == pytest.approx(distance.jensenshannon(shares[0], shares[1]))
    assert result.drifted


def test_jensen_shannon_bins_numbers_with_sturges_edges() -> None:
    reference, current = _normal(5, 3_000), _normal(6, 2_000, 0.05)
    edges = np.histogram_bin_edges(np.concatenate([reference, current]), bins="sturges")
    shares = [np.histogram(s, edges)[0] / s.size for s in (reference, current)]
    result = JensenShannonTest().test(reference, current)
    assert result.statistic == pytest.approx(distance.jensenshannon(shares[0], shares[1]))
    assert not result.drifted


def _hand_psi(reference: np.ndarray, current: np.ndarray) -> float:
    """PSI written out with Evidently's empty-bin filling (no empty bins in these samples)."""
    categories = sorted(set(reference) | set(current))
    total = 0.0
    for category in categories:
        r = max(float(np.mean(reference == category)), 1e-4)
        c = max(float(np.mean(current == category)), 1e-4)
        total += (r - c) * np.log(r / c)
    return total


@pytest.mark.parametrize(
    ("shares", "drifted"),
    [([0.4, 0.3, 0.2, 0.1], False), ([0.1, 0.2, 0.3, 0.4], True)],
    ids=["same-mix", "reversed-mix"],
)
def test_psi_matches_a_hand_computation(shares: list[float], drifted: bool) -> None:
    reference, current = _mix(7, 5_000, [0.4, 0.3, 0.2, 0.1]), _mix(8, 5_000, shares)
    result = PSITest().test(reference, current)
    assert result.statistic == pytest.approx(_hand_psi(reference, current))
    assert result.drifted == drifted


def test_psi_fills_a_bin_empty_on_one_side() -> None:
    reference = np.array(["a"] * 60 + ["b"] * 40)
    current = np.array(["a"] * 50 + ["b"] * 30 + ["new"] * 20)
    r, c = np.array([0.6, 0.4, 1e-4]), np.array([0.5, 0.3, 0.2])
    expected = float(np.sum((r - c) * np.log(r / c)))
    assert PSITest().test(reference, current).statistic == pytest.approx(expected)


@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=200))
def test_psi_of_a_sample_against_itself_is_zero(values: list[float]) -> None:
    sample = np.array(values)
    assert PSITest().test(sample, sample).statistic == pytest.approx(0.0, abs=1e-12)


def test_z_test_matches_the_two_proportion_formula() -> None:
    reference = np.array(["no"] * 700 + ["yes"] * 300)
    current = np.array(["no"] * 600 + ["yes"] * 400)
    p1, p2, pooled = 0.3, 0.4, 0.35
    z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1 / 1_000 + 1 / 1_000))
    result = ZTest().test(reference, current)
    assert result.statistic == pytest.approx(z)
    assert result.p_value == pytest.approx(2 * stats.norm.sf(abs(z)))
    assert result.drifted


def test_z_test_on_one_shared_value() -> None:
    result = ZTest().test(np.array([True, True]), np.array([True]))
    assert (result.statistic, result.p_value, result.drifted) == (0.0, 1.0, False)


@pytest.mark.parametrize(
    ("test", "reference", "current"),
    [
        (KSTest(), _normal(12, 800), _normal(13, 800, 0.5)),
        (WassersteinTest(), _normal(12, 800), _normal(13, 800, 0.5)),
        (PSITest(), _normal(12, 800), _normal(13, 800, 0.5)),
        (JensenShannonTest(), _normal(12, 800), _normal(13, 800, 1.0)),
        (ChiSquareTest(), _mix(14, 800, [0.7, 0.1, 0.1, 0.1]), _mix(15, 800, [0.4, 0.2, 0.2, 0.2])),
        (ZTest(), _normal(16, 800) > 0, _normal(17, 800, 0.5) > 0),
    ],
    ids=["ks", "wasserstein", "psi", "jensenshannon", "chi2", "z"],
)
def test_identical_samples_do_not_drift_and_shifted_ones_do(
    test: KSTest, reference: np.ndarray, current: np.ndarray
) -> None:
    assert not test.test(reference, reference).drifted
    assert test.test(reference, current).drifted


@pytest.mark.parametrize(
    ("kind", "rows", "n_values", "expected"),
    [
        ("numeric", 1_000, 6, "ks"),
        ("numeric", 1_001, 6, "wasserstein"),
        ("numeric", 1_000, 5, "chi2"),
        ("numeric", 1_000, 2, "z"),
        ("numeric", 1_001, 5, "jensenshannon"),
        ("categorical", 1_000, 3, "chi2"),
        ("categorical", 1_000, 2, "z"),
        ("categorical", 1_001, 40, "jensenshannon"),
        ("boolean", 1_000, 2, "z"),
        ("boolean", 5_000, 2, "jensenshannon"),
    ],
    ids=lambda v: str(v),
)
def test_auto_selection_follows_evidentlys_rule(
    kind: str, rows: int, n_values: int, expected: str
) -> None:
    test = select_test(kind, reference_rows=rows, n_values=n_values)  # type: ignore[arg-type]
    assert test is not None
    assert test.name == expected
    assert test.threshold == (0.05 if expected in ("ks", "chi2", "z") else 0.1)


def test_a_method_can_be_forced_with_its_own_threshold() -> None:
    test = select_test("numeric", reference_rows=10, method="psi", threshold=0.2)
    assert isinstance(test, PSITest)
    assert test.threshold == 0.2
    with pytest.raises(InvalidInput, match="wasserstein test needs a numeric column"):
        select_test("categorical", method="wasserstein")


def test_spec_forces_methods_per_column() -> None:
    rng = np.random.default_rng(20)
    reference = pd.DataFrame({"x": rng.normal(size=300), "c": rng.choice(["a", "b", "c"], 300)})
    current = pd.DataFrame({"x": rng.normal(size=300), "c": rng.choice(["a", "b", "c"], 300)})
    spec = DriftSpec.model_validate(
        {"method": "psi", "by_column": {"x": {"method": "wasserstein", "threshold": 0.5}}}
    )
    report = detect_drift(reference, current, spec=spec)
    assert [(c.column, c.test, c.threshold) for c in report.columns] == [
        ("x", "wasserstein", 0.5),
        ("c", "psi", 0.1),
    ]
    with pytest.raises(InvalidInput, match=r"column 'c': the ks test needs a numeric column"):
        detect_drift(reference, current, spec=DriftSpec(method="ks"))


def test_spec_round_trips_and_names_its_kind() -> None:
    spec = DriftSpec(correction="bonferroni", min_effect=0.2, persistence=3)
    data = json.loads(spec.model_dump_json())
    assert data["kind"] == "drift-spec/v1"
    assert DriftSpec.model_validate(data) == spec
    with pytest.raises(ValueError, match="min_effect"):
        DriftSpec(min_effect=-1.0)


@pytest.mark.parametrize("seed", [0, 1, 2], ids=["seed0", "seed1", "seed2"])
def test_benjamini_hochberg_matches_scipy(seed: int) -> None:
    p = np.random.default_rng(seed).uniform(0, 0.2, size=12)
    np.testing.assert_allclose(adjust_p_values(p, "bh"), stats.false_discovery_control(p))
    np.testing.assert_allclose(adjust_p_values(p, "bonferroni"), np.minimum(p * 12, 1.0))


def _weak_frames(n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(21)
    columns = [f"x{i}" for i in range(8)]
    reference = pd.DataFrame({c: rng.normal(size=n) for c in columns})
    current = pd.DataFrame({c: rng.normal(size=n) for c in columns})
    current["x0"] = current["x0"] + 0.02
    return reference, current


def test_the_effect_floor_ignores_a_negligible_shift_in_a_huge_sample() -> None:
    reference, current = _weak_frames(200_000)
    spec = DriftSpec(method="ks")

    raw = detect_drift(reference, current, spec=spec.model_copy(update={"min_effect": 0.0}))
    calibrated = detect_drift(reference, current, spec=spec)

    assert raw.drifted_columns == ["x0"]
    x0 = calibrated.column("x0")
    assert not x0.drifted
    assert x0.effect is not None
    assert x0.effect < 0.1
    assert x0.note is not None
    assert "below 0.1" in x0.note


@pytest.mark.parametrize(
    ("correction", "drifted"),
    [("none", ["x3"]), ("bonferroni", []), ("bh", [])],
    ids=["none", "bonferroni", "bh"],
)
def test_a_correction_keeps_a_lone_weak_p_value_from_counting(
    correction: str, drifted: list[str]
) -> None:
    rng = np.random.default_rng(38)
    columns = [f"x{i}" for i in range(8)]
    reference = pd.DataFrame({c: rng.normal(size=400) for c in columns})
    current = pd.DataFrame({c: rng.normal(size=400) for c in columns})
    current["x3"] = current["x3"] + 0.17
    spec = DriftSpec.model_validate({"correction": correction, "min_effect": 0.0})

    report = detect_drift(reference, current, spec=spec)

    assert report.drifted_columns == drifted
    x3 = report.column("x3")
    assert x3.p_value is not None
    assert x3.p_value < 0.05
    assert (x3.p_adjusted is None) == (correction == "none")


def _report(drifted: list[bool]) -> DriftReport:
    return DriftReport(
        columns=[
            ColumnDrift.from_distance(f"c{i}", "wasserstein", 0.5 if d else 0.01, 0.1)
            for i, d in enumerate(drifted)
        ],
        share_threshold=0.5,
    )


def test_persistence_needs_consecutive_windows() -> None:
    tracker = DriftTracker(persistence=2)

    first = tracker.update(_report([True, False]))
    assert (first.drifted_columns, first.dataset_drift) == ([], False)
    assert first.column("c0").note == "drifted in 1 consecutive window(s); 2 are required"
    second = tracker.update(_report([False, False]))
    assert second.drifted_columns == []
    third = tracker.update(_report([True, True]))
    assert third.drifted_columns == []

    restored = DriftTracker.from_dict(json.loads(json.dumps(tracker.to_dict())))
    fourth = restored.update(_report([True, False]))
    assert (fourth.drifted_columns, fourth.dataset_drift) == (["c0"], True)


def test_persistence_of_one_changes_nothing() -> None:
    report = _report([True, False])
    assert DriftTracker(persistence=1).update(report) == report


def test_tracker_state_is_checked() -> None:
    with pytest.raises(InvalidInput, match="not a valid drift tracker"):
        DriftTracker.from_dict({"persistence": 0})


def test_infinities_are_dropped_and_an_all_infinite_column_is_skipped() -> None:
    rng = np.random.default_rng(23)
    reference = pd.DataFrame({"x": rng.normal(size=200), "y": rng.normal(size=200)})
    current = reference.assign(y=np.inf)
    current.loc[0, "x"] = np.inf

    report = detect_drift(reference, current)

    assert report.column("x").statistic is not None
    assert not report.column("x").drifted
    assert report.column("y").note == "no finite values in the current data"


def test_psi_with_reference_quantile_bins_matches_a_hand_computation() -> None:
    reference, current = _normal(24, 5_000), _normal(25, 4_000, 0.5)
    inner = np.quantile(reference, np.linspace(0, 1, 11)[1:-1])
    r = np.bincount(np.searchsorted(inner, reference), minlength=10) / reference.size
    c = np.bincount(np.searchsorted(inner, current), minlength=10) / current.size
    expected = float(np.sum((r - c) * np.log(r / c)))

    result = PSITest(bins="quantile").test(reference, current)

    assert np.allclose(r, 0.1, atol=1e-3)  # equal reference shares by construction
    assert result.statistic == pytest.approx(expected)
    assert result.drifted
    assert not PSITest(bins="quantile").test(reference, reference).drifted
