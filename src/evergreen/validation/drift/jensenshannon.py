"""The Jensen-Shannon distance, for categorical columns in large samples (and binned numbers).

The statistic is ``scipy.spatial.distance.jensenshannon`` (natural logarithm, so between 0 and
sqrt(ln 2) ~ 0.83) between the category shares of the two samples, or between their shares in
Sturges bins for numbers with more than 20 distinct reference values (see ``binning``):
Evidently's ``jensenshannon`` test. The column has drifted when the distance reaches
``threshold`` (default 0.1, Evidently's).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from evergreen.validation.drift.base import (
    ColumnDrift,
    DriftTest,
    check_distance_threshold,
    require_values,
)
from evergreen.validation.drift.binning import binned_shares
from evergreen.validation.drift.counts import CategoryCounts


class JensenShannonTest(DriftTest):
    """Jensen-Shannon distance of the category (or bin) shares; drifted when
    ``statistic >= threshold``."""

    name: ClassVar[str] = "jensenshannon"

    def __init__(self, threshold: float = 0.1) -> None:
        self.threshold = check_distance_threshold(threshold)

    def test(self, reference: np.ndarray, current: np.ndarray, *, column: str = "") -> ColumnDrift:
        """JS distance of the ``reference`` and ``current`` shares (pass non-null values)."""
        ref, cur = np.asarray(reference), np.asarray(current)
        require_values(self.name, column, ref, cur)
        return ColumnDrift.from_distance(
            column, self.name, jensenshannon_distance(ref, cur), self.threshold
        )

    def test_counts(self, counts: CategoryCounts, *, column: str = "") -> ColumnDrift:
        """JS distance of the category shares of ``counts``."""
        counts.require(self.name, column)
        distance = shares_distance(*counts.shares())
        return ColumnDrift.from_distance(column, self.name, distance, self.threshold)


def jensenshannon_distance(reference: np.ndarray, current: np.ndarray) -> float:
    """JS distance (natural log) of the binned shares of two non-empty samples."""
    return shares_distance(*binned_shares(reference, current))


def shares_distance(reference: np.ndarray, current: np.ndarray) -> float:
    """JS distance (natural log) of two aligned arrays of shares."""
    from scipy.spatial import distance  # imported on use, like scipy.stats

    return float(distance.jensenshannon(reference, current))
