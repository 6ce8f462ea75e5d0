"""The population stability index (PSI), for numeric or categorical columns.

``PSI = sum((r - c) * ln(r / c))`` over the bins, where ``r`` and ``c`` are the reference and
current shares per bin. Bins follow Evidently's ``psi`` test (see ``binning``): categories, or
Sturges bins over both samples for numbers with more than 20 distinct reference values, with
empty bins filled by a small share so the logarithm is finite. The column has drifted when the
index reaches ``threshold`` (default 0.1; by the usual rule of thumb, below 0.1 is stable,
0.1-0.25 a moderate shift and above 0.25 a large one).

``bins="quantile"`` uses the classic credit-scoring bins instead for such numbers: ``n_bins``
bins between reference quantiles (equal reference shares; repeated edges merged), open at both
ends so every current value falls in one, with the same filling of empty bins.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np

from evergreen.errors import InvalidInput
from evergreen.validation.drift.base import (
    ColumnDrift,
    DriftTest,
    check_distance_threshold,
    require_values,
)
from evergreen.validation.drift.binning import binned_shares, fill_empty_bins, many_distinct
from evergreen.validation.drift.counts import CategoryCounts


class PSITest(DriftTest):
    """Population stability index; drifted when ``statistic >= threshold``."""

    name: ClassVar[str] = "psi"

    def __init__(
        self,
        threshold: float = 0.1,
        *,
        bins: Literal["sturges", "quantile"] = "sturges",
        n_bins: int = 10,
    ) -> None:
        self.threshold = check_distance_threshold(threshold)
        if n_bins < 2:
            raise InvalidInput(f"PSI needs at least 2 quantile bins, got n_bins={n_bins!r}")
        self.bins, self.n_bins = bins, n_bins

    def test(self, reference: np.ndarray, current: np.ndarray, *, column: str = "") -> ColumnDrift:
        """PSI of the ``reference`` and ``current`` shares (pass non-null values)."""
        ref, cur = np.asarray(reference), np.asarray(current)
        require_values(self.name, column, ref, cur)
        if self.bins == "quantile" and ref.dtype.kind in "iuf" and many_distinct(ref):
            ref_shares, cur_shares = self._quantile_shares(ref, cur)
        else:
            ref_shares, cur_shares = binned_shares(ref, cur, fill_empty=True)
        return ColumnDrift.from_distance(
            column, self.name, _psi(ref_shares, cur_shares), self.threshold
        )

    def test_counts(self, counts: CategoryCounts, *, column: str = "") -> ColumnDrift:
        """PSI of the category shares of ``counts`` (categories are never quantile-binned)."""
        counts.require(self.name, column)
        ref_shares, cur_shares = counts.shares()
        psi = _psi(fill_empty_bins(ref_shares), fill_empty_bins(cur_shares))
        return ColumnDrift.from_distance(column, self.name, psi, self.threshold)

    def _quantile_shares(
        self, reference: np.ndarray, current: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        inner = np.unique(np.quantile(reference, np.linspace(0, 1, self.n_bins + 1)[1:-1]))
        ref_counts = np.bincount(np.searchsorted(inner, reference), minlength=inner.size + 1)
        cur_counts = np.bincount(np.searchsorted(inner, current), minlength=inner.size + 1)
        return fill_empty_bins(ref_counts / reference.size), fill_empty_bins(
            cur_counts / current.size
        )


def _psi(reference: np.ndarray, current: np.ndarray) -> float:
    """PSI of two aligned arrays of shares without empty bins."""
    return float(np.sum((reference - current) * np.log(reference / current)))
