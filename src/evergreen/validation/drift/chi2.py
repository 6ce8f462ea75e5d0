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
from evergreen.validation.drift.counts import CategoryCounts


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
        return self.test_counts(CategoryCounts.of_values(ref, cur), column=column)

    def test_counts(self, counts: CategoryCounts, *, column: str = "") -> ColumnDrift:
        """Chi-square of the 2 x k table of ``counts``."""
        counts.require(self.name, column)
        if counts.categories.size == 1:  # one shared category: the mix cannot have changed
            return ColumnDrift.from_p_value(column, self.name, 0.0, 1.0, self.threshold)
        ordered = counts.in_order()
        table = np.vstack([ordered.reference, ordered.current])
        from scipy import stats  # imported on use: scipy.stats is slow to import

        result = stats.chi2_contingency(table, correction=False)
        return ColumnDrift.from_p_value(
            column, self.name, float(result.statistic), float(result.pvalue), self.threshold
        )
