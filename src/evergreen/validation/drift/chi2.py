"""A chi-square test of category counts, for categorical and boolean columns.

The reference and current counts over the union of categories form a 2 x k contingency table,
tested for homogeneity with ``scipy.stats.chi2_contingency`` (Pearson's statistic, ``k - 1``
degrees of freedom, no Yates correction so 2-category columns are treated like the rest).
Each cell's expected count is its row total times the pooled frequency of its category.

Why not goodness of fit (``scipy.stats.chisquare`` with the reference frequencies as the
expected ones)? It treats the reference as the exact distribution rather than a sample of it,
so when the samples are of similar size it flags drift far too often: over 20% of the time at
a 5% threshold for two samples of 400 from one distribution, against about 5% here. When the
reference is much larger than the current sample the two tests agree.

A category seen on one side only needs no special care: its pooled frequency is positive, so
no expected count is zero, and it weighs on the statistic in proportion to how often it appears.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from evergreen.validation.drift.base import (
    ColumnDrift,
    DriftTest,
    check_p_threshold,
    require_values,
)


class ChiSquareTest(DriftTest):
    """Chi-square test that the reference and current samples share one category mix."""

    name: ClassVar[str] = "chi2"

    def __init__(self, threshold: float = 0.05) -> None:
        self.threshold = check_p_threshold(threshold)

    def test(self, reference: np.ndarray, current: np.ndarray, *, column: str = "") -> ColumnDrift:
        """Chi-square of the ``reference`` and ``current`` category counts.

        Values are compared as strings; pass non-null values (``None`` would be ``"None"``).
        """
        ref = np.asarray(reference).astype(str)
        cur = np.asarray(current).astype(str)
        require_values(self.name, column, ref, cur)
        categories = np.union1d(ref, cur)
        if categories.size == 1:  # one shared category: the mix cannot have changed
            return ColumnDrift.from_p_value(column, self.name, 0.0, 1.0, self.threshold)
        table = np.vstack([category_counts(ref, categories), category_counts(cur, categories)])
        from scipy import stats  # imported on use: scipy.stats is slow to import

        result = stats.chi2_contingency(table, correction=False)
        return ColumnDrift.from_p_value(
            column, self.name, float(result.statistic), float(result.pvalue), self.threshold
        )


def category_counts(values: np.ndarray, categories: np.ndarray) -> np.ndarray:
    """How often each of the sorted ``categories`` occurs in ``values``."""
    found, counts = np.unique(values, return_counts=True)
    result = np.zeros(categories.size, dtype=np.int64)
    result[np.searchsorted(categories, found)] = counts
    return result
