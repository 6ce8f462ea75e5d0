"""Calibrated alarms: the default ``DriftSpec`` keeps its false-alarm rate at every sample size.

Two samples are drawn from one distribution (normal, lognormal, a four-way category and a
binary flag) and compared with ``DriftSpec(share_threshold=0.25)``: the default calibrated spec
(``auto`` tests, Benjamini-Hochberg, effect floors) with the strictest data-set rule for four
columns, where any one drifted column raises the alarm. The rate of data-set alarms must stay
at or below the 5% significance level.

Repetitions (seeded, so the test is deterministic): 800 at 100 rows, 300 at 1,000, 30 at
10,000, 6 at 100,000 and 2 at 1,000,000. At the small sizes the hypothesis tests decide and the
repetitions measure the rate: 26/800 = 3.3% and 6/300 = 2.0% (without the correction and the
floor, as Evidently decides, 15.1% and 18.0%), and a one-sided binomial test rejects "the rate
is 5% or more" at the 5% level. From 10,000 rows the distance tests decide, whose statistics
shrink towards 0 as samples grow (no alarms in any repetition), so the test also checks every
statistic stays below half its threshold: no alarm was close (at most 41%, 10% and 3% of the
threshold at 10,000, 100,000 and 1,000,000 rows).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from evergreen.validation.drift import DriftSpec, detect_drift

LEVEL = 0.05
_CATEGORIES = np.array(["a", "b", "c", "d"])
_SPEC = DriftSpec(share_threshold=0.25)


def _sample(rng: np.random.Generator, n: int, shift: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "normal": rng.normal(shift, 1.0, size=n),
            "lognormal": rng.lognormal(0.0, 1.0, size=n),
            "category": rng.choice(_CATEGORIES, n, p=[0.4, 0.3, 0.2, 0.1]),
            "binary": rng.random(n) < 0.3,
        }
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("n", "repetitions"),
    [(100, 800), (1_000, 300), (10_000, 30), (100_000, 6), (1_000_000, 2)],
    ids=["100", "1k", "10k", "100k", "1M"],
)
def test_false_alarm_rate_stays_at_the_level(n: int, repetitions: int) -> None:
    alarms = 0
    closest = 0.0  # the largest distance statistic as a share of its threshold
    for repetition in range(repetitions):
        rng = np.random.default_rng([n, repetition])
        report = detect_drift(_sample(rng, n), _sample(rng, n), spec=_SPEC)
        alarms += report.dataset_drift
        for column in report.columns:
            if column.p_value is None and column.statistic is not None:
                closest = max(closest, column.statistic / column.threshold)
    assert alarms / repetitions <= LEVEL
    if n <= 1_000:
        assert stats.binomtest(alarms, repetitions, LEVEL, alternative="less").pvalue < 0.05
    else:
        assert closest < 0.5


@pytest.mark.parametrize("n", [1_000, 10_000, 100_000], ids=["1k", "10k", "100k"])
def test_a_half_sd_shift_is_still_detected(n: int) -> None:
    rng = np.random.default_rng([n, 99])
    report = detect_drift(_sample(rng, n), _sample(rng, n, shift=0.5), spec=_SPEC)
    assert report.drifted_columns == ["normal"]
    assert report.dataset_drift
