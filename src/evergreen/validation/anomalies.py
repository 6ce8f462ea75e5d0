"""Checking a batch of data against a schema: each problem found is an ``Anomaly``.

The checks, by their stable ``check`` name (stored with runs, so never renamed), with their
default severity (a schema overrides it per check and per column, see
:mod:`evergreen.validation.schema`; ``off`` drops the check):

=====================  ========  ============================================================
check                  severity  fires when
=====================  ========  ============================================================
``empty_batch``        error     the batch has no rows
``missing_column``     error     a required schema column is absent
``extra_column``       warning   the batch has a column the schema does not list
``kind_mismatch``      error     a column's kind changed (numeric now strings; int vs float is
                                 the same kind); its value checks are skipped
``unexpected_nulls``   error     a non-nullable column has nulls; observed = null ratio
``null_ratio``         warning   a nullable column's null ratio exceeds its
                                 ``max_null_ratio``; observed = null ratio
``out_of_range``       warning   numeric values fall outside the schema's [min, max];
                                 observed = share out of range
``unseen_categories``  warning   more than ``max_unseen_ratio`` (default 0) of the values are
                                 not among the schema's categories; observed = that share
``constant_column``    warning   fewer than ``min_distinct`` distinct values (usually: one
                                 value only); observed = distinct count
``duplicate_rows``     warning   more than the dataset's ``max_duplicate_ratio`` of the rows
                                 repeat an earlier row; observed = that share
``missing_label``      error     the dataset's label column is absent or all null
``label_shift``        warning   the label's distribution differs from the schema's
                                 (chi-square test); observed = p-value
=====================  ========  ============================================================

``details`` carries the rest of what was observed (the min/max seen, example values) for
machines; ``message`` says it all for people.
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np
import pandas as pd

from evergreen.validation.anomaly import Anomaly as Anomaly
from evergreen.validation.anomaly import percent
from evergreen.validation.dataset_checks import duplicate_rows, label_checks
from evergreen.validation.kinds import (
    category_values,
    column_kind,
    columns_by_name,
    numeric_values,
    ranked_counts,
)
from evergreen.validation.schema import ColumnSchema, Schema
from evergreen.validation.schema import Severity as Severity

MAX_EXAMPLES = 5


def check_batch(df: pd.DataFrame, schema: Schema, *, ignore: Collection[str] = ()) -> list[Anomaly]:
    """Every anomaly of ``df`` against ``schema``, in schema column order then extra columns.

    Dataset-level anomalies (duplicate rows, the label) come last. Each anomaly has the
    severity the schema gives its check; checks set to ``off`` report nothing. Columns named in
    ``ignore`` are skipped entirely (e.g. the target at serving time, which also skips the
    label checks). Raises ``InvalidInput`` if ``df`` has duplicate column names.
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
    label = schema.dataset.label if schema.dataset else None
    if label is not None and label.column in skipped:
        label = None
    for spec in schema.columns:
        if spec.name in skipped:
            continue
        series = columns.get(spec.name)
        if series is None:
            if spec.required and (label is None or label.column != spec.name):
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
    if schema.dataset and schema.dataset.max_duplicate_ratio is not None:
        anomalies.extend(duplicate_rows(df, schema.dataset.max_duplicate_ratio))
    if label is not None and len(df):
        anomalies.extend(label_checks(columns.get(label.column), label))
    return _with_severities(anomalies, schema)


def _with_severities(anomalies: list[Anomaly], schema: Schema) -> list[Anomaly]:
    out: list[Anomaly] = []
    for anomaly in anomalies:
        severity = schema.severity(anomaly.check, anomaly.column)
        if severity == "off":
            continue
        if severity != anomaly.severity:
            anomaly = anomaly.model_copy(update={"severity": severity})
        out.append(anomaly)
    return out


def _check_column(series: pd.Series, spec: ColumnSchema) -> list[Anomaly]:
    rows = len(series)
    nulls = int(series.isna().sum())
    if nulls == rows:  # nothing to tell the kind or the values from
        return _null_checks(spec, nulls, rows) if rows else []
    kind = column_kind(series)
    if kind != spec.kind:
        details: dict[str, object] = {"dtype": str(series.dtype)}
        message = (
            f"column {spec.name!r}: expected {spec.kind} values, found {kind} "
            f"(dtype {series.dtype})"
        )
        stray = _first_text_among_numbers(series) if spec.kind == "numeric" else None
        if stray is not None:  # mixed types: numbers with some text, as a CSV column reads
            row, value, numbers = stray
            message = (
                f"column {spec.name!r} mixes numbers and text: {value!r} at row {row + 1} "
                f"(of {numbers} numbers); fix the value, or leave it empty for a missing one"
            )
            details.update(first_text_row=row + 1, first_text=value, numbers=numbers)
        return [
            Anomaly(
                check="kind_mismatch",
                column=spec.name,
                severity="error",
                message=message,
                observed=kind,
                details=details,
            )
        ]
    found = _null_checks(spec, nulls, rows)
    if kind == "numeric" and (spec.min is not None or spec.max is not None):
        found.extend(_range(numeric_values(series), spec))
    if kind in ("categorical", "boolean") and spec.categories is not None:
        found.extend(_categories(category_values(series), spec, spec.categories))
    if spec.min_distinct is not None and rows - nulls >= spec.min_distinct:
        found.extend(_constant(series.dropna(), spec, spec.min_distinct))
    return found


def _first_text_among_numbers(series: pd.Series) -> tuple[int, str, int] | None:
    """(position, value, count of numbers) of the first value that is not a number, when a
    text column holds mostly numbers; None otherwise."""
    if series.dtype != object:
        return None
    present = series.notna().to_numpy()
    numeric = pd.to_numeric(series, errors="coerce").notna().to_numpy()
    parsed, text = int(numeric.sum()), np.flatnonzero(present & ~numeric)
    if parsed == 0 or len(text) == 0 or parsed < len(text):
        return None
    return int(text[0]), str(series.iloc[int(text[0])]), parsed


def _null_checks(spec: ColumnSchema, nulls: int, rows: int) -> list[Anomaly]:
    if nulls and not spec.nullable:
        return [_nulls(spec, nulls, rows)]
    ratio = nulls / rows
    if spec.nullable and spec.max_null_ratio is not None and ratio > spec.max_null_ratio:
        return [
            Anomaly(
                check="null_ratio",
                column=spec.name,
                severity="warning",
                message=f"column {spec.name!r}: {percent(ratio)} of values are null ({nulls} "
                f"of {rows}); the schema allows at most {percent(spec.max_null_ratio)}",
                observed=ratio,
            )
        ]
    return []


def _constant(values: pd.Series, spec: ColumnSchema, min_distinct: int) -> list[Anomaly]:
    try:
        distinct = int(values.nunique())
    except TypeError:  # unhashable cells
        distinct = int(values.astype(str).nunique())
    if distinct >= min_distinct:
        return []
    shown = f"only the value {values.iloc[0]!r}" if distinct == 1 else f"{distinct} values"
    return [
        Anomaly(
            check="constant_column",
            column=spec.name,
            severity="warning",
            message=f"column {spec.name!r} holds {shown} in {len(values)} non-null rows; the "
            f"schema expects at least {min_distinct} distinct values",
            observed=distinct,
        )
    ]


def _nulls(spec: ColumnSchema, nulls: int, rows: int) -> Anomaly:
    ratio = nulls / rows
    return Anomaly(
        check="unexpected_nulls",
        column=spec.name,
        severity="error",
        message=f"column {spec.name!r}: {percent(ratio)} of values are null ({nulls} of "
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
            message=f"column {spec.name!r}: {percent(share)} of values outside "
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
    if share <= (spec.max_unseen_ratio or 0.0):
        return []
    ranked = ranked_counts(unseen)
    examples = [value for value, _ in ranked[:MAX_EXAMPLES]]
    more = f" and {len(ranked) - MAX_EXAMPLES} more" if len(ranked) > MAX_EXAMPLES else ""
    return [
        Anomaly(
            check="unseen_categories",
            column=spec.name,
            severity="warning",
            message=f"column {spec.name!r}: {percent(share)} of values are not among the "
            f"schema's categories: {', '.join(map(repr, examples))}{more}",
            observed=share,
            details={"examples": examples},
        )
    ]
