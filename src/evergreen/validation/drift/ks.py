"""The two-sample Kolmogorov-Smirnov test, for numeric columns.

The statistic is the largest gap between the two empirical CDFs; the p-value is scipy's
``ks_2samp`` (two-sided, ``method="auto"``: exact for small samples, asymptotic otherwise).
KS is sensitive to any change of shape, location or scale, and with large samples it flags
even small shifts, so the threshold is worth tuning per use.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from evergreen.validation.drift.base import (
    ColumnDrift,
    DriftTest,
    check_p_threshold,
    float_values,
    require_values,
)


class KSTest(DriftTest):
    """Two-sample Kolmogorov-Smirnov; drifted when ``p_value < threshold``."""

    name: ClassVar[str] = "ks"

    def __init__(self, threshold: float = 0.05) -> None:
        self.threshold = check_p_threshold(threshold)

    def test(self, reference: np.ndarray, current: np.ndarray, *, column: str = "") -> ColumnDrift:
        """KS between the numeric ``reference`` and ``current`` values (NaNs are dropped)."""
        ref = float_values(self.name, column, reference)
        cur = float_values(self.name, column, current)
        require_values(self.name, column, ref, cur)
        from scipy import stats  # imported on use: scipy.stats is slow to import

        result = stats.ks_2samp(ref, cur)
        return ColumnDrift.from_p_value(
            column, self.name, float(result.statistic), float(result.pvalue), self.threshold
        )
