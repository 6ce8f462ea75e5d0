"""The normed Wasserstein distance, for numeric columns in large samples.

The statistic is scipy's first Wasserstein (earth mover's) distance between the two samples,
divided by the (population) standard deviation of the reference, floored at 0.001 so a constant
reference does not divide by zero: Evidently's ``wasserstein`` test. A value of 0.1 means the
current values sit, on average, a tenth of a reference standard deviation away; the column has
drifted when the statistic reaches ``threshold`` (default 0.1, Evidently's). Unlike a p-value,
it does not shrink towards "drifted" as samples grow, so it suits large samples.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from evergreen.validation.drift.base import (
    ColumnDrift,
    DriftTest,
    check_distance_threshold,
    float_values,
    require_values,
)

_MIN_SCALE = 0.001


class WassersteinTest(DriftTest):
    """Wasserstein distance normed by the reference standard deviation; drifted when
    ``statistic >= threshold``."""

    name: ClassVar[str] = "wasserstein"

    def __init__(self, threshold: float = 0.1) -> None:
        self.threshold = check_distance_threshold(threshold)

    def test(self, reference: np.ndarray, current: np.ndarray, *, column: str = "") -> ColumnDrift:
        """Normed Wasserstein distance between the numeric values (NaNs are dropped)."""
        ref = float_values(self.name, column, reference)
        cur = float_values(self.name, column, current)
        require_values(self.name, column, ref, cur)
        return ColumnDrift.from_distance(
            column, self.name, normed_wasserstein(ref, cur), self.threshold
        )


def normed_wasserstein(reference: np.ndarray, current: np.ndarray) -> float:
    """Wasserstein distance of two non-empty float samples over the reference's std."""
    from scipy import stats  # imported on use: scipy.stats is slow to import

    scale = max(float(np.std(reference)), _MIN_SCALE)
    return float(stats.wasserstein_distance(reference, current)) / scale
