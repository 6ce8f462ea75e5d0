"""Summary statistics of a data frame, one ``ColumnStatistics`` per column.

The statistics are what a schema is inferred from and what drift reports are read against, so
they are plain frozen models that round-trip through JSON (``to_dict``/``from_dict``).

Conventions:

- ``count`` is the number of non-null values and ``nulls`` the number of nulls, so
  ``count + nulls`` is the number of rows;
- numeric moments, quantiles and the histogram are over the finite values (infinities are
  counted in ``count`` but would make every moment meaningless); ``std`` is the sample
  standard deviation (``ddof=1``, as ``pandas.DataFrame.describe``), ``0.0`` for one value;
- quantiles use numpy's default (linear) interpolation;
- categorical and boolean values are compared as strings (see :func:`category_values`), and
  ``top_values`` holds the 50 most frequent, most frequent first, ties by value.

Statistics are **mergeable**: each column carries a small ``Sketch`` (a quantile sketch, a
distinct-count sketch and the most frequent category counts, see
:mod:`evergreen.validation.sketches`), so ``a.merge(b)`` gives the statistics of the two frames
concatenated: counts, nulls, min and max exactly, mean and std by the parallel-variance formulas,
and quantiles, histogram, distinct count and top values from the sketches (exact while the
sketches still hold every value, within the sketches' error beyond). A single frame's
statistics are always computed exactly from its values.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from evergreen.errors import InvalidInput
from evergreen.validation import sketches
from evergreen.validation.kinds import (
    Kind,
    category_values,
    column_kind,
    columns_by_name,
    numeric_values,
    ranked_counts,
)
from evergreen.validation.parsing import parse_model

QUANTILES: dict[str, float] = {
    "p01": 0.01,
    "p05": 0.05,
    "p25": 0.25,
    "p50": 0.50,
    "p75": 0.75,
    "p95": 0.95,
    "p99": 0.99,
}
HISTOGRAM_BINS = 20
TOP_VALUES = 50
COUNTS_CAPACITY = 1000
"""How many category counts a sketch keeps (the most frequent); top values stay exact while a
column has at most this many distinct values in every merged part."""


class Histogram(BaseModel):
    """Counts over ``len(edges) - 1`` equal-width bins; the last bin includes its right edge."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    edges: list[float]
    counts: list[int]


class Sketch(BaseModel):
    """What ``merge`` needs beyond the summary: ``finite`` (the number of finite numeric
    values, which the moments are over), quantile-sketch ``levels``, the distinct-count sketch
    ``hashes`` and the ``counts`` of the most frequent categories."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    finite: int = 0
    levels: list[list[float]] = []
    hashes: list[int] = []
    counts: dict[str, int] = {}


class ColumnStatistics(BaseModel):
    """Statistics of one column; the numeric fields are set for numeric columns only and
    ``top_values`` for categorical and boolean columns only."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    kind: Kind
    dtype: str
    count: int
    nulls: int
    distinct: int
    min: float | None = None
    max: float | None = None
    mean: float | None = None
    std: float | None = None
    quantiles: dict[str, float] | None = None
    histogram: Histogram | None = None
    top_values: dict[str, int] | None = None
    sketch: Sketch | None = None

    @property
    def null_ratio(self) -> float:
        """The share of rows that are null (``0.0`` for an empty column)."""
        rows = self.count + self.nulls
        return self.nulls / rows if rows else 0.0

    def merge(self, other: ColumnStatistics) -> ColumnStatistics:
        """The statistics of this column's values followed by ``other``'s (see the module)."""
        return merge_columns(self, other)


class DatasetStatistics(BaseModel):
    """Statistics of a whole data frame, keyed by column name in frame order."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rows: int
    columns: dict[str, ColumnStatistics]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-compatible dict; ``from_dict`` reads it back."""
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], *, source: str = "<statistics>"
    ) -> DatasetStatistics:
        """Read statistics written by ``to_dict``; raise ``InvalidInput`` naming a bad key."""
        return parse_model(cls, data, source=source, what="dataset statistics document")

    def merge(self, other: DatasetStatistics) -> DatasetStatistics:
        """The statistics of this frame's rows followed by ``other``'s.

        Raises ``InvalidInput`` when the two have different columns, or a column holds values
        of different kinds on the two sides.
        """
        if set(self.columns) != set(other.columns):
            raise InvalidInput(
                "cannot merge statistics of different columns: "
                f"{list(self.columns)} and {list(other.columns)}"
            )
        return DatasetStatistics(
            rows=self.rows + other.rows,
            columns={
                name: column.merge(other.columns[name]) for name, column in self.columns.items()
            },
        )


def compute_statistics(df: pd.DataFrame) -> DatasetStatistics:
    """Summarise every column of ``df``; raise ``InvalidInput`` on duplicate column names."""
    columns = columns_by_name(df)
    return DatasetStatistics(
        rows=len(df),
        columns={name: column_statistics(name, series) for name, series in columns.items()},
    )


def column_statistics(name: str, series: pd.Series) -> ColumnStatistics:
    """Summarise one column (see the module docstring for the conventions)."""
    kind = column_kind(series)
    nulls = int(series.isna().sum())
    base: dict[str, Any] = {
        "name": name,
        "kind": kind,
        "dtype": str(series.dtype),
        "count": len(series) - nulls,
        "nulls": nulls,
    }
    present = series.dropna()
    hashes = sketches.kmv(sketches.hash_values(present)) if len(present) else []
    if kind == "numeric":
        values = numeric_values(series)
        finite = values[np.isfinite(values)]
        sketch = Sketch(
            finite=int(finite.size), levels=sketches.quantile_levels(finite), hashes=hashes
        )
        return ColumnStatistics(
            **base,
            distinct=int(series.nunique(dropna=True)),
            **_numeric(values),
            sketch=sketch,
        )
    if kind in ("categorical", "boolean"):
        strings = category_values(series)
        ranked = ranked_counts(strings)
        return ColumnStatistics(
            **base,
            distinct=int(strings.nunique()),
            top_values=dict(ranked[:TOP_VALUES]),
            sketch=Sketch(hashes=hashes, counts=dict(ranked[:COUNTS_CAPACITY])),
        )
    return ColumnStatistics(
        **base, distinct=int(series.nunique(dropna=True)), sketch=Sketch(hashes=hashes)
    )


def merge_columns(a: ColumnStatistics, b: ColumnStatistics) -> ColumnStatistics:
    """The statistics of ``a``'s values followed by ``b``'s; see the module docstring."""
    if a.kind != b.kind:  # an all-null part says nothing about the kind
        if b.count == 0:
            b = _as_kind_of(b, a)
        elif a.count == 0:
            a = _as_kind_of(a, b)
        else:
            raise InvalidInput(
                f"cannot merge statistics of column {a.name!r}: it holds {a.kind} values in one "
                f"part and {b.kind} values in the other"
            )
    sa, sb = a.sketch or Sketch(), b.sketch or Sketch()
    if (a.count and a.sketch is None) or (b.count and b.sketch is None):
        raise InvalidInput(
            f"cannot merge statistics of column {a.name!r}: one side has no sketch "
            "(statistics written by an older version); recompute them"
        )
    hashes = sketches.kmv_merge(sa.hashes, sb.hashes)
    base: dict[str, Any] = {
        "name": a.name,
        "kind": a.kind,
        "dtype": a.dtype if a.count or not b.count else b.dtype,
        "count": a.count + b.count,
        "nulls": a.nulls + b.nulls,
        "distinct": sketches.kmv_estimate(hashes),
    }
    if a.kind == "numeric":
        levels = sketches.merge_levels(sa.levels, sb.levels)
        finite = sa.finite + sb.finite
        sketch = Sketch(finite=finite, levels=levels, hashes=hashes)
        return ColumnStatistics(**base, **_merged_numeric(a, b, levels), sketch=sketch)
    if a.kind in ("categorical", "boolean"):
        counts = dict(sa.counts)
        for value, n in sb.counts.items():
            counts[value] = counts.get(value, 0) + n
        ranked = sorted(counts.items(), key=lambda pair: (-pair[1], pair[0]))
        return ColumnStatistics(
            **base,
            top_values=dict(ranked[:TOP_VALUES]),
            sketch=Sketch(hashes=hashes, counts=dict(ranked[:COUNTS_CAPACITY])),
        )
    return ColumnStatistics(**base, sketch=Sketch(hashes=hashes))


def _as_kind_of(empty: ColumnStatistics, like: ColumnStatistics) -> ColumnStatistics:
    return ColumnStatistics(
        name=empty.name,
        kind=like.kind,
        dtype=like.dtype,
        count=0,
        nulls=empty.nulls,
        distinct=0,
        sketch=Sketch(),
    )


def _merged_numeric(
    a: ColumnStatistics, b: ColumnStatistics, levels: list[list[float]]
) -> dict[str, Any]:
    na = a.sketch.finite if a.sketch else 0
    nb = b.sketch.finite if b.sketch else 0
    if na == 0 or nb == 0:
        single = a if na else b
        moments = {"mean": single.mean, "std": single.std}
    else:
        moments = _parallel_moments(na, a.mean, a.std, nb, b.mean, b.std)
    n = na + nb
    if n == 0:
        return {}
    lows = [x for x in (a.min, b.min) if x is not None]
    highs = [x for x in (a.max, b.max) if x is not None]
    low, high = min(lows), max(highs)
    quantiles = sketches.sketch_quantiles(levels, list(QUANTILES.values()))
    values, weights = sketches.items(levels)
    return {
        "min": low,
        "max": high,
        **moments,
        "quantiles": {
            key: min(max(q, low), high) for key, q in zip(QUANTILES, quantiles, strict=True)
        },
        "histogram": _histogram(values, weights=weights, bounds=(low, high)),
    }


def _parallel_moments(
    na: int,
    mean_a: float | None,
    std_a: float | None,
    nb: int,
    mean_b: float | None,
    std_b: float | None,
) -> dict[str, float | None]:
    """Chan et al.'s parallel update of the mean and the sample standard deviation."""
    if mean_a is None or mean_b is None:
        return {"mean": None, "std": None}
    n = na + nb
    delta = mean_b - mean_a
    mean = mean_a + delta * nb / n
    if std_a is None or std_b is None:
        return {"mean": mean, "std": None}
    m2 = std_a**2 * (na - 1) + std_b**2 * (nb - 1) + delta**2 * na * nb / n
    std = float(np.sqrt(m2 / (n - 1))) if n > 1 else 0.0
    return {
        "mean": mean if np.isfinite(mean) else None,
        "std": std if np.isfinite(std) else None,
    }


def _numeric(values: np.ndarray) -> dict[str, Any]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return {}
    with np.errstate(all="ignore"):  # overflow on extreme values turns into None below
        quantiles = np.quantile(finite, list(QUANTILES.values()))
        return {
            "min": float(finite.min()),
            "max": float(finite.max()),
            "mean": _finite_or_none(np.mean(finite)),
            "std": _finite_or_none(np.std(finite, ddof=1)) if finite.size > 1 else 0.0,
            "quantiles": {
                key: float(value) for key, value in zip(QUANTILES, quantiles, strict=True)
            },
            "histogram": _histogram(finite),
        }


def _histogram(
    finite: np.ndarray,
    *,
    weights: np.ndarray | None = None,
    bounds: tuple[float, float] | None = None,
) -> Histogram | None:
    try:
        with np.errstate(all="ignore"):
            counts, edges = np.histogram(finite, bins=HISTOGRAM_BINS, range=bounds, weights=weights)
    except ValueError:  # a range too wide (or too narrow) for float64 bins
        return None
    if not np.all(np.isfinite(edges)):
        return None
    return Histogram(edges=[float(e) for e in edges], counts=[round(c) for c in counts])


def _finite_or_none(value: np.floating[Any]) -> float | None:
    number = float(value)
    return number if np.isfinite(number) else None
