"""Checks of a batch as a whole: duplicate rows, and the label (present, and distributed as the
schema expects). :func:`evergreen.validation.anomalies.check_batch` runs them; each returns
anomalies at their default severity."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from evergreen.validation.anomaly import Anomaly, percent
from evergreen.validation.kinds import category_values, column_kind, numeric_values
from evergreen.validation.schema import LabelSchema

_SMOOTHING = 1e-6  # an expected share of 0 would make any observation infinitely unlikely


def duplicate_rows(df: pd.DataFrame, max_ratio: float) -> list[Anomaly]:
    """``duplicate_rows`` when more than ``max_ratio`` of the rows repeat an earlier row."""
    if len(df) == 0:
        return []
    try:
        repeated = int(df.duplicated().sum())
    except TypeError:  # unhashable cells (lists, dicts): compare their text
        repeated = int(df.astype(str).duplicated().sum())
    ratio = repeated / len(df)
    if ratio <= max_ratio:
        return []
    return [
        Anomaly(
            check="duplicate_rows",
            column=None,
            severity="warning",
            message=f"{percent(ratio)} of rows ({repeated} of {len(df)}) repeat an earlier row; "
            f"the schema allows at most {percent(max_ratio)}",
            observed=ratio,
        )
    ]


def label_checks(series: pd.Series | None, label: LabelSchema) -> list[Anomaly]:
    """``missing_label`` when the label column is absent or all null, else ``label_shift``
    when its distribution differs from the schema's (chi-square goodness of fit)."""
    if series is None or series.notna().sum() == 0:
        found = "absent from the batch" if series is None else "entirely null"
        return [
            Anomaly(
                check="missing_label",
                column=label.column,
                severity="error",
                message=f"label column {label.column!r} is {found}; the schema needs it "
                "(ignore it for unlabelled batches)",
                observed=None if series is None else 1.0,
            )
        ]
    observed, expected_shares, names = _binned(series, label)
    if observed is None or observed.sum() == 0:
        return []
    expected = (expected_shares + _SMOOTHING) / (expected_shares + _SMOOTHING).sum()
    statistic, p_value = stats.chisquare(observed, expected * observed.sum())
    p_value = float(p_value)
    if not p_value < label.p_threshold:
        return []
    shares = observed / observed.sum()
    moved = int(np.argmax(np.abs(shares - expected)))
    return [
        Anomaly(
            check="label_shift",
            column=label.column,
            severity="warning",
            message=f"label column {label.column!r}: distribution shifted from the schema's "
            f"(chi-square {float(statistic):.4g}, p = {p_value:.3g} < {label.p_threshold:g}); "
            f"largest change: {names[moved]} {percent(float(expected[moved]))} -> "
            f"{percent(float(shares[moved]))}",
            observed=p_value,
            details={"statistic": float(statistic), "bin": names[moved]},
        )
    ]


def _binned(
    series: pd.Series, label: LabelSchema
) -> tuple[np.ndarray | None, np.ndarray, list[str]]:
    if label.categories:
        names = list(label.categories)
        counts = category_values(series).value_counts()
        observed = np.array([int(counts.get(name, 0)) for name in names], dtype=np.float64)
        return observed, np.array([label.categories[n] for n in names], dtype=np.float64), names
    if label.edges is not None and label.shares is not None and column_kind(series) == "numeric":
        values = numeric_values(series)
        values = np.clip(values[np.isfinite(values)], label.edges[0], label.edges[-1])
        observed = np.histogram(values, bins=np.asarray(label.edges))[0].astype(np.float64)
        edges = label.edges
        names = [f"[{edges[i]:g}, {edges[i + 1]:g}]" for i in range(len(edges) - 1)]
        return observed, np.asarray(label.shares, dtype=np.float64), names
    return None, np.empty(0), []
