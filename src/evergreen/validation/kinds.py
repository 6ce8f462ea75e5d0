"""Column kinds: the coarse type every validation check reasons about.

A column is one of four kinds, decided by its pandas dtype:

- ``numeric``: integer and float dtypes (an int column that later arrives as float is the
  same kind);
- ``boolean``: ``bool`` and the nullable ``boolean`` dtype;
- ``datetime``: ``datetime64`` dtypes, with or without a time zone;
- ``categorical``: everything else (strings, ``category``, mixed objects).

An ``object`` column is classified by its non-null values, so a column of Python bools or
numbers with a ``None`` in it (as JSON payloads often arrive) keeps the kind of its values.
"""

from __future__ import annotations

from collections import Counter
from typing import Literal

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from evergreen.errors import InvalidInput

Kind = Literal["numeric", "categorical", "boolean", "datetime"]

KINDS: tuple[Kind, ...] = ("numeric", "categorical", "boolean", "datetime")

_INFERRED_KINDS: dict[str, Kind] = {
    "boolean": "boolean",
    "integer": "numeric",
    "floating": "numeric",
    "mixed-integer-float": "numeric",
    "decimal": "numeric",
    "datetime64": "datetime",
    "datetime": "datetime",
}


def column_kind(series: pd.Series) -> Kind:
    """The kind of ``series``, from its dtype (or, for ``object`` columns, its values)."""
    dtype = series.dtype
    if ptypes.is_bool_dtype(dtype):
        return "boolean"
    if ptypes.is_datetime64_any_dtype(dtype):
        return "datetime"
    if ptypes.is_complex_dtype(dtype):
        return "categorical"
    if ptypes.is_numeric_dtype(dtype):
        return "numeric"
    if ptypes.is_object_dtype(dtype):
        return _INFERRED_KINDS.get(ptypes.infer_dtype(series, skipna=True), "categorical")
    return "categorical"


def numeric_values(series: pd.Series) -> np.ndarray:
    """The non-null values of a numeric column as a float64 array."""
    return np.asarray(series.dropna().to_numpy(dtype=float), dtype=np.float64)


def category_values(series: pd.Series) -> pd.Series:
    """The non-null values of a categorical or boolean column, as strings.

    Categories are compared as strings everywhere (statistics, schemas, checks, drift), so
    ``True`` is ``"True"`` and the integer category ``3`` is ``"3"``.
    """
    return series.dropna().astype(str)


def ranked_counts(values: pd.Series) -> list[tuple[str, int]]:
    """``(value, count)`` pairs of the string ``values``, most frequent first, ties by value."""
    counts = values.value_counts(sort=False)
    pairs = zip(counts.index.astype(str), counts.to_numpy(dtype=np.int64).tolist(), strict=True)
    return sorted(pairs, key=lambda pair: (-pair[1], pair[0]))


def columns_by_name(frame: pd.DataFrame, *, what: str = "data frame") -> dict[str, pd.Series]:
    """The columns of ``frame`` keyed by their name as a string, in frame order.

    Raises ``InvalidInput`` when two columns share a name, since no check could tell them apart.
    """
    names = [str(name) for name in frame.columns]
    duplicates = sorted(name for name, count in Counter(names).items() if count > 1)
    if duplicates:
        raise InvalidInput(
            f"the {what} has duplicate column names {duplicates}; rename or drop the duplicates"
        )
    return {name: frame.iloc[:, position] for position, name in enumerate(names)}
