"""The prediction log: what each model version was asked and what it answered.

``PredictionLogWriter.record`` only appends to a buffer, so logging costs a request next to
nothing; a background thread writes the buffer every ``flush_interval`` seconds (or as soon as
``max_rows`` rows wait) as one Parquet segment per (model, version, endpoint), stored in the
artifact store and indexed in the metadata database, where ``read_predictions`` (in
``evergreen.store.predictions``) reads them back. A segment that cannot be written is kept for
the next flush.

With ``in_process=False`` (the gateway's choice) the thread only hands what was recorded, every
quarter second, to a child process that builds the segments and stores them (``log_process``):
building and storing them took the interpreter for milliseconds, which the requests arriving
meanwhile waited out.

Segment columns: ``request_id`` (string), ``ts`` (UTC timestamp), then, for gateway records,
``endpoint``, ``variant``, ``role`` (``primary`` or ``shadow``), ``latency_ms`` and ``error``
(null unless the model failed on the request, when ``prediction`` is null), the input columns,
and ``prediction``. An input column whose name clashes with those is stored as
``input.<name>``.

A shadow's answers are logged without their inputs (``record_together(inputs_logged=True)``):
its primary has logged the very same rows under the same request ids, and writing them again
made a shadow's segment of 100-row requests 2.3 times as costly to write. Such a segment says
so in its Parquet metadata (``INPUTS_KEY``), and readers join the inputs back from the
endpoint's primary rows (``store.shadow_inputs``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from itertools import chain
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa

from evergreen.core.clock import Clock, SystemClock
from evergreen.errors import InvalidState
from evergreen.serving.frames import numeric_block, stack_frames
from evergreen.serving.log_segments import Segment, SegmentWriter
from evergreen.store.artifacts import ArtifactStore
from evergreen.store.predictions import PredictionRepository
from evergreen.store.shadow_inputs import INPUTS_KEY, INPUTS_WITH_PRIMARY, LOG_COLUMNS

if TYPE_CHECKING:
    from evergreen.serving.log_process import LogProcess

log = logging.getLogger(__name__)

RESERVED = LOG_COLUMNS

# how often a writer with a child process hands what it recorded over: a quarter of a second's
# requests take the interpreter for a fraction of a millisecond to pickle
HANDOVER_INTERVAL = 0.25
# the text columns of the log's own that ``_Columns`` keeps dictionary-encoded (``encode_labels``)
LABELS = ("request_id", "endpoint", "variant", "role", "error")
LABEL = pa.dictionary(pa.int32(), pa.string())
# rows of a block transposed at a time (``_columns_of``): 1,024 rows of 30 float64 fit in L2
TRANSPOSE_ROWS = 1024


class Served(NamedTuple):  # a tuple: made on every request, in a fifth of a dataclass's time
    """Who answered a request: the endpoint, the variant, and in which role."""

    endpoint: str
    variant: str
    role: str = "primary"
    latency_ms: float = 0.0
    error: str | None = None


# a segment's model, version and endpoint, and whether its inputs are left to the primary's
SegmentKey = tuple[str, int, str | None, bool]


class _Record(NamedTuple):  # a tuple, like Served
    """One request's rows, or several requests answered together (a shadow's batch), with
    their answers: what the writer keeps of traffic that ``_Columns`` does not take."""

    request_ids: tuple[str, ...]
    counts: tuple[int, ...] | None  # each request's rows; None: one request of ``rows`` rows
    ts: datetime
    rows: int
    # The inputs: one numeric array and its columns' names when they are one (the frame is
    # not kept: freeing a thousand frames after each flush held the GIL for ~4 ms), else the
    # frame itself.
    block: np.ndarray | None
    names: tuple[object, ...] | None
    frame: pd.DataFrame | None
    outputs: np.ndarray | None
    served: Served | None

    @property
    def request_rows(self) -> tuple[int, ...]:
        return (self.rows,) if self.counts is None else self.counts

    @property
    def inputs(self) -> pd.DataFrame:
        if self.frame is not None:
            return self.frame
        return pd.DataFrame(self.block, columns=list(self.names or ()))


class _Rows:
    """Rows appended to one array (1-D or 2-D), whose room doubles when they fill it."""

    __slots__ = ("array", "count")

    def __init__(self) -> None:
        self.array: np.ndarray | None = None  # its shape and dtype come with the first rows
        self.count = 0

    def add(self, values: np.ndarray) -> None:
        start, end = self.count, self.count + len(values)
        array = self.array
        if array is None or end > len(array):
            room = max(256, end) if array is None else max(2 * len(array), end)
            grown = np.empty((room, *values.shape[1:]), values.dtype)
            if array is not None:
                grown[:start] = array[:start]
            self.array = array = grown
        array[start:end] = values
        self.count = end

    def filled(self) -> np.ndarray:
        assert self.array is not None
        return self.array[: self.count]

    def __getstate__(self) -> tuple[np.ndarray | None, int]:  # pickled without its spare room
        return (None if self.array is None else self.filled(), self.count)

    def __setstate__(self, state: tuple[np.ndarray | None, int]) -> None:
        self.array, self.count = state


class _Columns:
    """Requests of one segment with one layout (numeric inputs with the same columns and
    dtype, a 1-D numeric answer a row: a tabular model's traffic), kept as columns as they
    arrive. A flush then makes their table in a few dozen calls whatever their number; built
    from records, a thousand requests held the GIL for ~4 ms in one stretch, which the requests
    arriving meanwhile waited out."""

    __slots__ = (
        "blocks",
        "endpoint",
        "errors",
        "latencies",
        "layout",
        "names",
        "outputs",
        "record_requests",
        "record_rows",
        "request_ids",
        "request_rows",
        "roles",
        "rows",
        "seconds",
        "served",
        "variants",
    )

    def __init__(
        self, layout: tuple[object, ...], endpoint: str | None, names: tuple[object, ...]
    ) -> None:
        self.layout = layout
        self.endpoint = endpoint
        self.names = names
        self.served = bool(layout[3])
        self.request_ids: list[str] = []
        self.request_rows: list[int] = []  # a request's rows
        self.seconds: list[float] = []  # a record's (one call's) time, from ``_seconds``
        self.record_rows: list[int] = []
        self.record_requests: list[int] = []
        self.variants: list[str] = []
        self.roles: list[str] = []
        self.latencies: list[float] = []
        self.errors: list[str | None] = []
        # the rows' inputs and answers, copied into arrays as they come (~1 us a request): a
        # flush that stacked a thousand requests' arrays held the interpreter for a millisecond
        self.blocks = _Rows()
        self.outputs = _Rows()
        self.rows = 0

    def add(
        self,
        request_ids: tuple[str, ...],
        counts: tuple[int, ...] | None,
        ts: datetime,
        block: np.ndarray,
        outputs: np.ndarray,
        served: Served | None,
    ) -> None:
        rows = len(outputs)
        self.blocks.add(block)
        self.outputs.add(outputs)
        self.rows += rows
        self.request_ids.extend(request_ids)
        self.request_rows.extend((rows,) if counts is None else counts)
        self.seconds.append(_seconds(ts))
        self.record_rows.append(rows)
        self.record_requests.append(len(request_ids))
        if served is not None:
            self.variants.append(served.variant)
            self.roles.append(served.role)
            self.latencies.append(served.latency_ms)
            self.errors.append(served.error)

    def table(self, schema: pa.Schema) -> pa.Table:
        """The segment's table, with ``schema``: the one the pandas route gives these columns,
        its labels (``LABELS``) dictionary-encoded (``encode_labels``)."""
        records, rows = len(self.record_rows), self.rows
        index = None
        if rows != records:  # a record of several rows: its values repeated on each
            index = pa.array(np.repeat(np.arange(records), self.record_rows))

        def per_row(values: pa.Array) -> pa.Array:
            return values if index is None else values.take(index)

        ids = pa.array(self.request_ids, pa.string())
        at = np.arange(len(self.request_ids), dtype=np.int32)
        if len(self.request_ids) != rows:
            at = np.repeat(at, self.request_rows)
        arrays = [pa.DictionaryArray.from_arrays(at, ids), per_row(_timestamps(self.seconds))]
        if self.served:
            arrays.append(_label(self.endpoint, rows))
            for values in (self.variants, self.roles, self.errors):
                arrays.append(per_row(_labels(values)))
            arrays.append(per_row(pa.array(self.latencies, pa.float64())))
        arrays.extend(pa.array(column) for column in _columns_of(self.blocks.filled()))
        arrays.append(pa.array(self.outputs.filled()))
        return pa.Table.from_arrays(arrays, schema=schema)

    def records(self, limit: int | None = None) -> list[_Record]:
        """The requests as records, for the pandas route (the segment mixes them with others)."""
        records: list[_Record] = []
        request = row = 0
        blocks, outputs = self.blocks.filled(), self.outputs.filled()
        for i, rows in enumerate(self.record_rows[:limit]):
            n = self.record_requests[i]
            ids = tuple(self.request_ids[request : request + n])
            counts = None if n == 1 else tuple(self.request_rows[request : request + n])
            served = None
            if self.served:
                variant, role = self.variants[i], self.roles[i]
                served = Served(
                    self.endpoint or "", variant, role, self.latencies[i], self.errors[i]
                )
            block, answer = blocks[row : row + rows], outputs[row : row + rows]
            ts = datetime.fromtimestamp(self.seconds[i], UTC)
            records.append(_Record(ids, counts, ts, rows, block, self.names, None, answer, served))
            request += n
            row += rows
        return records


_Entry = _Record | _Columns


class PredictionLogWriter:
    """Buffers predictions and writes them as Parquet segments from a background thread."""

    def __init__(
        self,
        artifacts: ArtifactStore,
        predictions: PredictionRepository,
        *,
        clock: Clock | None = None,
        flush_interval: float = 1.0,
        max_rows: int = 10_000,
        in_process: bool = True,
    ) -> None:
        self.artifacts = artifacts
        self.predictions = predictions
        self.clock = clock or SystemClock()
        self.flush_interval = flush_interval
        self.max_rows = max_rows
        self._writer = SegmentWriter(artifacts, predictions, self.clock)
        self._process: LogProcess | None = None
        self.handover_interval = flush_interval
        if not in_process:
            self._process = _log_process(artifacts, predictions, flush_interval, max_rows)
            self.handover_interval = min(flush_interval, HANDOVER_INTERVAL)
        # per segment, what was recorded in order: runs of one layout as _Columns, the rest
        # (text inputs, failures, other answers) as _Records
        self._pending: dict[SegmentKey, list[_Entry]] = {}
        self._pending_rows = 0
        self._lock = threading.Lock()  # guards _pending, _pending_rows, _closed
        self._write_lock = threading.Lock()  # one writer at a time, so flush() waits for it
        self._wake = threading.Event()
        self._closed = False
        self._schemas: dict[tuple[object, ...], pa.Schema] = {}  # see _segment_table
        self._thread = threading.Thread(
            target=self._run, name="evergreen-prediction-log", daemon=True
        )
        self._thread.start()

    def record(
        self,
        model: str,
        version: int,
        request_id: str,
        inputs: pd.DataFrame,
        outputs: np.ndarray | None,
        served: Served | None = None,
        *,
        block: np.ndarray | None = None,
    ) -> None:
        """Queue one request's rows (``outputs`` None when the model failed, with ``served.error``
        saying why); never touches storage. ``block``: ``frames.numeric_block(inputs)`` when the
        caller has it already."""
        now = self.clock.now()
        self._add(model, version, (request_id,), None, now, inputs, outputs, served, block)

    def record_together(
        self,
        model: str,
        version: int,
        request_ids: Sequence[str],
        counts: Sequence[int],
        inputs: pd.DataFrame,
        outputs: np.ndarray | None,
        served: Served | None = None,
        *,
        inputs_logged: bool = False,
    ) -> None:
        """Queue requests answered in one call: ``inputs`` and ``outputs`` hold their rows one
        request after the other, ``counts[i]`` rows for ``request_ids[i]``. One record for all
        of them: a shadow logs a batch of a hundred copies for the cost of one.
        ``inputs_logged``: these rows are logged already, under the same request ids, by the
        endpoint's primary (the caller's promise): the record keeps no inputs, and readers
        join them from there."""
        now = self.clock.now()
        ids, rows = tuple(request_ids), tuple(counts)
        self._add(model, version, ids, rows, now, inputs, outputs, served, None, inputs_logged)

    def _add(
        self,
        model: str,
        version: int,
        request_ids: tuple[str, ...],
        counts: tuple[int, ...] | None,
        ts: datetime,
        inputs: pd.DataFrame,
        outputs: np.ndarray | None,
        served: Served | None,
        block: np.ndarray | None,
        inputs_logged: bool = False,
    ) -> None:
        answer = None if outputs is None else np.asarray(outputs)
        rows = len(inputs)
        if counts is not None and (len(counts) != len(request_ids) or sum(counts) != rows):
            raise ValueError(
                f"{len(request_ids)} requests of {sum(counts)} rows in all do not match the "
                f"{rows} rows given"
            )
        names: tuple[object, ...] | None = ()
        if inputs_logged:
            block = np.empty((rows, 0))
        else:
            if block is None:
                block = numeric_block(inputs)
            names = None if block is None else tuple(inputs.columns.tolist())  # tuple(Index): 8x
        layout = None
        numeric = answer is not None and answer.dtype.kind in "biuf"
        if block is not None and answer is not None and numeric and answer.shape == (rows,):
            layout = (names, block.dtype, answer.dtype, served is not None)
        key = (model, version, None if served is None else served.endpoint, inputs_logged)
        with self._lock:
            if self._closed:
                raise InvalidState("the prediction log writer is closed")
            entries = self._pending.setdefault(key, [])
            if layout is not None and block is not None and answer is not None:
                last = entries[-1] if entries else None
                if not isinstance(last, _Columns) or last.layout != layout:
                    last = _Columns(layout, key[2], names or ())
                    entries.append(last)
                last.add(request_ids, counts, ts, block, answer, served)
            else:
                frame = inputs if block is None else None
                record = _Record(request_ids, counts, ts, rows, block, names, frame, answer, served)
                entries.append(record)
            self._pending_rows += rows
            full = self._pending_rows >= self.max_rows
        if full:
            self._wake.set()

    def flush(self) -> None:
        """Write everything recorded so far; returns once it is stored and indexed."""
        with self._write_lock:
            self._hand_over()
            if self._process is not None:
                self._process.sync()

    def _hand_over(self) -> None:
        """Store what was recorded so far (in process), or hand it to the child; what cannot be
        is kept for the next call. The caller holds ``_write_lock``."""
        with self._lock:
            batch, self._pending, self._pending_rows = self._pending, {}, 0
        written: list[SegmentKey] = []
        try:
            for key, entries in batch.items():
                self._write_segment(key, entries)
                written.append(key)
        except BaseException:
            with self._lock:  # put back what is unwritten, so a later flush retries it
                for key in written:
                    del batch[key]
                for key, entries in batch.items():
                    self._pending[key] = entries + self._pending.get(key, [])
                    self._pending_rows += sum(entry.rows for entry in entries)
            raise

    def close(self, timeout: float | None = 30.0) -> None:
        """Stop the background thread and write what is left; later ``record`` calls fail."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._wake.set()
        self._thread.join(timeout)
        try:
            self.flush()
        finally:
            if self._process is not None:
                self._process.close()

    def _run(self) -> None:
        while True:
            self._wake.wait(self.handover_interval)
            self._wake.clear()
            with self._lock:
                closed = self._closed
            if closed:
                return  # close() writes the rest in its own thread
            try:
                with self._write_lock:
                    self._hand_over()
            except Exception:
                log.exception(
                    "cannot write the prediction log; retrying in %.2fs", self.handover_interval
                )

    def _write_segment(self, key: SegmentKey, entries: list[_Entry]) -> None:
        if self._process is not None:
            self._process.write(key, entries)  # the child builds the segment
        else:
            self._writer.write(build_segment(key, entries, self._schemas))


def _log_process(
    artifacts: ArtifactStore, predictions: PredictionRepository, interval: float, max_rows: int
) -> LogProcess:
    # imported here: the child runs that module, which must not be imported before it runs
    from evergreen.serving.log_process import LogProcess

    return LogProcess(artifacts, predictions.db, flush_interval=interval, max_rows=max_rows)


def build_segment(
    key: SegmentKey, entries: list[_Entry], schemas: dict[tuple[object, ...], pa.Schema]
) -> Segment:
    """The segment of what was recorded under ``key``: its table and time span. ``schemas``
    caches tables' schemas by layout between calls (see ``_segment_table``)."""
    model, version, endpoint, inputs_logged = key
    table, encoded = _segment_table(entries, schemas)
    if inputs_logged:
        metadata = {**(table.schema.metadata or {}), INPUTS_KEY: INPUTS_WITH_PRIMARY}
        table = table.replace_schema_metadata(metadata)
    first_at, last_at = _time_span(entries)
    return Segment(model, version, endpoint, table, first_at, last_at, encoded)


def _segment_table(
    entries: list[_Entry], schemas: dict[tuple[object, ...], pa.Schema]
) -> tuple[pa.Table, bool]:
    """A segment's Arrow table, and whether its labels are dictionary-encoded. Runs of one
    layout (``_Columns``) give theirs straight from their arrays, with the schema, pandas
    metadata included, that the pandas route gives them (cached per layout in ``schemas``), its
    labels encoded (``encode_labels``), so readers see the same table either way once it is
    stored (``log_segments.parquet_bytes``); a segment that mixes in other records goes through
    pandas (~30 us a request)."""
    first = entries[0]
    if isinstance(first, _Columns):
        layout = first.layout
        if all(isinstance(e, _Columns) and e.layout == layout for e in entries):
            schema = schemas.get(layout)
            if schema is None:
                if len(schemas) >= 64:
                    schemas.clear()
                frame = _segment_frame(first.records(1))
                schema = encode_labels(pa.Schema.from_pandas(frame, preserve_index=False))
                schemas[layout] = schema
            tables = [e.table(schema) for e in entries if isinstance(e, _Columns)]
            return (tables[0] if len(tables) == 1 else pa.concat_tables(tables)), True
    records: list[_Record] = []
    for entry in entries:
        if isinstance(entry, _Columns):
            records.extend(entry.records())
        else:
            records.append(entry)
    return pa.Table.from_pandas(_segment_frame(records), preserve_index=False), False


def _seconds(stamp: datetime) -> float:
    """A timestamp's seconds since the epoch; a naive one read as UTC, as Arrow reads it."""
    return (stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=UTC)).timestamp()


def _time_span(entries: list[_Entry]) -> tuple[datetime, datetime]:
    """The first and last time of the requests in ``entries`` (UTC)."""
    seconds = [
        s
        for e in entries
        for s in (
            (min(e.seconds), max(e.seconds)) if isinstance(e, _Columns) else (_seconds(e.ts),)
        )
    ]
    return datetime.fromtimestamp(min(seconds), UTC), datetime.fromtimestamp(max(seconds), UTC)


def _timestamps(seconds: list[float]) -> pa.Array:
    """UTC timestamps to the microsecond, from ``_seconds`` (exact there: a float's error is under
    a quarter of one). Arrow converting the datetimes themselves costs a call to each one's
    ``utcoffset``: 9 ms for a thousand, under the GIL."""
    micros = np.rint(np.asarray(seconds, np.float64) * 1e6).astype(np.int64)
    return pa.array(micros, pa.timestamp("us", tz="UTC"))


def encode_labels(schema: pa.Schema) -> pa.Schema:
    """``schema`` with its labels (``LABELS``) dictionary-encoded, as ``_Columns.table`` makes
    them: Parquet writes such a column's dictionary and indices as they are, where a column of
    strings is hashed value by value (a fifth of the writer's time at 100-row requests)."""
    fields = [f.with_type(LABEL) if f.name in LABELS else f for f in schema]
    return pa.schema(fields, metadata=schema.metadata)


def _label(value: str | None, rows: int) -> pa.Array:
    """One label on ``rows`` rows."""
    if value is None:
        return pa.nulls(rows, LABEL)
    return pa.DictionaryArray.from_arrays(np.zeros(rows, np.int32), pa.array([value], pa.string()))


def _labels(values: Sequence[str | None]) -> pa.Array:
    """A label a record (a segment's variant, its role, its error: null, mostly),
    dictionary-encoded; one value throughout is not looked up value by value."""
    first = values[0]
    if values.count(first) == len(values):
        return _label(first, len(values))
    return pa.array(values, pa.string()).dictionary_encode()


def _columns_of(block: np.ndarray) -> np.ndarray:
    """The columns of a 2-D block, each contiguous (its transpose), copied ``TRANSPOSE_ROWS`` rows
    at a time: copied at once, the transpose reads across the whole block for each column, four
    times as slow on 180,000 rows of 30."""
    columns = np.empty((block.shape[1], len(block)), block.dtype)
    for start in range(0, len(block), TRANSPOSE_ROWS):
        columns[:, start : start + TRANSPOSE_ROWS] = block[start : start + TRANSPOSE_ROWS].T
    return columns


def _segment_frame(records: list[_Record]) -> pd.DataFrame:
    """One frame for many requests of one model version (their inputs share the signature)."""
    counts = [r.rows for r in records]
    inputs = stack_frames([r.inputs for r in records], [r.block for r in records])
    inputs.columns = pd.Index([f"input.{c}" if c in RESERVED else str(c) for c in inputs.columns])
    ids, id_rows = _requests(records)
    head: dict[str, object] = {
        "request_id": pd.array(np.repeat(np.array(ids, dtype=object), id_rows), "string"),
        "ts": pd.to_datetime([r.ts for r in records], utc=True).repeat(counts).as_unit("us"),
    }
    if any(r.served is not None for r in records):
        served = [r.served or Served("", "") for r in records]
        for column in ("endpoint", "variant", "role", "error"):
            values = [getattr(s, column) for s in served]
            head[column] = pd.array(np.repeat(np.array(values, dtype=object), counts), "string")
        head["latency_ms"] = np.repeat([s.latency_ms for s in served], counts).astype(np.float64)
    prediction = _predictions(records, counts)
    return pd.concat([pd.DataFrame(head), inputs, pd.DataFrame({"prediction": prediction})], axis=1)


def _requests(records: list[_Record]) -> tuple[list[str], list[int]]:
    """Every request's id and number of rows, in order."""
    ids = list(chain.from_iterable([r.request_ids for r in records]))
    if len(ids) == len(records):  # a request a record
        return ids, [r.rows for r in records]
    return ids, list(chain.from_iterable([r.request_rows for r in records]))


def _predictions(records: list[_Record], counts: list[int]) -> object:
    answered = [r.outputs for r in records if r.outputs is not None]
    if len(answered) == len(records):
        outputs = np.concatenate(answered)
        return list(outputs) if outputs.ndim > 1 else outputs
    values: list[object] = []  # some requests failed: their rows' predictions are null
    for record, count in zip(records, counts, strict=True):
        if record.outputs is None:
            values.extend([None] * count)
        else:
            values.extend(list(record.outputs))
    return values
