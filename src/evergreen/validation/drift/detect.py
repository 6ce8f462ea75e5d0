"""Drift between two data frames, column by column.

:func:`select_test` is the one place that decides which test a column gets; later tests
(Wasserstein, Jensen-Shannon, PSI) and per-column policies plug in there.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from evergreen.errors import InvalidInput
from evergreen.validation.drift.base import ColumnDrift, DriftReport, DriftTest, check_p_threshold
from evergreen.validation.drift.chi2 import ChiSquareTest
from evergreen.validation.drift.ks import KSTest
from evergreen.validation.kinds import (
    Kind,
    category_values,
    column_kind,
    columns_by_name,
    numeric_values,
)


def select_test(kind: Kind, p_threshold: float = 0.05) -> DriftTest | None:
    """The drift test for a column of ``kind``: KS for numeric, chi-square for categorical and
    boolean, none for datetime."""
    if kind == "numeric":
        return KSTest(p_threshold)
    if kind in ("categorical", "boolean"):
        return ChiSquareTest(p_threshold)
    return None


def detect_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    columns: Sequence[str] | None = None,
    p_threshold: float = 0.05,
    share_threshold: float = 0.5,
) -> DriftReport:
    """Test every column (or those named in ``columns``) for drift from ``reference``.

    The test is chosen from the reference column's kind (:func:`select_test`) and run on the
    non-null values. A column is skipped, never drifted, with a note saying why, when either
    side has no non-null values, when its kind differs between the frames (``check_batch``
    reports that), or when no test fits its kind. Without ``columns``, the columns present in
    both frames are tested, in reference order.

    Raises ``InvalidInput`` naming the columns missing from either frame, or on thresholds
    outside (0, 1).
    """
    check_p_threshold(p_threshold)
    if not 0.0 < share_threshold <= 1.0:
        raise InvalidInput(f"share_threshold must be in (0, 1], got {share_threshold!r}")
    ref_columns = _by_name(reference, "reference")
    cur_columns = _by_name(current, "current")
    if columns is None:
        names = [name for name in ref_columns if name in cur_columns]
        if not names:
            raise InvalidInput(
                "the reference and current data share no columns; "
                f"reference has {list(ref_columns)}, current has {list(cur_columns)}"
            )
    else:
        names = list(dict.fromkeys(columns))
        missing = [
            f"{side} data lacks {absent}"
            for side, frame in (("reference", ref_columns), ("current", cur_columns))
            if (absent := [name for name in names if name not in frame])
        ]
        if missing:
            raise InvalidInput(f"cannot test drift: {'; '.join(missing)}")
    return DriftReport(
        columns=[
            _column_drift(name, ref_columns[name], cur_columns[name], p_threshold) for name in names
        ],
        share_threshold=share_threshold,
    )


def _by_name(frame: pd.DataFrame, side: str) -> dict[str, pd.Series]:
    return columns_by_name(frame, what=f"{side} data")


def _column_drift(
    name: str, reference: pd.Series, current: pd.Series, p_threshold: float
) -> ColumnDrift:
    kind = column_kind(reference)
    test = select_test(kind, p_threshold)
    test_name = test.name if test is not None else "none"
    note: str | None = None
    if reference.notna().sum() == 0:
        note = "no non-null values in the reference data"
    elif current.notna().sum() == 0:
        note = "no non-null values in the current data"
    elif (current_kind := column_kind(current)) != kind:
        note = f"kind changed from {kind} to {current_kind}; see the batch anomalies"
    elif test is None:
        note = f"no drift test for {kind} columns"
    if note is not None or test is None:
        return ColumnDrift.skip(name, test_name, p_threshold, note or "")
    if kind == "numeric":
        return test.test(numeric_values(reference), numeric_values(current), column=name)
    return test.test(
        category_values(reference).to_numpy(), category_values(current).to_numpy(), column=name
    )
