"""Metrics per slice of the holdout (per value of a column), for the gate's "no slice may
regress" rule: a candidate that is better on average can still be much worse for one season,
one region or one customer group, and that is what a slice check catches.

A column with few distinct values is sliced by value; a numeric column with more than
``max_slices`` values is cut into ``bins`` quantile bins. Slices with fewer than ``min_rows``
rows are left out (their metric is mostly noise), and at most ``max_slices`` of the largest are
kept per column.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from evergreen.errors import InvalidInput
from evergreen.training.metrics import Metric


@dataclass(frozen=True)
class SliceScore:
    column: str
    value: str
    rows: int
    candidate: float
    baseline: float | None

    def regression(self, greater_is_better: bool) -> float | None:
        """How much worse the candidate is than the baseline, relative to the baseline
        (0.1: ten percent worse; negative: better); None without a baseline."""
        if self.baseline is None:
            return None
        worse = (
            self.baseline - self.candidate if greater_is_better else self.candidate - self.baseline
        )
        scale = abs(self.baseline)
        if scale == 0:
            return 0.0 if worse <= 0 else float("inf")
        return worse / scale

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def slice_scores(
    frame: pd.DataFrame,
    columns: tuple[str, ...],
    y_true: np.ndarray,
    candidate: np.ndarray,
    baseline: np.ndarray | None,
    metric: Metric,
    *,
    min_rows: int = 30,
    max_slices: int = 20,
    bins: int = 5,
) -> list[SliceScore]:
    """The metric of the candidate (and the baseline) on every slice of ``frame``."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InvalidInput(
            f"the gate slices by {missing}, which the prepared holdout does not have "
            f"(its columns: {', '.join(map(str, frame.columns))})"
        )
    scores = []
    for column in columns:
        keys = _slice_keys(frame[column], max_slices, bins)
        groups = sorted(keys.groupby(keys, sort=False).indices.items(), key=lambda g: -len(g[1]))
        for value, positions in groups[:max_slices]:
            if len(positions) < min_rows:
                continue
            scores.append(
                SliceScore(
                    column,
                    str(value),
                    len(positions),
                    metric(y_true[positions], candidate[positions]),
                    None if baseline is None else metric(y_true[positions], baseline[positions]),
                )
            )
    return scores


def _slice_keys(values: pd.Series, max_slices: int, bins: int) -> pd.Series:
    """A label per row: the value itself, or its quantile bin for a many-valued number."""
    if pd.api.types.is_numeric_dtype(values) and values.nunique() > max_slices:
        binned = pd.qcut(values, bins, duplicates="drop")
        return binned.astype(str).where(values.notna(), "null").reset_index(drop=True)
    return values.astype(str).where(values.notna(), "null").reset_index(drop=True)
