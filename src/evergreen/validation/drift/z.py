"""The two-proportion z-test, for binary columns (at most two distinct values).

Values are compared as strings. With the sorted categories ``a < b``, ``p`` is each side's share
of values other than ``a``; the statistic is ``(p_ref - p_cur) / sqrt(P (1 - P) (1/n_ref +
1/n_cur))`` with the pooled share ``P``, and the p-value is two-sided from the standard normal:
Evidently's ``z`` test. When both sides hold one and the same value the p-value is 1; a column
with more than two values is tested as "first category against the rest", as Evidently does.
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np

from evergreen.validation.drift.base import (
    ColumnDrift,
    DriftTest,
    check_p_threshold,
    require_values,
)
from evergreen.validation.drift.counts import CategoryCounts


class ZTest(DriftTest):
    """Two-proportion z-test; drifted when ``p_value < threshold``."""

    name: ClassVar[str] = "z"

    def __init__(self, threshold: float = 0.05) -> None:
        self.threshold = check_p_threshold(threshold)

    def test(self, reference: np.ndarray, current: np.ndarray, *, column: str = "") -> ColumnDrift:
        """z-test of the share of the second category (pass non-null values)."""
        ref = np.asarray(reference).astype(str)
        cur = np.asarray(current).astype(str)
        require_values(self.name, column, ref, cur)
        return self.test_counts(CategoryCounts.of_values(ref, cur), column=column)

    def test_counts(self, counts: CategoryCounts, *, column: str = "") -> ColumnDrift:
        """z-test of the share of the categories after the first one in ``counts``."""
        counts.require(self.name, column)
        if counts.categories.size == 1:
            return ColumnDrift.from_p_value(column, self.name, 0.0, 1.0, self.threshold)
        p_ref, p_cur = _other_shares(counts)
        n_ref, n_cur = counts.reference_rows, counts.current_rows
        pooled = (p_ref * n_ref + p_cur * n_cur) / (n_ref + n_cur)
        z = (p_ref - p_cur) / math.sqrt(pooled * (1 - pooled) * (1 / n_ref + 1 / n_cur))
        from scipy import stats  # imported on use: scipy.stats is slow to import

        p_value = float(2 * stats.norm.sf(abs(z)))
        return ColumnDrift.from_p_value(column, self.name, z, p_value, self.threshold)


def proportion_gap(reference: np.ndarray, current: np.ndarray) -> float:
    """``|p_ref - p_cur|``: how far the share of the second category moved (0 for one value)."""
    ref, cur = np.asarray(reference).astype(str), np.asarray(current).astype(str)
    return counts_proportion_gap(CategoryCounts.of_values(ref, cur))


def counts_proportion_gap(counts: CategoryCounts) -> float:
    """``proportion_gap`` of samples already counted."""
    if counts.categories.size == 1:
        return 0.0
    p_ref, p_cur = _other_shares(counts)
    return abs(p_ref - p_cur)


def _other_shares(counts: CategoryCounts) -> tuple[float, float]:
    """Each side's share of the values other than the first (smallest) category."""
    ordered = counts.in_order()
    n_ref, n_cur = counts.reference_rows, counts.current_rows
    return (
        (n_ref - int(ordered.reference[0])) / n_ref,
        (n_cur - int(ordered.current[0])) / n_cur,
    )
