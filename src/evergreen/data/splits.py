"""Holdout splits, recorded with their parameters (seed included) so they reproduce exactly."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from evergreen.errors import InvalidInput

Indices = np.ndarray[Any, np.dtype[np.intp]]


class SplitSpec(BaseModel):
    """How to hold rows out.

    - ``random`` shuffles with ``seed``;
    - ``time`` keeps the latest rows (by ``time_column``, or by row order when none is given);
    - ``stratified`` holds out the same share of every value of ``stratify_column`` (shuffled
      within each value with ``seed``);
    - ``group`` holds out whole groups of ``group_column`` (chosen with ``seed``): no group
      has rows on both sides.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: str = "split/v1"
    method: str = Field(default="random", pattern="^(random|time|stratified|group)$")
    holdout: float = Field(default=0.2, gt=0.0, lt=1.0)
    seed: int = 0
    time_column: str | None = None
    stratify_column: str | None = None
    group_column: str | None = None

    @model_validator(mode="after")
    def _columns_for_method(self) -> SplitSpec:
        if self.method == "stratified" and self.stratify_column is None:
            raise ValueError("a stratified split needs stratify_column")
        if self.method == "group" and self.group_column is None:
            raise ValueError("a group split needs group_column")
        return self


def _codes(frame: pd.DataFrame, column: str | None, role: str) -> Indices:
    if column is None or column not in frame.columns:
        raise InvalidInput(f"{role} column {column!r} is not in the data")
    codes, _ = pd.factorize(frame[column], sort=True, use_na_sentinel=False)
    return np.asarray(codes, dtype=np.intp)


def _stratified(codes: Indices, n_holdout: int, rng: np.random.Generator) -> Indices:
    """Largest-remainder quotas per class, so the holdout has exactly ``n_holdout`` rows."""
    classes = np.unique(codes)
    members = [np.flatnonzero(codes == c) for c in classes]
    share = n_holdout / len(codes)
    quotas = np.array([len(m) * share for m in members])
    take = np.floor(quotas).astype(int)
    for i in np.argsort(-(quotas - take), kind="stable")[: n_holdout - int(take.sum())]:
        take[i] += 1
    picked = [rng.permutation(m)[:k] for m, k in zip(members, take, strict=True)]
    return np.concatenate(picked).astype(np.intp)


def _grouped(codes: Indices, n_holdout: int, rng: np.random.Generator) -> Indices:
    """Whole groups, in a seeded order, until the holdout has at least ``n_holdout`` rows."""
    groups = rng.permutation(np.unique(codes))
    sizes = np.bincount(codes)
    chosen = []
    total = 0
    for group in groups:
        if total >= n_holdout:
            break
        chosen.append(group)
        total += int(sizes[group])
    if total >= len(codes):
        raise InvalidInput(
            f"cannot split {len(codes)} rows in {len(groups)} groups with the holdout asked: "
            "every group would be held out; lower holdout or give more groups"
        )
    return np.flatnonzero(np.isin(codes, chosen)).astype(np.intp)


def split_indices(frame: pd.DataFrame, spec: SplitSpec) -> tuple[Indices, Indices]:
    """Sorted (train, holdout) row positions; both non-empty or InvalidInput."""
    n = len(frame)
    n_holdout = round(n * spec.holdout)
    if n < 2 or n_holdout < 1 or n_holdout >= n:
        raise InvalidInput(
            f"cannot split {n} rows with holdout={spec.holdout}: need at least one row on each side"
        )
    rng = np.random.default_rng(spec.seed)
    if spec.method == "time":
        if spec.time_column is not None:
            if spec.time_column not in frame.columns:
                raise InvalidInput(f"time column {spec.time_column!r} is not in the data")
            order = np.argsort(frame[spec.time_column].to_numpy(), kind="stable")
        else:
            order = np.arange(n)
        holdout = order[n - n_holdout :]
    elif spec.method == "stratified":
        holdout = _stratified(_codes(frame, spec.stratify_column, "stratify"), n_holdout, rng)
    elif spec.method == "group":
        holdout = _grouped(_codes(frame, spec.group_column, "group"), n_holdout, rng)
    else:
        holdout = rng.permutation(n)[n - n_holdout :]
    mask = np.zeros(n, dtype=bool)
    mask[holdout] = True
    return np.flatnonzero(~mask).astype(np.intp), np.flatnonzero(mask).astype(np.intp)


def split(frame: pd.DataFrame, spec: SplitSpec) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, holdout); both non-empty or InvalidInput saying how many rows there were."""
    train_idx, holdout_idx = split_indices(frame, spec)
    return frame.iloc[train_idx], frame.iloc[holdout_idx]


def describe(spec: SplitSpec, train: pd.DataFrame, holdout: pd.DataFrame) -> dict[str, Any]:
    return {**spec.model_dump(), "train_rows": len(train), "holdout_rows": len(holdout)}
