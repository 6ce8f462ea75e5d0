"""Checking a batch of data against a schema: each problem found is an ``Anomaly``.

The checks, by their stable ``check`` name (stored with runs, so never renamed):

=====================  ========  ============================================================
check                  severity  fires when
=====================  ========  ============================================================
``empty_batch``        error     the batch has no rows
``missing_column``     error     a required schema column is absent
``extra_column``       warning   the batch has a column the schema does not list
``kind_mismatch``      error     a column's kind changed (numeric now strings; int vs float is
                                 the same kind); its value checks are skipped
``unexpected_nulls``   error     a non-nullable column has nulls; observed = null ratio
``out_of_range``       warning   numeric values fall outside the schema's [min, max];
                                 observed = share out of range
``unseen_categories``  warning   values are not among the schema's categories;
                                 observed = share of unseen values
=====================  ========  ============================================================

``details`` carries the rest of what was observed (the min/max seen, example values) for
machines; ``message`` says it all for people.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from evergreen.validation.kinds import (
    category_values,
    column_kind,
    columns_by_name,
    numeric_values,
    ranked_counts,
)
from evergreen.validation.schema import ColumnSchema, Schema

Severity = Literal["error", "warning"]

MAX_EXAMPLES = 5


class Anomaly(BaseModel):
    """One problem found in a batch."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    check: str
    column: str | None
    severity: Severity
    message: str
    observed: str | float | int | None = None
    details: dict[str, float | str | list[str]] = {}


def check_batch(df: pd.DataFrame, schema: Schema, *, ignore: Collection[str] = ()) -> list[Anomaly]:
    """Every anomaly of ``df`` against ``schema``, in schema column order then extra columns.

    Columns named in ``ignore`` are skipped entirely (e.g. the target at serving time).
    Raises ``InvalidInput`` if ``df`` has duplicate column names.
    """
    columns = columns_by_name(df, what="batch")
    skipped = set(ignore)
    anomalies: list[Anomaly] = []
    if len(df) == 0:
        anomalies.append(
            Anomaly(
                check="empty_batch",
                column=None,
                severity="error",
                message="the batch has no rows; check the query or file that produced it",
                observed=0,
            )
        )
    for spec in schema.columns:
        if spec.name in skipped:
            continue
        series = columns.get(spec.name)
        if series is None:
            if spec.required:
                anomalies.append(
                    Anomaly(
                        check="missing_column",
                        column=spec.name,
                        severity="error",
                        message=f"column {spec.name!r} is required by the schema but missing "
                        "from the batch",
                    )
                )
            continue
        anomalies.extend(_check_column(series, spec))
    known = set(schema.names)
    for name in columns:
        if name not in known and name not in skipped:
            anomalies.append(
                Anomaly(
                    check="extra_column",
                    column=name,
                    severity="warning",
                    message=f"column {name!r} is not in the schema; add it to the schema or "
                    "drop it from the batch",
                )
            )
    return anomalies


def _check_column(series: pd.Series, spec: ColumnSchema) -> list[Anomaly]:
    rows = len(series)
    nulls = int(series.isna().sum())
    if nulls == rows:  # nothing to tell the kind or the values from
        return [_nulls(spec, nulls, rows)] if rows and not spec.nullable else []
    kind = column_kind(series)
    if kind != spec.kind:
        return [
            Anomaly(
                check="kind_mismatch",
                column=spec.name,
                severity="error",
                message=f"column {spec.name!r}: expected {spec.kind} values, found {kind} "
                f"(dtype {series.dtype})",
                observed=kind,
                details={"dtype": str(series.dtype)},
            )
        ]
    found: list[Anomaly] = []
    if nulls and not spec.nullable:
        found.append(_nulls(spec, nulls, rows))
    if kind == "numeric" and (spec.min is not None or spec.max is not None):
        found.extend(_range(numeric_values(series), spec))
    if kind in ("categorical", "boolean") and spec.categories is not None:
        found.extend(_categories(category_values(series), spec, spec.categories))
    return found


def _nulls(spec: ColumnSchema, nulls: int, rows: int) -> Anomaly:
    ratio = nulls / rows
    return Anomaly(
        check="unexpected_nulls",
        column=spec.name,
        severity="error",
        message=f"column {spec.name!r}: {_percent(ratio)} of values are null ({nulls} of "
        f"{rows}) but the schema does not allow nulls",
        observed=ratio,
    )


def _range(values: np.ndarray, spec: ColumnSchema) -> list[Anomaly]:
    low = -np.inf if spec.min is None else spec.min
    high = np.inf if spec.max is None else spec.max
    outside = int(np.count_nonzero((values < low) | (values > high)))
    if outside == 0:
        return []
    share = outside / values.size
    seen_min, seen_max = float(values.min()), float(values.max())
    return [
        Anomaly(
            check="out_of_range",
            column=spec.name,
            severity="warning",
            message=f"column {spec.name!r}: {_percent(share)} of values outside "
            f"[{low:g}, {high:g}] (min {seen_min:g}, max {seen_max:g})",
            observed=share,
            details={"min": seen_min, "max": seen_max},
        )
    ]


def _categories(values: pd.Series, spec: ColumnSchema, allowed: list[str]) -> list[Anomaly]:
    unseen = values[~values.isin(allowed)]
    if unseen.empty:
        return []
    share = len(unseen) / len(values)
    ranked = ranked_counts(unseen)
    examples = [value for value, _ in ranked[:MAX_EXAMPLES]]
    more = f" and {len(ranked) - MAX_EXAMPLES} more" if len(ranked) > MAX_EXAMPLES else ""
    return [
        Anomaly(
            check="unseen_categories",
            column=spec.name,
            severity="warning",
            message=f"column {spec.name!r}: {_percent(share)} of values are not among the "
            f"schema's categories: {', '.join(map(repr, examples))}{more}",
            observed=share,
            details={"examples": examples},
        )
    ]


def _percent(share: float) -> str:
    """``12.0%``; a share that would round to 0.0% or 100.0% says so honestly."""
    if 0 < share < 0.0005:
        return "<0.1%"
    if 0.9995 <= share < 1:
        return ">99.9%"
    return f"{share:.1%}"
