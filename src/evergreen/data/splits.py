"""Holdout splits, recorded with their parameters so they can be reproduced exactly."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from evergreen.errors import InvalidInput


class SplitSpec(BaseModel):
    """``random`` shuffles with ``seed``; ``time`` keeps the latest rows (by ``time_column``, or
    by row order when none is given) for the holdout."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: str = "split/v1"
    method: str = Field(default="random", pattern="^(random|time)$")
    holdout: float = Field(default=0.2, gt=0.0, lt=1.0)
    seed: int = 0
    time_column: str | None = None


def split(frame: pd.DataFrame, spec: SplitSpec) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, holdout); both non-empty or InvalidInput saying how many rows there were."""
    n = len(frame)
    n_holdout = round(n * spec.holdout)
    if n < 2 or n_holdout < 1 or n_holdout >= n:
        raise InvalidInput(
            f"cannot split {n} rows with holdout={spec.holdout}: need at least one row on each side"
        )
    if spec.method == "time":
        if spec.time_column is not None:
            if spec.time_column not in frame.columns:
                raise InvalidInput(f"time column {spec.time_column!r} is not in the data")
            order = np.argsort(frame[spec.time_column].to_numpy(), kind="stable")
        else:
            order = np.arange(n)
    else:
        order = np.random.default_rng(spec.seed).permutation(n)
    train_idx, holdout_idx = order[: n - n_holdout], order[n - n_holdout :]
    return frame.iloc[np.sort(train_idx)], frame.iloc[np.sort(holdout_idx)]


def describe(spec: SplitSpec, train: pd.DataFrame, holdout: pd.DataFrame) -> dict[str, Any]:
    return {**spec.model_dump(), "train_rows": len(train), "holdout_rows": len(holdout)}
