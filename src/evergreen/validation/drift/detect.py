"""Drift between two data frames, column by column, under a :class:`DriftSpec`.

Each column gets its test from :func:`select_test`; then, across the columns with a p-value,
the spec's multiple-testing correction and effect-size floor decide which of them count as
drifted (see ``spec``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from evergreen.errors import InvalidInput
from evergreen.validation.drift.base import ColumnDrift, DriftReport, check_p_threshold
from evergreen.validation.drift.correction import adjust_p_values
from evergreen.validation.drift.jensenshannon import jensenshannon_distance
from evergreen.validation.drift.selection import distinct_values
from evergreen.validation.drift.selection import select_test as select_test
from evergreen.validation.drift.spec import DriftSpec
from evergreen.validation.drift.wasserstein import normed_wasserstein
from evergreen.validation.drift.z import proportion_gap
from evergreen.validation.kinds import (
    category_values,
    column_kind,
    columns_by_name,
    numeric_values,
)

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


def _column_drift(
    name: str, reference: pd.Series, current: pd.Series, spec: DriftSpec
) -> ColumnDrift:
    kind = column_kind(reference)
    column_spec = spec.column(name)
    note: str | None = None
    if reference.notna().sum() == 0:
        note = "no non-null values in the reference data"
    elif current.notna().sum() == 0:
        note = "no non-null values in the current data"
    elif (current_kind := column_kind(current)) != kind:
        note = f"kind changed from {kind} to {current_kind}; see the batch anomalies"
    elif kind == "datetime":
        note = f"no drift test for {kind} columns"
    if note is not None:
        method = "none" if column_spec.method == "auto" else column_spec.method
        return ColumnDrift.skip(name, method, spec.p_threshold, note)
    if kind == "numeric":  # infinities are dropped like nulls, as Evidently does
        ref_values, cur_values = (
            _finite(numeric_values(reference)),
            _finite(numeric_values(current)),
        )
        if ref_values.size == 0 or cur_values.size == 0:
            side = "reference" if ref_values.size == 0 else "current"
            method = "none" if column_spec.method == "auto" else column_spec.method
            note = f"no finite values in the {side} data"
            return ColumnDrift.skip(name, method, spec.p_threshold, note)
    else:
        ref_values = category_values(reference).to_numpy()
        cur_values = category_values(current).to_numpy()
    n_values = distinct_values(ref_values, cur_values)
    try:
        test = select_test(
            kind,
            spec.p_threshold,
            reference_rows=int(ref_values.size),
            n_values=n_values,
            method=column_spec.method,
            threshold=column_spec.threshold,
        )
    except InvalidInput as exc:
        raise InvalidInput(f"column {name!r}: {exc}") from None
    assert test is not None  # datetime columns were skipped above
    if kind == "numeric" and test.name not in _NUMERIC_TESTS:
        ref_values, cur_values = ref_values.astype(str), cur_values.astype(str)
    result = test.test(ref_values, cur_values, column=name)
    floor = spec.effect_floor(test.name)
    if floor > 0.0 and result.drifted:
        result = result.model_copy(update={"effect": _effect(test.name, ref_values, cur_values)})
    return result


def _finite(values: np.ndarray) -> np.ndarray:
    finite: np.ndarray = values[np.isfinite(values)]
    return finite


def _effect(test: str, reference: np.ndarray, current: np.ndarray) -> float:
    if test == "ks":
        return normed_wasserstein(reference, current)
    if test == "z":
        return proportion_gap(reference, current)
    return jensenshannon_distance(reference, current)


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
