"""Multiple-testing corrections of the p-values of one report's columns.

Testing 20 undrifted columns at a 5% level flags at least one of them about 64% of the time.
``bonferroni`` multiplies each p-value by the number of tests (controls the chance of any false
alarm); ``bh`` is the Benjamini-Hochberg step-up procedure (controls the expected share of false
alarms among the flagged columns, and when no column has drifted it equals the chance of any
false alarm). Both return adjusted p-values to compare with the usual threshold.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

Correction = Literal["none", "bonferroni", "bh"]


def adjust_p_values(p_values: np.ndarray, method: Correction) -> np.ndarray:
    """The adjusted ``p_values`` (same order), each at most 1."""
    p = np.asarray(p_values, dtype=np.float64)
    if method == "none" or p.size == 0:
        return p.copy()
    if method == "bonferroni":
        return np.minimum(p * p.size, 1.0)
    order = np.argsort(p)
    ranked = p[order] * p.size / np.arange(1, p.size + 1)
    ranked = np.minimum.accumulate(ranked[::-1])[::-1]  # step-up: monotone from the top
    adjusted = np.empty_like(p)
    adjusted[order] = np.minimum(ranked, 1.0)
    return adjusted
