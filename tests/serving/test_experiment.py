"""The experiment's statistics on their own: error-rate intervals and the always-valid test."""

from __future__ import annotations

import numpy as np
import pytest

from evergreen.serving import experiment


def test_wilson_interval_covers_the_rate_and_narrows_with_more_data() -> None:
    low, high = experiment._wilson(5, 100)
    assert low < 0.05 < high
    low2, high2 = experiment._wilson(50, 1000)
    assert high2 - low2 < high - low
    assert experiment._wilson(0, 10)[0] == 0.0


def test_always_valid_test_keeps_false_alarms_below_alpha_under_the_null() -> None:
    rng = np.random.default_rng(3)
    alarms = 0
    runs = 300
    for _ in range(runs):
        differences = rng.normal(0.0, 1.0, 400)  # no true difference; checked 50 times each
        if experiment._paired(differences).p_value < 0.05:
            alarms += 1
    assert alarms / runs <= 0.06


def test_always_valid_test_finds_a_real_difference() -> None:
    rng = np.random.default_rng(4)
    found = sum(experiment._paired(rng.normal(0.3, 1.0, 400)).p_value < 0.05 for _ in range(100))
    assert found >= 90


def test_independent_samples_compare_means() -> None:
    rng = np.random.default_rng(5)
    worse = rng.normal(1.5, 1.0, 500)
    better = rng.normal(1.0, 1.0, 500)
    result = experiment._independent(worse, better)
    assert result.difference == pytest.approx(0.5, abs=0.15)
    assert result.ci_low > 0 and result.p_value < 0.05
    same = experiment._independent(rng.normal(1, 1, 300), rng.normal(1, 1, 300))
    assert same.p_value > 0.05 or same.ci_low < 0 < same.ci_high
