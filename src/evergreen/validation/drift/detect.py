"""Drift between two data frames, column by column, under a :class:`DriftSpec`.

Each column gets its test from :func:`select_test`; then, across the columns with a p-value,
the spec's multiple-testing correction and effect-size floor decide which of them count as
drifted (see ``spec``).

Each column is read once per side, into the form its tests need: numeric columns into one
float64 array of finite values, categorical and boolean ones into category counts (see
``counts``). The null checks, the test selection and the test all share that one read, so a
column of half a million strings is hashed once per side, not four times.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from evergreen.errors import InvalidInput
from evergreen.validation.drift.base import (
    ColumnDrift,
    DriftReport,
    DriftTest,
    check_p_threshold,
)
from evergreen.validation.drift.correction import adjust_p_values
from evergreen.validation.drift.counts import CategoryCounts
from evergreen.validation.drift.jensenshannon import jensenshannon_distance, shares_distance
from evergreen.validation.drift.selection import distinct_values
from evergreen.validation.drift.selection import select_test as select_test
from evergreen.validation.drift.spec import DriftSpec
from evergreen.validation.drift.wasserstein import normed_wasserstein
from evergreen.validation.drift.z import counts_proportion_gap, proportion_gap
from evergreen.validation.kinds import Kind, column_kind, columns_by_name

_NUMERIC_TESTS = frozenset({"ks", "wasserstein", "jensenshannon", "psi"})


def detect_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    columns: Sequence[str] | None = None,
    p_threshold: float = 0.05,
    share_threshold: float = 0.5,
    spec: DriftSpec | None = None,
) -> DriftReport:
    """Test every column (or those named in ``columns``) for drift from ``reference``.

    With a ``spec``, its tests, thresholds, correction and effect floor apply and
    ``p_threshold``/``share_threshold`` are ignored (``persistence`` needs a
    :class:`DriftTracker`). Without one, every column gets its ``auto`` test at ``p_threshold``
    (distance tests at 0.1), uncorrected and without an effect floor, as Evidently decides.

    A column is skipped, never drifted, with a note saying why, when either side has no
    non-null values, when its kind differs between the frames (``check_batch`` reports that),
    or when no test fits its kind. Without ``columns``, the columns present in both frames are
    tested, in reference order.

    Raises ``InvalidInput`` naming the columns missing from either frame, on thresholds outside
    (0, 1), or on a forced test that does not fit a column's kind.
    """
    if spec is None:
        check_p_threshold(p_threshold)
        if not 0.0 < share_threshold <= 1.0:
            raise InvalidInput(f"share_threshold must be in (0, 1], got {share_threshold!r}")
        spec = DriftSpec(
            p_threshold=p_threshold,
            share_threshold=share_threshold,
            correction="none",
            min_effect=0.0,
        )
    ref_columns = columns_by_name(reference, what="reference data")
    cur_columns = columns_by_name(current, what="current data")
    names = _names(columns, ref_columns, cur_columns)
    results = [_column_drift(name, ref_columns[name], cur_columns[name], spec) for name in names]
    return DriftReport(columns=_calibrate(results, spec), share_threshold=spec.share_threshold)


def _names(
    columns: Sequence[str] | None,
    ref_columns: dict[str, pd.Series],
    cur_columns: dict[str, pd.Series],
) -> list[str]:
    if columns is None:
        names = [name for name in ref_columns if name in cur_columns]
        if not names:
            raise InvalidInput(
                "the reference and current data share no columns; "
                f"reference has {list(ref_columns)}, current has {list(cur_columns)}"
            )
        return names
    names = list(dict.fromkeys(columns))
    missing = [
        f"{side} data lacks {absent}"
        for side, frame in (("reference", ref_columns), ("current", cur_columns))
        if (absent := [name for name in names if name not in frame])
    ]
    if missing:
        raise InvalidInput(f"cannot test drift: {'; '.join(missing)}")
    return names


@dataclass(frozen=True)
class _Pair:
    """One column on both sides, read once and shared by the checks, the selection and the
    test: for numeric columns the finite float64 values, for categorical and boolean ones the
    counts of each category (see ``counts``); for the rest, only the non-null counts."""

    non_null: tuple[int, int]
    numbers: tuple[np.ndarray, np.ndarray] | None = None
    counts: CategoryCounts | None = None


def _column_drift(
    name: str, reference: pd.Series, current: pd.Series, spec: DriftSpec
) -> ColumnDrift:
    column_spec = spec.column(name)
    kind, current_kind = column_kind(reference), column_kind(current)
    pair = _read(kind, current_kind, reference, current)
    note = _skip_note(kind, current_kind, pair)
    if note is not None:
        method = "none" if column_spec.method == "auto" else column_spec.method
        return ColumnDrift.skip(name, method, spec.p_threshold, note)
    if pair.counts is not None:
        n_values, rows = int(pair.counts.categories.size), pair.non_null[0]
    else:
        assert pair.numbers is not None  # numeric columns are the only others left
        n_values, rows = distinct_values(*pair.numbers), int(pair.numbers[0].size)
    try:
        test = select_test(
            kind,
            spec.p_threshold,
            reference_rows=rows,
            n_values=n_values,
            method=column_spec.method,
            threshold=column_spec.threshold,
        )
    except InvalidInput as exc:
        raise InvalidInput(f"column {name!r}: {exc}") from None
    assert test is not None  # datetime columns were skipped above
    return _tested(name, test, pair, spec.effect_floor(test.name))


def _read(kind: Kind, current_kind: Kind, reference: pd.Series, current: pd.Series) -> _Pair:
    """Each side's values in the one form its tests need (nothing more for untestable ones)."""
    if kind != current_kind or kind == "datetime":
        return _Pair(non_null=(int(reference.notna().sum()), int(current.notna().sum())))
    if kind == "numeric":  # infinities are dropped like nulls, as Evidently does
        (ref, ref_non_null), (cur, cur_non_null) = _finite(reference), _finite(current)
        return _Pair(non_null=(ref_non_null, cur_non_null), numbers=(ref, cur))
    counts = CategoryCounts.of_series(reference, current)
    return _Pair(non_null=(counts.reference_rows, counts.current_rows), counts=counts)


def _skip_note(kind: Kind, current_kind: Kind, pair: _Pair) -> str | None:
    """Why the column cannot be tested, or ``None`` when it can."""
    for side, non_null in zip(("reference", "current"), pair.non_null, strict=True):
        if non_null == 0:
            return f"no non-null values in the {side} data"
    if current_kind != kind:
        return f"kind changed from {kind} to {current_kind}; see the batch anomalies"
    if kind == "datetime":
        return f"no drift test for {kind} columns"
    for side, values in zip(("reference", "current"), pair.numbers or (), strict=False):
        if values.size == 0:
            return f"no finite values in the {side} data"
    return None


def _tested(name: str, test: DriftTest, pair: _Pair, floor: float) -> ColumnDrift:
    """``test`` on the column, with its effect size when the spec's ``floor`` may need it."""
    if pair.counts is not None:
        result = test.test_counts(pair.counts, column=name)
        if floor > 0.0 and result.drifted:
            effect = _counts_effect(test.name, pair.counts)
            result = result.model_copy(update={"effect": effect})
        return result
    assert pair.numbers is not None
    ref_values, cur_values = pair.numbers
    if test.name not in _NUMERIC_TESTS:  # a forced chi2 or z test counts numbers as strings
        ref_values, cur_values = ref_values.astype(str), cur_values.astype(str)
    result = test.test(ref_values, cur_values, column=name)
    if floor > 0.0 and result.drifted:
        result = result.model_copy(update={"effect": _effect(test.name, ref_values, cur_values)})
    return result


def _finite(series: pd.Series) -> tuple[np.ndarray, int]:
    """The finite values of a numeric column as float64, and how many values are non-null.

    One conversion (none for a float64 column) and one pass over the values when all are
    finite, as they usually are.
    """
    values = np.asarray(series.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)
    finite = np.isfinite(values)
    if finite.all():
        return values, int(values.size)
    non_null = int(values.size - np.count_nonzero(np.isnan(values)))
    return values[finite], non_null


def _effect(test: str, reference: np.ndarray, current: np.ndarray) -> float:
    if test == "ks":
        return normed_wasserstein(reference, current)
    if test == "z":
        return proportion_gap(reference, current)
    return jensenshannon_distance(reference, current)


def _counts_effect(test: str, counts: CategoryCounts) -> float:
    if test == "z":
        return counts_proportion_gap(counts)
    return shares_distance(*counts.shares())


def _calibrate(results: list[ColumnDrift], spec: DriftSpec) -> list[ColumnDrift]:
    """Apply the correction and the effect floor to the columns with a p-value."""
    tested = [i for i, r in enumerate(results) if r.p_value is not None and not r.skipped]
    if not tested:
        return results
    adjusted = adjust_p_values(
        np.array([results[i].p_value for i in tested], dtype=np.float64), spec.correction
    )
    calibrated = list(results)
    for i, p_adjusted in zip(tested, adjusted.tolist(), strict=True):
        result = results[i]
        update: dict[str, object] = {}
        drifted = result.drifted
        if spec.correction != "none":
            update["p_adjusted"] = p_adjusted
            if drifted and not p_adjusted < result.threshold:
                drifted = False
                update["note"] = (
                    f"significant alone, not after the {spec.correction} correction "
                    f"(adjusted p = {p_adjusted:.3g})"
                )
        floor = spec.effect_floor(result.test)
        if drifted and result.effect is not None and result.effect < floor:
            drifted = False
            update["note"] = f"significant, but the effect {result.effect:.3g} is below {floor:g}"
        update["drifted"] = drifted
        calibrated[i] = result.model_copy(update=update)
    return calibrated
