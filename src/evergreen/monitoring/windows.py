"""A window of one model version's prediction log, its labels joined: what a monitor pass reads.

A window is the newest ``window_rows`` rows of the log, or, when the ``MonitorSpec`` sets
``window``, the rows logged in the last ``window`` of time. Only the rows the version answered
as the primary of its endpoint count (``role`` is ``primary``, or absent for records that did
not come through the gateway): a shadow's answers never reached anyone, and are read with
``role="shadow"`` and a ``variant`` when wanted. Only the segments that can hold the window's
rows are read (the newest ones, or those whose last row is in the time range), with pyarrow.

Labels are joined by request id, however late they arrived: each pass asks the feedback table
for the labels of the window's requests (``PredictionRepository.labels``, in bulk) and joins
them with an arrow hash look-up. A label applies to every row of its request when it is a
scalar; a list label with one item per row labels the request's rows in order. ``label_at`` is
when a row's label arrived (the detectors read the error stream in that order).

The window's frame holds ``request_id``, ``ts``, the input columns and ``prediction`` (the
gateway's ``endpoint``, ``variant``, ``role``, ``latency_ms`` and ``error`` are dropped once the
rows are chosen), then ``label`` and ``label_at``.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from evergreen.store.artifacts import ArtifactStore
from evergreen.store.predictions import Labels, PredictionRepository
from evergreen.store.shadow_inputs import join_primary_inputs, request_ids
from evergreen.store.tables import PredictionSegmentRow

SERVED = ("endpoint", "variant", "role", "latency_ms", "error")
READERS = 4  # threads reading segments


@dataclass(frozen=True)
class Window:
    """The rows of one window, oldest first; ``start``/``end`` bound it (the time range asked,
    or the first and last row's time for a window of rows; None when empty). ``ids`` are the
    rows' request ids as arrow strings (the join key)."""

    model: str
    version: int
    frame: pd.DataFrame
    ids: pa.Array
    start: datetime | None
    end: datetime | None

    @property
    def rows(self) -> int:
        return len(self.frame)

    def request_ids(self) -> pa.Array:
        """The distinct request ids of the window."""
        return pc.unique(self.ids)

    def with_labels(self, labels: Labels) -> Window:
        """This window with ``label`` and ``label_at`` joined from ``labels`` by request id."""
        return replace(self, frame=join_labels(self.frame, self.ids, labels))

    @property
    def labelled(self) -> pd.DataFrame:
        """The rows whose label arrived and that the model answered (no error): their
        ``request_id``, ``ts``, ``prediction``, ``label`` and ``label_at``."""
        frame = self.frame[["request_id", "ts", "prediction", "label", "label_at"]]
        mask = frame["label_at"].notna().to_numpy() & frame["label"].notna().to_numpy()
        mask &= frame["prediction"].notna().to_numpy()
        return frame if mask.all() else frame[mask]


def read_window(
    predictions: PredictionRepository,
    artifacts: ArtifactStore,
    model: str,
    version: int,
    *,
    now: datetime,
    last_rows: int | None = None,
    last: timedelta | None = None,
    role: str | None = "primary",
    variant: str | None = None,
    labels: bool = True,
) -> Window:
    """Read a window: the ``last_rows`` newest rows, or the rows of the ``last`` stretch of time
    before ``now`` (one of the two), of ``role`` (None: any) and ``variant`` (None: any); with
    ``labels`` False, ``label``/``label_at`` stay empty (join them later with
    ``Window.with_labels``)."""
    if (last_rows is None) == (last is None):
        raise ValueError("read_window needs exactly one of last_rows and last")
    if last is not None:
        start: datetime | None = now - last
        segments = predictions.segments(model, version=version, after=start)
        table = _ordered(_read(predictions, artifacts, segments, role, variant))
        table = table.filter(pc.greater_equal(table["ts"], pa.scalar(start, table["ts"].type)))
        end: datetime | None = now
    else:
        assert last_rows is not None
        table = _newest(predictions, artifacts, model, version, last_rows, role, variant)
        start = end = None
        if table.num_rows:
            start, end = table["ts"][0].as_py(), table["ts"][-1].as_py()
    window = Window(model, version, _frame(table), request_ids(table), start, end)
    if labels:
        return window.with_labels(predictions.labels(window.request_ids()))
    return replace(window, frame=_unlabelled(window.frame))


def _newest(
    predictions: PredictionRepository,
    artifacts: ArtifactStore,
    model: str,
    version: int,
    last_rows: int,
    role: str | None,
    variant: str | None,
) -> pa.Table:
    """The newest ``last_rows`` rows: the newest segments that hold enough rows by the index,
    read together; older ones after them while filtered rows (shadows) leave the window short."""
    tables: list[pa.Table] = []
    total = 0
    older = list(reversed(predictions.segments(model, version=version)))
    while older and total < last_rows:
        batch, indexed = [], 0
        while older and total + indexed < last_rows:
            batch.append(older.pop(0))
            indexed += batch[-1].rows
        table = _read(predictions, artifacts, list(reversed(batch)), role, variant)
        tables.insert(0, table)
        total += table.num_rows
    table = _ordered(_concat(tables))
    return table.slice(max(0, table.num_rows - last_rows))


def _read(
    predictions: PredictionRepository,
    artifacts: ArtifactStore,
    segments: list[PredictionSegmentRow],
    role: str | None,
    variant: str | None,
) -> pa.Table:
    """The rows of ``segments`` of ``role`` and ``variant``, in segment order (the segments
    fetched, verified and decoded by a few threads: each step releases the GIL); shadow rows
    logged without their inputs get them from their primary's (``store.shadow_inputs``)."""
    if len(segments) < 2:
        tables = [_read_one(artifacts, s, role, variant) for s in segments]
    else:
        with ThreadPoolExecutor(READERS, thread_name_prefix="evergreen-window") as pool:
            tables = list(pool.map(lambda s: _read_one(artifacts, s, role, variant), segments))
    tables = join_primary_inputs(predictions, artifacts, segments, tables)
    return _concat([t for t in tables if t is not None])


def _read_one(
    artifacts: ArtifactStore, segment: PredictionSegmentRow, role: str | None, variant: str | None
) -> pa.Table | None:
    file = pq.ParquetFile(pa.BufferReader(artifacts.get_bytes(segment.artifact_sha256)))
    table = file.read()
    if role is not None:
        if _uniform(file, "role", role):
            pass  # the row groups' statistics say every row has this role
        elif "role" in table.column_names:
            table = _keep(table, pc.fill_null(pc.equal(table["role"], role), role == "primary"))
        elif role != "primary":
            return None  # not logged by the gateway: every row was answered as the primary
    if variant is not None:
        if "variant" not in table.column_names:
            return None
        table = _keep(table, pc.fill_null(pc.equal(table["variant"], variant), False))
    return table.drop_columns([c for c in SERVED if c in table.column_names])


def _uniform(file: pq.ParquetFile, column: str, value: str) -> bool:
    """Whether every row of ``file`` holds ``value`` in ``column``, from its statistics."""
    index = file.schema_arrow.get_field_index(column)
    if index < 0:
        return False
    for group in range(file.metadata.num_row_groups):
        stats = file.metadata.row_group(group).column(index).statistics
        if stats is None or not stats.has_min_max or stats.null_count:
            return False
        if not stats.min == stats.max == value:
            return False
    return True


def _keep(table: pa.Table, mask: pa.ChunkedArray) -> pa.Table:
    """The rows of ``table`` where ``mask`` holds (``table`` itself when all do)."""
    return table if pc.all(mask).as_py() else table.filter(mask)


def _concat(tables: list[pa.Table]) -> pa.Table:
    if not tables:
        return pa.table(
            {
                "request_id": pa.array([], pa.string()),
                "ts": pa.array([], pa.timestamp("us", tz="UTC")),
                "prediction": pa.array([], pa.float64()),
            }
        )
    if len(tables) == 1:
        return tables[0]
    # segments may differ in a column's type (all-null predictions of failed requests)
    return pa.concat_tables(tables, promote_options="permissive")


def _ordered(table: pa.Table) -> pa.Table:
    """Rows in time order: segments of several endpoints (or writers) may interleave; sorted
    only when they do."""
    ts = table["ts"]
    if table.num_rows < 2 or pc.all(pc.greater_equal(ts[1:], ts[:-1])).as_py():
        return table
    return table.sort_by([("ts", "ascending")])


def _frame(table: pa.Table) -> pd.DataFrame:
    frame: pd.DataFrame = table.drop_columns(["request_id"]).to_pandas()
    ids = pd.Series(pd.arrays.ArrowExtensionArray(request_ids(table)), index=frame.index)
    frame.insert(0, "request_id", ids)
    return frame


def _unlabelled(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy(deep=False)
    out["label"] = np.nan
    out["label_at"] = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[us, UTC]")
    return out


def join_labels(frame: pd.DataFrame, ids: pa.Array, labels: Labels) -> pd.DataFrame:
    """``frame`` with ``label`` and ``label_at`` joined from ``labels`` by request id (``ids``:
    the frame's request ids, row by row)."""
    if len(labels) == 0 or frame.empty:
        return _unlabelled(frame)
    position = pc.index_in(ids, value_set=labels.request_id)
    found = position.is_valid().to_numpy(zero_copy_only=False)
    taken = position.fill_null(0).to_numpy(zero_copy_only=False)
    arrived = np.where(found, labels.at[taken], np.datetime64("NaT", "us"))
    out = frame.copy(deep=False)  # new columns, the window's own blocks shared, not copied
    out["label"] = _masked(labels.label[taken], found)
    out["label_at"] = pd.Series(pd.DatetimeIndex(arrived).tz_localize("UTC"), index=frame.index)
    if labels.label.dtype == object:
        out["label"] = _spread_lists(out)
    return out


def _masked(values: np.ndarray, found: np.ndarray) -> np.ndarray:
    if found.all():
        return values
    if values.dtype.kind == "f":
        return np.where(found, values, np.nan)
    out = values.astype(object, copy=True)
    out[~found] = None
    return out


def _spread_lists(frame: pd.DataFrame) -> pd.Series:
    """Labels that are lists give one item per row of their request, in order."""
    label = frame["label"]
    is_list = np.fromiter((isinstance(v, list) for v in label), bool, len(label))
    if not is_list.any():
        return label
    position = frame.groupby("request_id", sort=False).cumcount().to_numpy()
    values = label.to_numpy(dtype=object).copy()
    for i in np.flatnonzero(is_list):
        items = values[i]
        values[i] = items[position[i]] if position[i] < len(items) else None
    return pd.Series(values, index=frame.index)
