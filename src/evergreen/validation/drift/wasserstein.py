"""The normed Wasserstein distance, for numeric columns in large samples.

The statistic is the first Wasserstein (earth mover's) distance between the two samples,
divided by the (population) standard deviation of the reference, floored at 0.001 so a constant
reference does not divide by zero: Evidently's ``wasserstein`` test. A value of 0.1 means the
current values sit, on average, a tenth of a reference standard deviation away; the column has
drifted when the statistic reaches ``threshold`` (default 0.1, Evidently's). Unlike a p-value,
it does not shrink towards "drifted" as samples grow, so it suits large samples.

The distance is :func:`wasserstein_distance`, equal to ``scipy.stats.wasserstein_distance``
(to rounding) but several times faster on large samples; see there for why.
"""

from __future__ import annotations

import math
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
_MAX_GRID = 2**62
"""The largest quantile grid (``n * m / gcd(n, m)``) computed in int64 without overflow."""


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
    scale = max(float(np.std(reference)), _MIN_SCALE)
    return wasserstein_distance(reference, current) / scale


def wasserstein_distance(reference: np.ndarray, current: np.ndarray) -> float:
    """The first Wasserstein distance between two non-empty float samples.

    scipy integrates ``|F_ref - F_cur|`` over the merged values, which costs two argsorts, a
    sort of both samples together and two binary searches of every merged value. The same
    distance is the integral over ``t`` in (0, 1) of ``|Q_ref(t) - Q_cur(t)|``, the gap
    between the quantile functions, which are step functions of the sorted samples. Their
    steps sit at ``i / n`` and ``j / m``; scaled by ``n * m / gcd(n, m)`` these are integers,
    so the merged steps need no data at all, and each piece of the integral is a plain
    look-up in the two sorted samples. Two ``np.sort`` calls (vectorised, GIL-free) then do
    most of the work. With infinities (or a grid too large for int64) it defers to scipy.
    """
    ref, cur = np.sort(reference), np.sort(current)
    n, m = ref.size, cur.size
    step = math.gcd(n, m)
    ref_step, cur_step = m // step, n // step  # widths of one quantile step, scaled
    total = n * ref_step
    ends_finite = np.isfinite([ref[0], ref[-1], cur[0], cur[-1]]).all()
    if not ends_finite or total > _MAX_GRID:
        from scipy import stats  # imported on use: scipy.stats is slow to import

        return float(stats.wasserstein_distance(ref, cur))
    if n == m:  # the steps coincide: the mean gap between matching order statistics
        return float(np.mean(np.abs(ref - cur)))
    grid = np.concatenate(
        (np.arange(0, total, ref_step, dtype=np.int64), np.arange(0, total + 1, cur_step))
    )
    grid.sort(kind="stable")  # two sorted runs: a linear merge
    starts = grid[:-1]
    gaps = np.abs(ref[starts // ref_step] - cur[starts // cur_step])
    return float(np.sum(np.diff(grid) * gaps)) / total
