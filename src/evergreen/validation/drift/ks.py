"""The two-sample Kolmogorov-Smirnov test, for numeric columns.

The statistic is the largest gap between the two empirical CDFs; the p-value is scipy's
``ks_2samp`` (two-sided, ``method="auto"``: exact for small samples, asymptotic otherwise).
KS is sensitive to any change of shape, location or scale, and with large samples it flags
even small shifts, so the threshold is worth tuning per use.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from evergreen.errors import InvalidInput
from evergreen.validation.drift.base import (
    ColumnDrift,
    DriftTest,
    check_p_threshold,
    require_values,
)


class KSTest(DriftTest):
    """Two-sample Kolmogorov-Smirnov; drifted when ``p_value < threshold``."""

    name: ClassVar[str] = "ks"

    def __init__(self, threshold: float = 0.05) -> None:
        self.threshold = check_p_threshold(threshold)

    def test(self, reference: np.ndarray, current: np.ndarray, *, column: str = "") -> ColumnDrift:
        """KS between the numeric ``reference`` and ``current`` values (NaNs are dropped)."""
        ref, cur = _floats(reference, column), _floats(current, column)
        require_values(self.name, column, ref, cur)
        from scipy import stats  # imported on use: scipy.stats is slow to import

        result = stats.ks_2samp(ref, cur)
        return ColumnDrift.from_p_value(
            column, self.name, float(result.statistic), float(result.pvalue), self.threshold
        )


def _floats(values: np.ndarray, column: str) -> np.ndarray:
    try:
        floats = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidInput(
            f"ks test on column {column or '<unnamed>'!r} needs numeric values, found "
            f"{np.asarray(values).dtype}; use the chi-square test for categorical columns"
        ) from None
    return floats[~np.isnan(floats)]
