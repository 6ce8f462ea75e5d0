"""A historical table as a stream of batches: read, put in time order, encoded for the model,
cut by row count or by period, each batch stamped with the simulated time it completes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from evergreen.core.durations import parse_duration
from evergreen.data.sources import format_of, read_bytes
from evergreen.errors import InvalidInput, NotFound

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)  # the clock's start when the data has no time column
CLASS_LIMIT = 20  # an integer target with at most this many values is taken as classes


@dataclass(frozen=True)
class Stream:
    """The replayed data: ``frame`` (features and target, encoded, in time order) and where
    each batch starts and stops, with the time at which it is complete."""

    frame: pd.DataFrame
    target: str
    task: str
    features: list[str]
    bounds: list[tuple[int, int]]
    times: list[datetime]

    def __len__(self) -> int:
        return len(self.bounds)

    def batch(self, index: int) -> pd.DataFrame:
        start, stop = self.bounds[index]
        return self.frame.iloc[start:stop]


def read_table(path: Path) -> pd.DataFrame:
    """A CSV or Parquet (or JSON lines) file as a table."""
    if not path.is_file():
        raise NotFound(f"{path}: no such data file; give a CSV or Parquet file with --data")
    return read_bytes(path.read_bytes(), format_of(path), str(path))


def infer_task(target: pd.Series) -> str:
    """Classification for text, booleans, categories and integers with few values; else
    regression."""
    if pd.api.types.is_bool_dtype(target) or not pd.api.types.is_numeric_dtype(target):
        return "classification"
    values = target.dropna()
    whole = pd.api.types.is_integer_dtype(values) or bool(np.all(np.mod(values, 1) == 0))
    return "classification" if whole and values.nunique() <= CLASS_LIMIT else "regression"


def _encoded(column: pd.Series) -> pd.Series:
    """Numbers stay; booleans become 0/1, times seconds since 1970, anything else codes."""
    if pd.api.types.is_bool_dtype(column):
        return column.astype("int8")
    if pd.api.types.is_datetime64_any_dtype(column):
        return column.astype("int64") // 10**9
    if pd.api.types.is_numeric_dtype(column):
        return column
    codes, _ = pd.factorize(column, sort=True)
    return pd.Series(codes, index=column.index, name=column.name)


def _check_columns(frame: pd.DataFrame, names: dict[str, str | None]) -> None:
    for role, name in names.items():
        if name is not None and name not in frame.columns:
            shown = ", ".join(map(str, frame.columns[:30]))
            raise InvalidInput(f"{role} column {name!r} is not in the data (columns: {shown})")


def _times(frame: pd.DataFrame, time_column: str) -> pd.Series:
    try:
        times = pd.to_datetime(frame[time_column], utc=True)
    except (ValueError, TypeError) as exc:
        raise InvalidInput(
            f"time column {time_column!r} does not hold dates or times: {exc}"
        ) from None
    if times.isna().any():
        raise InvalidInput(
            f"time column {time_column!r} has {int(times.isna().sum())} empty values"
        )
    return times


def make_stream(
    raw: pd.DataFrame,
    *,
    target: str,
    time_column: str | None = None,
    batch_size: int | None = None,
    batch_period: str | None = None,
    drop: tuple[str, ...] = (),
    task: str | None = None,
) -> Stream:
    """Cut ``raw`` into batches (see the module). The first batch trains the first model, so
    there must be at least two."""
    if (batch_size is None) == (batch_period is None):
        raise InvalidInput("give exactly one of --batch-size N and --batch-period P (e.g. 7d)")
    if batch_period is not None and time_column is None:
        raise InvalidInput(
            f"--batch-period {batch_period} needs --time-column: without one, the row order is "
            "the only time there is; use --batch-size N instead"
        )
    _check_columns(raw, {"target": target, "time": time_column})
    for name in drop:
        _check_columns(raw, {"dropped": name})
    if task not in (None, "classification", "regression"):
        raise InvalidInput(f"--task must be classification or regression, not {task!r}")
    frame = raw[raw[target].notna()]
    times = None
    if time_column is not None:
        times = _times(frame, time_column)
        order = np.argsort(times.to_numpy(), kind="stable")
        frame, times = frame.iloc[order], times.iloc[order]
    features = [str(c) for c in frame.columns if c not in {target, time_column, *drop}]
    if not features:
        raise InvalidInput("no feature columns are left besides the target and the time")
    task = task or infer_task(frame[target])
    encoded = pd.DataFrame({name: _encoded(frame[name]) for name in features})
    encoded[target] = _encoded(frame[target]) if task == "classification" else frame[target]
    encoded = encoded.reset_index(drop=True)
    if batch_period is not None and times is not None:
        bounds = _by_period(times, batch_period)
    else:
        bounds = _by_size(len(encoded), batch_size or 0)
    if times is None:
        stamps = [EPOCH + timedelta(days=i + 1) for i in range(len(bounds))]
    else:
        stamps = [times.iloc[stop - 1].to_pydatetime() for _start, stop in bounds]
    return Stream(encoded, target, task, features, bounds, stamps)


def _by_size(rows: int, size: int) -> list[tuple[int, int]]:
    if size < 1:
        raise InvalidInput(f"--batch-size must be at least 1, not {size}")
    if size * 2 > rows:
        raise InvalidInput(
            f"--batch-size {size} leaves fewer than two batches of the {rows} rows (the first "
            f"trains the first model, the others are predicted); use at most {rows // 2}"
        )
    return [(start, min(start + size, rows)) for start in range(0, rows, size)]


def _by_period(times: pd.Series, period: str) -> list[tuple[int, int]]:
    try:
        step = parse_duration(period)
    except ValueError as exc:
        raise InvalidInput(f"--batch-period: {exc}") from None
    if step.total_seconds() <= 0:
        raise InvalidInput("--batch-period must be longer than zero, e.g. 1d or 7d")
    elapsed = (times - times.iloc[0]).dt.total_seconds().to_numpy()
    index = (elapsed // step.total_seconds()).astype(np.int64)
    starts = np.flatnonzero(np.r_[True, index[1:] != index[:-1]])
    stops = np.r_[starts[1:], len(index)]
    bounds = [(int(a), int(b)) for a, b in zip(starts, stops, strict=True)]
    if len(bounds) < 2:
        raise InvalidInput(
            f"--batch-period {period} puts all {len(times)} rows in one batch (the data spans "
            f"{times.iloc[-1] - times.iloc[0]}); use a shorter period"
        )
    return bounds
