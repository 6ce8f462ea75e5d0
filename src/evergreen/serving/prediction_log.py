"""The prediction log: what each model version was asked and what it answered.

``PredictionLogWriter.record`` only appends to a buffer, so logging costs a request next to
nothing; a background thread writes the buffer every ``flush_interval`` seconds (or as soon as
``max_rows`` rows wait) as one Parquet segment per (model, version), stored in the artifact store
and indexed in the metadata database; ``evergreen.store.predictions.read_predictions`` reads
them back.

Segment columns: ``request_id`` (string), ``ts`` (UTC timestamp), then, for gateway records,
``endpoint``, ``variant``, ``role`` (``primary`` or ``shadow``), ``latency_ms`` and ``error``
(null unless the model failed on the request, when ``prediction`` is null), the input columns,
and ``prediction``. An input column whose name clashes with those is stored as
``input.<name>``.
"""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Sequence
from datetime import datetime
from itertools import chain
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from evergreen.core.clock import Clock, SystemClock
from evergreen.core.ids import new_id
from evergreen.errors import InvalidState
from evergreen.serving.frames import numeric_block, stack_frames
from evergreen.store.artifacts import ArtifactStore
from evergreen.store.predictions import PredictionRepository
from evergreen.store.tables import PredictionSegmentRow

log = logging.getLogger(__name__)

RESERVED = ("request_id", "ts", "endpoint", "variant", "role", "latency_ms", "error", "prediction")


class Served(NamedTuple):  # a tuple: made on every request, in a fifth of a dataclass's time
    """Who answered a request: the endpoint, the variant, and in which role."""

    endpoint: str
    variant: str
    role: str = "primary"
    latency_ms: float = 0.0
    error: str | None = None


class _Record(NamedTuple):  # a tuple, like Served
    """One request's rows, or several requests answered together (a shadow's batch), with
    their answers."""

    model: str
    version: int
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
    # what the segment's columns are when the record fits the arrow route (a numeric block and a
    # 1-D numeric answer a row), else None; records of one segment must all have the same
    layout: tuple[object, ...] | None

    @classmethod
    def of(
        cls,
        model: str,
        version: int,
        request_ids: tuple[str, ...],
        counts: tuple[int, ...] | None,
        ts: datetime,
        inputs: pd.DataFrame,
        outputs: np.ndarray | None,
        served: Served | None,
        block: np.ndarray | None = None,
    ) -> _Record:
        answer = None if outputs is None else np.asarray(outputs)
        rows = len(inputs)
        if counts is not None and (len(counts) != len(request_ids) or sum(counts) != rows):
            raise ValueError(
                f"{len(request_ids)} requests of {sum(counts)} rows in all do not match the "
                f"{rows} rows given"
            )
        if block is None:
            block = numeric_block(inputs)
        head = (model, version, request_ids, counts, ts, rows)
        if block is None:
            return cls(*head, None, None, inputs, answer, served, None)
        names = tuple(inputs.columns.tolist())  # 0.7 us; tuple(Index) costs 5.6
        layout = None
        if answer is not None and answer.dtype.kind in "biuf" and answer.shape == (rows,):
            layout = (names, block.dtype.str, answer.dtype.str, served is not None)
        return cls(*head, block, names, None, answer, served, layout)

    @property
    def request_rows(self) -> tuple[int, ...]:
        """Each request's number of rows."""
        return (self.rows,) if self.counts is None else self.counts

    @property
    def inputs(self) -> pd.DataFrame:
        if self.frame is not None:
            return self.frame
        return pd.DataFrame(self.block, columns=list(self.names or ()))


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
    ) -> None:
        self.artifacts = artifacts
        self.predictions = predictions
        self.clock = clock or SystemClock()
        self.flush_interval = flush_interval
        self.max_rows = max_rows
        self._pending: list[_Record] = []
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
        item = _Record.of(model, version, (request_id,), None, now, inputs, outputs, served, block)
        self._queue(item)

    def record_together(
        self,
        model: str,
        version: int,
        request_ids: Sequence[str],
        counts: Sequence[int],
        inputs: pd.DataFrame,
        outputs: np.ndarray | None,
        served: Served | None = None,
    ) -> None:
        """Queue requests answered in one call: ``inputs`` and ``outputs`` hold their rows one
        request after the other, ``counts[i]`` rows for ``request_ids[i]``. One record for all
        of them: a shadow logs a batch of a hundred copies for the cost of one."""
        now = self.clock.now()
        ids, rows = tuple(request_ids), tuple(counts)
        self._queue(_Record.of(model, version, ids, rows, now, inputs, outputs, served))

    def _queue(self, item: _Record) -> None:
        with self._lock:
            if self._closed:
                raise InvalidState("the prediction log writer is closed")
            self._pending.append(item)
            self._pending_rows += item.rows
            full = self._pending_rows >= self.max_rows
        if full:
            self._wake.set()

    def flush(self) -> None:
        """Write everything recorded so far; returns once it is stored and indexed."""
        with self._write_lock:
            with self._lock:
                batch, self._pending, self._pending_rows = self._pending, [], 0
            try:
                self._write(batch)
            except BaseException:
                with self._lock:  # put the batch back so a later flush retries it
                    self._pending[:0] = batch
                    self._pending_rows += sum(r.rows for r in batch)
                raise

    def close(self, timeout: float | None = 30.0) -> None:
        """Stop the background thread and write what is left; later ``record`` calls fail."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._wake.set()
        self._thread.join(timeout)
        self.flush()

    def _run(self) -> None:
        while True:
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            with self._lock:
                closed = self._closed
            if closed:
                return  # close() writes the rest in its own thread
            try:
                self.flush()
            except Exception:
                log.exception(
                    "cannot write the prediction log; retrying in %.1fs", self.flush_interval
                )

    def _write(self, batch: list[_Record]) -> None:
        groups: dict[tuple[str, int, str | None], list[_Record]] = {}
        for item in batch:
            endpoint = item.served.endpoint if item.served else None
            groups.setdefault((item.model, item.version, endpoint), []).append(item)
        for (model, version, endpoint), records in groups.items():
            self._write_segment(model, version, endpoint, records)

    def _write_segment(
        self, model: str, version: int, endpoint: str | None, records: list[_Record]
    ) -> None:
        table = _segment_table(records, self._schemas)
        buffer = io.BytesIO()
        pq.write_table(table, buffer, use_dictionary=_dictionary_columns(table.schema))
        blob = self.artifacts.put_bytes(buffer.getvalue())
        self.predictions.add_segment(
            PredictionSegmentRow(
                id=new_id("seg"),
                model=model,
                version=version,
                first_at=min(r.ts for r in records),
                last_at=max(r.ts for r in records),
                rows=table.num_rows,
                artifact_sha256=blob.sha256,
                created_at=self.clock.now(),
                endpoint=endpoint,
            )
        )


def _segment_table(
    records: list[_Record], schemas: dict[tuple[object, ...], pa.Schema]
) -> pa.Table:
    """The segment's Arrow table. Built straight from the recorded arrays when every request's
    inputs are one numeric block with the same columns and each got a 1-D numeric answer (a
    tabular model's traffic): going through pandas costs ~30 us a request, held under the GIL
    while requests wait. ``schemas`` caches, per layout, the schema (with its pandas metadata)
    that the pandas route gives, so readers see the same table either way."""
    layout = _numeric_layout(records)
    if layout is None:
        return pa.Table.from_pandas(_segment_frame(records), preserve_index=False)
    schema = schemas.get(layout)
    if schema is None:
        if len(schemas) >= 64:
            schemas.clear()
        schema = pa.Schema.from_pandas(_segment_frame(records[:1]), preserve_index=False)
        schemas[layout] = schema
    counts = [r.rows for r in records]
    rows = sum(counts)
    index = None if rows == len(records) else pa.array(np.repeat(np.arange(len(records)), counts))

    def per_row(values: pa.Array) -> pa.Array:
        return values if index is None else values.take(index)

    ids, id_rows = _requests(records)
    request_ids = pa.array(ids, pa.string())
    if len(ids) != rows:
        request_ids = request_ids.take(pa.array(np.repeat(np.arange(len(ids)), id_rows)))
    arrays = [request_ids, per_row(_timestamps([r.ts for r in records]))]
    if records[0].served is not None:
        served = [r.served for r in records if r.served is not None]
        endpoints, variants, roles, latencies, errors = zip(*served, strict=True)
        for values in (endpoints, variants, roles, errors):
            arrays.append(per_row(_text(values)))
        arrays.append(per_row(pa.array(latencies, pa.float64())))
    block = np.concatenate([r.block for r in records if r.block is not None])
    arrays.extend(pa.array(block[:, j]) for j in range(block.shape[1]))
    arrays.append(pa.array(np.concatenate([r.outputs for r in records if r.outputs is not None])))
    return pa.Table.from_arrays(arrays, schema=schema)


def _timestamps(stamps: list[datetime]) -> pa.Array:
    """UTC timestamps to the microsecond. Converted by Arrow, each aware datetime costs a call
    to its ``utcoffset`` (9 ms for a thousand, under the GIL); through their float seconds, 0.5
    (exact to the microsecond: a float's error there is under a quarter of one)."""
    if stamps[0].tzinfo is None:  # naive (a clock of the caller's): Arrow reads them as UTC
        return pa.array(stamps, pa.timestamp("us", tz="UTC"))
    seconds = np.fromiter((stamp.timestamp() for stamp in stamps), np.float64, len(stamps))
    return pa.array(np.rint(seconds * 1e6).astype(np.int64), pa.timestamp("us", tz="UTC"))


def _text(values: tuple[str | None, ...]) -> pa.Array:
    """A text column; one value throughout (the endpoint, variant and role of a segment, a
    null error) is repeated rather than converted value by value."""
    first = values[0]
    if values.count(first) < len(values):
        return pa.array(values, pa.string())
    if first is None:
        return pa.nulls(len(values), pa.string())
    return pa.repeat(pa.scalar(first, pa.string()), len(values))


def _dictionary_columns(schema: pa.Schema) -> list[str]:
    """The columns worth Parquet's dictionary encoding: the text ones (ids, endpoint, variant,
    role, error, text and categorical inputs). Numeric inputs are left plain: encoding them took
    half the writer's Parquet time, for files 2% smaller."""
    text = (pa.types.is_string, pa.types.is_large_string, pa.types.is_dictionary)
    return [field.name for field in schema if any(is_text(field.type) for is_text in text)]


def _numeric_layout(records: list[_Record]) -> tuple[object, ...] | None:
    """What the segment's columns are, when ``records`` fit ``_segment_table``'s fast route."""
    layouts = [r.layout for r in records]
    first = layouts[0]
    return first if first is not None and layouts.count(first) == len(layouts) else None


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
