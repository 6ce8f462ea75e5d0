"""Mergeable sketches behind :meth:`DatasetStatistics.merge`: quantiles and distinct counts.

Both are plain functions over numpy arrays, so the statistics models stay simple data:

- **Quantiles**: a KLL-style stack of compactors. Level ``h`` holds values of weight ``2**h``;
  when a level holds more than ``QUANTILE_CAPACITY`` values it is sorted and every other value
  (from an alternating offset) moves up a level with twice the weight. The total weight is
  always the number of values summarised, and while nothing was compacted the sketch holds
  every value, so its quantiles are exact. Each compaction moves any rank by at most the
  level's weight, which bounds the rank error at about ``levels / QUANTILE_CAPACITY``.
- **Distinct counts**: k minimum values (KMV) of a seeded 64-bit hash of each value. With
  fewer than ``DISTINCT_CAPACITY`` distinct hashes the count is exact; beyond, the estimate
  ``(k - 1) / h_k`` (``h_k`` the k-th smallest hash scaled to [0, 1)) has a relative standard
  error of about ``1 / sqrt(k - 2)`` (4.4% for k = 512).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

QUANTILE_CAPACITY = 512
DISTINCT_CAPACITY = 512
HASH_KEY = "evergreen-kmv-01"  # 16 characters, as pandas' siphash needs
_HASH_SPACE = float(2**64)


def hash_values(values: pd.Series) -> np.ndarray:
    """A seeded 64-bit hash of each value: of its float64 bytes for numbers, else its string."""
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values):
        array: np.ndarray = np.asarray(values.to_numpy(dtype=np.float64), dtype=np.float64)
        array = array + 0.0  # -0.0 and 0.0 are one value
    else:
        array = np.asarray(values.astype(str).to_numpy(), dtype=object)
    return np.asarray(pd.util.hash_array(array, hash_key=HASH_KEY), dtype=np.uint64)


def kmv(hashes: np.ndarray, k: int = DISTINCT_CAPACITY) -> list[int]:
    """The ``k`` smallest distinct hashes, ascending."""
    hashes = np.asarray(hashes, dtype=np.uint64)
    m = k
    while True:  # partial selection: only the smallest few are ever sorted
        candidates = hashes if m >= hashes.size else np.partition(hashes, m - 1)[:m]
        ordered = np.sort(candidates)
        distinct = ordered[np.r_[True, ordered[1:] != ordered[:-1]]] if ordered.size else ordered
        if distinct.size >= k or m >= hashes.size:
            return [int(h) for h in distinct[:k]]
        m *= 4


def kmv_merge(a: list[int], b: list[int], k: int = DISTINCT_CAPACITY) -> list[int]:
    """The KMV sketch of the union of the two sketched sets."""
    return kmv(np.asarray(a + b, dtype=np.uint64), k)


def kmv_estimate(hashes: list[int], k: int = DISTINCT_CAPACITY) -> int:
    """The estimated number of distinct values (exact below ``k`` distinct hashes)."""
    if len(hashes) < k:
        return len(hashes)
    return round((k - 1) / ((hashes[k - 1] + 1) / _HASH_SPACE))


def quantile_levels(values: np.ndarray, capacity: int = QUANTILE_CAPACITY) -> list[list[float]]:
    """A quantile sketch of ``values`` (finite floats)."""
    return compact([np.asarray(values, dtype=np.float64)], capacity)


def merge_levels(
    a: list[list[float]], b: list[list[float]], capacity: int = QUANTILE_CAPACITY
) -> list[list[float]]:
    """The sketch of the union of two sketched samples."""
    height = max(len(a), len(b))
    levels = [
        np.asarray((a[h] if h < len(a) else []) + (b[h] if h < len(b) else []), dtype=np.float64)
        for h in range(height)
    ]
    return compact(levels, capacity)


def compact(levels: list[np.ndarray], capacity: int = QUANTILE_CAPACITY) -> list[list[float]]:
    """Compact every over-full level into the next; each level's values come back sorted."""
    out = list(levels)
    h = 0
    while h < len(out):
        level = np.sort(out[h])
        if level.size > capacity:
            keep = level[-1:] if level.size % 2 else level[:0]  # an odd value out stays here
            pairs = level[: level.size - keep.size]
            offset = (pairs.size // 2 + h) % 2  # alternates, deterministic
            if h + 1 == len(out):
                out.append(np.empty(0, dtype=np.float64))
            out[h + 1] = np.concatenate([out[h + 1], pairs[offset::2]])
            level = keep
        out[h] = level
        h += 1
    while len(out) > 1 and out[-1].size == 0:
        out.pop()
    return [level.tolist() for level in out]


def items(levels: list[list[float]]) -> tuple[np.ndarray, np.ndarray]:
    """The sketch's values, sorted, and their integer weights (which sum to the count)."""
    if not levels:
        return np.empty(0, dtype=np.float64), np.empty(0, dtype=np.int64)
    values = np.concatenate([np.asarray(level, dtype=np.float64) for level in levels])
    weights = np.concatenate(
        [np.full(len(level), 2**h, dtype=np.int64) for h, level in enumerate(levels)]
    )
    order = np.argsort(values, kind="stable")
    return values[order], weights[order].astype(np.int64)


def is_exact(levels: list[list[float]]) -> bool:
    """Whether the sketch still holds every value (nothing was compacted)."""
    return len(levels) <= 1


def sketch_quantiles(levels: list[list[float]], qs: list[float]) -> list[float]:
    """Quantiles from the sketch: numpy's linear interpolation when exact, else weighted."""
    values, weights = items(levels)
    if is_exact(levels):
        return [float(v) for v in np.quantile(values, qs)]
    # The midpoint rule on the weighted sample: value i covers ranks around cum[i] - w[i] / 2.
    cumulative = np.cumsum(weights, dtype=np.float64)
    centres = (cumulative - weights / 2.0) / cumulative[-1]
    return [float(v) for v in np.interp(qs, centres, values)]
