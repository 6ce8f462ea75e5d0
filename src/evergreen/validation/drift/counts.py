"""How often each category occurs on either side of a column, counted once per side.

Hashing every value is what costs in a categorical drift test. Counting each side once, and
handing the same counts to the test selection (how many distinct values, how many rows) and to
the test itself (:meth:`DriftTest.test_counts`), replaces the separate passes that dropped the
nulls, converted the values to strings, counted the distinct values and then counted them
again for the shares. Categories are compared as strings, as everywhere in validation (see
``kinds.category_values``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes
from pandas.api.extensions import ExtensionDtype

from evergreen.errors import InvalidInput
from evergreen.validation.kinds import category_values


@dataclass(frozen=True)
class CategoryCounts:
    """Each distinct value (``categories``, no particular order) and how often it occurs in
    the ``reference`` and ``current`` samples (int64 arrays aligned with ``categories``)."""

    categories: np.ndarray
    reference: np.ndarray
    current: np.ndarray

    @property
    def reference_rows(self) -> int:
        return int(self.reference.sum())

    @property
    def current_rows(self) -> int:
        return int(self.current.sum())

    def shares(self) -> tuple[np.ndarray, np.ndarray]:
        """Each category's share of the reference and of the current sample."""
        return self.reference / self.reference_rows, self.current / self.current_rows

    def in_order(self) -> CategoryCounts:
        """The same counts with the categories sorted, for tests that name a first one."""
        order = np.argsort(self.categories, kind="stable")
        return CategoryCounts(self.categories[order], self.reference[order], self.current[order])

    def require(self, test: str, column: str) -> None:
        """Raise ``InvalidInput`` naming the empty side when there is nothing to compare."""
        for side, rows in (("reference", self.reference_rows), ("current", self.current_rows)):
            if rows == 0:
                raise InvalidInput(
                    f"{test} test on column {column or '<unnamed>'!r}: the {side} sample has "
                    "no non-null values; drop the column or pass more data"
                )

    @classmethod
    def of_series(cls, reference: pd.Series, current: pd.Series) -> CategoryCounts:
        """The counts of the non-null values of two categorical (or boolean) columns."""
        return cls._aligned(_string_counts(reference), _string_counts(current))

    @classmethod
    def of_values(cls, reference: np.ndarray, current: np.ndarray) -> CategoryCounts:
        """The counts of every value of two arrays, as they are (nulls included)."""
        return cls._aligned(
            pd.Series(reference).value_counts(sort=False, dropna=False),
            pd.Series(current).value_counts(sort=False, dropna=False),
        )

    @classmethod
    def _aligned(cls, reference: pd.Series, current: pd.Series) -> CategoryCounts:
        categories = reference.index.union(current.index, sort=False)
        return cls(
            categories.to_numpy(),
            reference.reindex(categories, fill_value=0).to_numpy(dtype=np.int64),
            current.reindex(categories, fill_value=0).to_numpy(dtype=np.int64),
        )


def _string_counts(series: pd.Series) -> pd.Series:
    """How often each non-null value of ``series`` occurs, keyed by the value as a string.

    The values are counted as they are, in one hashing pass, and only the few distinct keys
    are converted to strings. pandas hashes ``1``, ``1.0`` and ``True`` alike, though they
    print differently (``category_values`` keeps them apart), so unless every key is a string
    (or the dtype admits nothing that could merge) the values are converted first and counted
    again: the exact rule, paid only by columns of mixed objects.
    """
    counts = series.value_counts(sort=False, dropna=True)
    if not _plain(series.dtype, counts.index):
        counts = category_values(series).value_counts(sort=False)
    counts = counts[counts.to_numpy() > 0]  # a ``category`` dtype lists its unused categories
    keys = pd.Index(counts.index.astype(str).to_numpy(dtype=object))
    counts = pd.Series(counts.to_numpy(dtype=np.int64), index=keys)
    if keys.has_duplicates:  # e.g. category labels that print alike
        counts = counts.groupby(level=0, sort=False).sum()
    return counts


def _plain(dtype: np.dtype[Any] | ExtensionDtype, keys: pd.Index) -> bool:
    """Whether counting values of ``dtype`` as they are keeps apart all that print apart."""
    if isinstance(dtype, pd.CategoricalDtype):
        return ptypes.infer_dtype(dtype.categories, skipna=True) in ("string", "boolean")
    if ptypes.is_object_dtype(dtype):  # a str is equal to no other object but a str
        return keys.empty or ptypes.infer_dtype(keys, skipna=True) == "string"
    return ptypes.is_bool_dtype(dtype) or ptypes.is_string_dtype(dtype)
