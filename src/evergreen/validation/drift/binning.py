"""Shared frequencies for the distance tests (Jensen-Shannon, PSI), binned as Evidently bins them.

A numeric sample whose reference has more than 20 distinct values is cut into Sturges bins
(``numpy.histogram_bin_edges(..., bins="sturges")``) over the reference and current values
together; anything else (categories, or numbers with few distinct values) is counted per
distinct value over the union of both sides. Frequencies are shares of each side's size.

PSI takes logarithms of the shares, so it fills empty bins first (``fill_empty``): a side's
empty bins get 0.0001, or its smallest non-zero share divided by a million when that share is
itself at most 0.0001 (Evidently's ``feel_zeroes``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from evergreen.validation.drift.counts import CategoryCounts

_MAX_DISTINCT_AS_CATEGORIES = 20
_EMPTY_SHARE = 1e-4


def binned_shares(
    reference: np.ndarray, current: np.ndarray, *, fill_empty: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """The shares of ``reference`` and ``current`` in each bin (or category), in one order."""
    ref, cur = np.asarray(reference), np.asarray(current)
    if _is_numeric(ref) and _is_numeric(cur) and many_distinct(ref):
        edges = np.histogram_bin_edges(np.concatenate([ref, cur]), bins="sturges")
        ref_shares = np.histogram(ref, edges)[0] / ref.size
        cur_shares = np.histogram(cur, edges)[0] / cur.size
    else:
        if not (_is_numeric(ref) and _is_numeric(cur)):
            ref, cur = _as_strings(ref), _as_strings(cur)
        ref_shares, cur_shares = CategoryCounts.of_values(ref, cur).shares()
    if fill_empty:
        ref_shares, cur_shares = fill_empty_bins(ref_shares), fill_empty_bins(cur_shares)
    return ref_shares, cur_shares


def many_distinct(values: np.ndarray) -> bool:
    """Whether ``values`` hold more than 20 distinct values (binned rather than counted)."""
    head = pd.unique(values[:4_096]).size  # enough to decide most columns without hashing all
    if head > _MAX_DISTINCT_AS_CATEGORIES:
        return True
    return bool(pd.unique(values).size > _MAX_DISTINCT_AS_CATEGORIES)


def _is_numeric(values: np.ndarray) -> bool:
    return values.dtype.kind in "iuf"


def _as_strings(values: np.ndarray) -> np.ndarray:
    """``values`` as an object array of ``str``: pandas hashes these several times faster than
    the fixed-width strings ``ndarray.astype(str)`` makes (which it converts back first)."""
    return pd.Series(values, dtype=object).astype(str).to_numpy(dtype=object)


def fill_empty_bins(shares: np.ndarray) -> np.ndarray:
    """``shares`` with empty bins filled (Evidently's ``feel_zeroes``; see the module docs)."""
    smallest = float(shares[shares > 0].min())
    fill = smallest / 1e6 if smallest <= _EMPTY_SHARE else _EMPTY_SHARE
    return np.where(shares == 0, fill, shares)
