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
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

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


class Histogram(BaseModel):
    """Counts over ``len(edges) - 1`` equal-width bins; the last bin includes its right edge."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    edges: list[float]
    counts: list[int]


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

    @property
    def null_ratio(self) -> float:
        """The share of rows that are null (``0.0`` for an empty column)."""
        rows = self.count + self.nulls
        return self.nulls / rows if rows else 0.0


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
    if kind == "numeric":
        return ColumnStatistics(
            **base, distinct=int(series.nunique(dropna=True)), **_numeric(numeric_values(series))
        )
    if kind in ("categorical", "boolean"):
        values = category_values(series)
        return ColumnStatistics(
            **base, distinct=int(values.nunique()), top_values=_top_values(values)
        )
    return ColumnStatistics(**base, distinct=int(series.nunique(dropna=True)))


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


def _histogram(finite: np.ndarray) -> Histogram | None:
    try:
        counts, edges = np.histogram(finite, bins=HISTOGRAM_BINS)
    except ValueError:  # a range too wide (or too narrow) for float64 bins
        return None
    return Histogram(edges=[float(e) for e in edges], counts=[int(c) for c in counts])


def _top_values(values: pd.Series) -> dict[str, int]:
    return dict(ranked_counts(values)[:TOP_VALUES])


def _finite_or_none(value: np.floating[Any]) -> float | None:
    number = float(value)
    return number if np.isfinite(number) else None
