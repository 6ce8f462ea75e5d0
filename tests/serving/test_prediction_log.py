from __future__ import annotations

import io
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from evergreen.bootstrap import Context
from evergreen.core.clock import SimulatedClock
from evergreen.errors import InvalidState
from evergreen.serving import PredictionLogWriter
from evergreen.serving.frames import numeric_block
from evergreen.serving.log_segments import parquet_bytes
from evergreen.serving.prediction_log import (
    Served,
    _Columns,
    _Entry,
    _Record,
    _seconds,
    _segment_frame,
    _segment_table,
    _timestamps,
)
from evergreen.store.predictions import read_predictions
from evergreen.store.shadow_inputs import SHADOW_LAG

START = datetime(2024, 5, 1, 12, tzinfo=UTC)


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(START)


@pytest.fixture
def writer(context: Context, clock: SimulatedClock) -> Iterator[PredictionLogWriter]:
    writer = PredictionLogWriter(
        context.artifacts, context.predictions, clock=clock, flush_interval=60, max_rows=1000
    )
    yield writer
    writer.close()


def inputs(rows: int, start: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "temp": np.arange(rows, dtype="float64") + start,
            "city": [f"c{i}" for i in range(rows)],
        }
    )


def read(
    context: Context,
    model: str = "rentals",
    *,
    version: int | None = None,
    created_after: datetime | None = None,
) -> pd.DataFrame:
    return read_predictions(
        context.predictions, context.artifacts, model, version=version, created_after=created_after
    )


def test_nothing_logged_reads_empty(context: Context) -> None:
    frame = read(context)
    assert frame.empty
    assert list(frame.columns) == ["request_id", "ts", "prediction"]


def test_record_only_buffers(context: Context, writer: PredictionLogWriter) -> None:
    writer.record("rentals", 1, "r-1", inputs(2), np.array([1.0, 2.0]))
    assert context.predictions.segments("rentals") == []
    writer.flush()
    assert len(context.predictions.segments("rentals")) == 1


def test_segment_columns_and_values(
    context: Context, writer: PredictionLogWriter, clock: SimulatedClock
) -> None:
    writer.record("rentals", 1, "r-1", inputs(2), np.array([1.0, 2.0]))
    clock.advance(timedelta(seconds=5))
    writer.record("rentals", 1, "r-2", inputs(1, start=10), np.array([3.0]))
    writer.flush()
    frame = read(context)
    assert list(frame.columns) == ["request_id", "ts", "temp", "city", "prediction"]
    assert frame["request_id"].tolist() == ["r-1", "r-1", "r-2"]
    assert frame["temp"].tolist() == [0.0, 1.0, 10.0]
    assert frame["city"].tolist() == ["c0", "c1", "c0"]
    assert frame["prediction"].tolist() == [1.0, 2.0, 3.0]
    assert str(frame["ts"].dt.tz) == "UTC"
    assert frame["ts"].tolist() == [START, START, START + timedelta(seconds=5)]
    (segment,) = context.predictions.segments("rentals")
    assert (segment.rows, segment.version) == (3, 1)
    assert (segment.first_at, segment.last_at) == (START, START + timedelta(seconds=5))
    assert segment.id.startswith("seg-")


def test_one_segment_per_model_version(context: Context, writer: PredictionLogWriter) -> None:
    writer.record("rentals", 1, "a", inputs(1), np.array([1.0]))
    writer.record("rentals", 2, "b", inputs(1), np.array([2.0]))
    writer.record("churn", 1, "c", inputs(1), np.array(["yes"], dtype=object))
    writer.flush()
    assert len(context.predictions.segments("rentals")) == 2
    assert read(context, version=2)["request_id"].tolist() == ["b"]
    assert read(context, "churn")["prediction"].tolist() == ["yes"]


def test_created_after_filters_segments(
    context: Context, writer: PredictionLogWriter, clock: SimulatedClock
) -> None:
    writer.record("rentals", 1, "old", inputs(1), np.array([1.0]))
    writer.flush()
    clock.advance(timedelta(hours=1))
    writer.record("rentals", 1, "new", inputs(1), np.array([1.0]))
    writer.flush()
    after = START + timedelta(minutes=30)
    assert read(context, created_after=after)["request_id"].tolist() == ["new"]
    assert read(context)["request_id"].tolist() == ["old", "new"]


def test_reserved_input_names_are_prefixed(context: Context, writer: PredictionLogWriter) -> None:
    frame = pd.DataFrame({"prediction": [1.0], "ts": [2.0]})
    writer.record("rentals", 1, "r", frame, np.array([9.0]))
    writer.flush()
    logged = read(context)
    assert logged["input.prediction"].tolist() == [1.0]
    assert logged["input.ts"].tolist() == [2.0]
    assert logged["prediction"].tolist() == [9.0]


def test_background_thread_flushes_on_interval(context: Context) -> None:
    writer = PredictionLogWriter(context.artifacts, context.predictions, flush_interval=0.05)
    try:
        writer.record("rentals", 1, "r", inputs(1), np.array([1.0]))
        deadline = time.monotonic() + 5
        while not context.predictions.segments("rentals") and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(read(context)) == 1
    finally:
        writer.close()


def test_max_rows_wakes_the_writer(context: Context) -> None:
    writer = PredictionLogWriter(
        context.artifacts, context.predictions, flush_interval=60, max_rows=10
    )
    try:
        writer.record("rentals", 1, "r", inputs(10), np.arange(10.0))
        deadline = time.monotonic() + 5
        while not context.predictions.segments("rentals") and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(read(context)) == 10
    finally:
        writer.close()


def test_text_columns_are_dictionary_encoded_and_numbers_plain(
    context: Context, writer: PredictionLogWriter
) -> None:
    served = Served("ep", "blue")
    for i in range(20):
        writer.record("rentals", 1, f"r-{i}", inputs(1, start=i), np.array([1.0]), served)
    writer.flush()
    (segment,) = context.predictions.segments("rentals")
    data = context.artifacts.get_bytes(segment.artifact_sha256)
    group = pq.ParquetFile(io.BytesIO(data)).metadata.row_group(0)
    encodings = {
        group.column(i).path_in_schema: group.column(i).encodings for i in range(group.num_columns)
    }
    for text in ("request_id", "endpoint", "variant", "role", "city"):
        assert "RLE_DICTIONARY" in encodings[text], text
    for number in ("temp", "latency_ms", "prediction"):
        assert "RLE_DICTIONARY" not in encodings[number], number
    assert read(context)["temp"].tolist() == [float(i) for i in range(20)]


def test_requests_recorded_together_read_back_one_by_one(
    context: Context, writer: PredictionLogWriter
) -> None:
    writer.record("rentals", 1, "alone", inputs(1, start=100), np.array([0.5]))
    # three requests of 1, 2 and 1 rows answered in one call, as a shadow logs its batch
    writer.record_together(
        "rentals", 1, ["a", "b", "c"], [1, 2, 1], inputs(4), np.array([1.0, 2.0, 3.0, 4.0])
    )
    writer.flush()
    frame = read(context)
    assert frame["request_id"].tolist() == ["alone", "a", "b", "b", "c"]
    assert frame["temp"].tolist() == [100.0, 0.0, 1.0, 2.0, 3.0]
    assert frame["prediction"].tolist() == [0.5, 1.0, 2.0, 3.0, 4.0]
    (segment,) = context.predictions.segments("rentals")
    assert segment.rows == 5


def test_shadow_answers_logged_without_inputs_read_back_with_the_primarys(
    context: Context, writer: PredictionLogWriter, clock: SimulatedClock
) -> None:
    primary, shadow = Served("bikes", "main"), Served("bikes", "challenger", role="shadow")
    writer.record("rentals", 1, "old", inputs(1, start=1), np.array([0.0]), primary)
    writer.flush()
    clock.advance(SHADOW_LAG + timedelta(seconds=1))  # too long before the shadow to be its
    writer.record("rentals", 1, "a", inputs(2, start=10), np.array([1.0, 2.0]), primary)
    writer.record("rentals", 1, "b", inputs(1, start=20), np.array([3.0]), primary)
    writer.flush()  # the primary's rows in two segments, one flushed before the shadow answers
    clock.advance(timedelta(seconds=2))
    writer.record("rentals", 1, "c", inputs(3, start=30), np.array([4.0, 5.0, 6.0]), primary)
    ids, counts = ["a", "b", "c", "unknown", "old"], [2, 1, 3, 1, 1]
    given = inputs(8, start=-100)  # what the caller holds; not kept
    writer.record_together(
        "challenger", 2, ids, counts, given, np.arange(8.0), shadow, inputs_logged=True
    )
    writer.record_together(
        "challenger",
        2,
        ["b"],
        [1],
        given.head(1),
        None,
        shadow._replace(error="boom"),
        inputs_logged=True,
    )
    writer.flush()
    (segment,) = context.predictions.segments("challenger")
    stored = pq.read_table(pa.BufferReader(context.artifacts.get_bytes(segment.artifact_sha256)))
    assert "temp" not in stored.column_names and "city" not in stored.column_names
    assert stored.schema.metadata[b"evergreen.inputs"] == b"primary"
    frame = read(context, "challenger")
    assert frame["request_id"].tolist() == ["a", "a", "b", "c", "c", "c", "unknown", "old", "b"]
    assert frame["temp"].tolist()[:6] == [10.0, 11.0, 20.0, 30.0, 31.0, 32.0]
    assert frame["city"].tolist()[:6] == ["c0", "c1", "c0", "c0", "c1", "c2"]
    assert frame["temp"][6:8].isna().all() and frame["city"][6:8].isna().all()  # no primary
    assert frame["temp"][8] == 20.0 and frame["error"][8] == "boom"  # a failed answer too
    assert frame["prediction"].tolist()[:8] == list(np.arange(8.0))
    main = read(context, "rentals")
    assert list(frame.columns) == list(main.columns)  # the primary's layout and types
    assert (frame.dtypes == main.dtypes).all()


def test_requests_recorded_together_must_add_up(writer: PredictionLogWriter) -> None:
    with pytest.raises(ValueError, match="do not match the 4 rows"):
        writer.record_together("rentals", 1, ["a", "b"], [1, 2], inputs(4), np.arange(4.0))
    with pytest.raises(ValueError, match="2 requests"):
        writer.record_together("rentals", 1, ["a", "b"], [4], inputs(4), np.arange(4.0))


def test_close_writes_everything_and_refuses_more(context: Context) -> None:
    writer = PredictionLogWriter(context.artifacts, context.predictions, flush_interval=60)
    for i in range(50):
        writer.record("rentals", 1, f"r-{i}", inputs(1), np.array([float(i)]))
    writer.close()
    assert read(context)["request_id"].tolist() == [f"r-{i}" for i in range(50)]
    with pytest.raises(InvalidState):
        writer.record("rentals", 1, "late", inputs(1), np.array([1.0]))
    writer.close()  # closing twice is harmless


def _numeric(
    rows: int, dtype: str = "float64", names: tuple[str, ...] = ("a", "b")
) -> pd.DataFrame:
    values = np.arange(rows * len(names)).reshape(rows, len(names)).astype(dtype)
    return pd.DataFrame(values, columns=list(names))


SERVED = Served("ep", "blue", latency_ms=1.5)
FAILED = Served("ep", "blue", error="boom")
LAYOUTS: dict[str, tuple[bool, list[tuple[pd.DataFrame, np.ndarray | None, Served | None]]]] = {
    # name: (takes the arrow route, [(inputs, outputs, served)])
    "one row each": (True, [(_numeric(1), np.array([1.0]), SERVED)] * 3),
    "several rows": (
        True,
        [(_numeric(2), np.array([1, 2]), None), (_numeric(3), np.arange(3), None)],
    ),
    "two variants": (
        True,
        [
            (_numeric(1), np.array([1.0]), SERVED),
            (_numeric(1), np.array([2.0]), Served("ep", "green", "shadow", latency_ms=3.0)),
        ],
    ),
    "ints, reserved": (True, [(_numeric(1, "int32", ("ts", "x")), np.array([True]), SERVED)] * 2),
    # types whose Parquet schema alone must give them back (the arrow route's segments are
    # stored without Arrow's)
    "small types": (
        True,
        [(_numeric(2, "uint8"), np.array([-1, 2], dtype="int8"), SERVED)] * 2,
    ),
    "halves, unsigned": (
        True,
        [(_numeric(3, "float16"), np.array([1, 2, 3], dtype="uint64"), None)],
    ),
    "singles": (True, [(_numeric(2, "float32"), np.array([0.5, 1.5], dtype="float32"), SERVED)]),
    "strings": (False, [(inputs(2), np.array([1.0, 2.0]), SERVED)]),
    "a failure": (False, [(_numeric(1), np.array([1.0]), SERVED), (_numeric(1), None, FAILED)]),
    "2-d outputs": (False, [(_numeric(1), np.array([[0.2, 0.8]]), SERVED)] * 2),
    "text labels": (False, [(_numeric(1), np.array(["yes"], dtype=object), None)] * 2),
    "mixed dtypes": (
        False,
        [(_numeric(1), np.array([1.0]), None), (_numeric(1, "int64"), np.array([1.0]), None)],
    ),
    "other columns": (
        False,
        [
            (_numeric(1), np.array([1.0]), None),
            (_numeric(1, names=("b", "a")), np.array([1.0]), None),
        ],
    ),
}


def _pending(writer: PredictionLogWriter) -> list[_Entry]:
    """What the writer holds for its one segment (and takes it, so nothing is written)."""
    with writer._lock:
        batch, writer._pending, writer._pending_rows = writer._pending, {}, 0
    (entries,) = batch.values()
    return entries


def _records(entries: list[_Entry]) -> list[_Record]:
    return [r for e in entries for r in (e.records() if isinstance(e, _Columns) else [e])]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_segments_built_from_columns_equal_the_pandas_route(
    writer: PredictionLogWriter, clock: SimulatedClock, layout: str
) -> None:
    fast, requests = LAYOUTS[layout]
    originals = []
    for i, (frame, outputs, served) in enumerate(requests):
        ts = clock.advance(timedelta(seconds=1))
        writer.record("m", 1, f"r{i}", frame, outputs, served)
        answer = None if outputs is None else np.asarray(outputs)
        originals.append(
            _Record((f"r{i}",), None, ts, len(frame), None, None, frame, answer, served)
        )
    entries = _pending(writer)
    assert (len(entries) == 1 and isinstance(entries[0], _Columns)) == fast  # one run of columns
    # A numeric request keeps its values as arrays, not its frame.
    kept = [r.frame is None for r in _records(entries)]
    assert kept == [numeric_block(frame) is not None for frame, _, _ in requests]
    schemas: dict[tuple[object, ...], pa.Schema] = {}
    table, encoded = _segment_table(entries, schemas)
    assert encoded == fast  # the arrow route's labels are dictionary-encoded
    # The pandas route, on the frames as they came: once stored, the same table, schema and
    # metadata, so readers get the same dtypes back.
    expected = pa.Table.from_pandas(_segment_frame(originals), preserve_index=False)
    assert stored(table, encoded).equals(stored(expected, False), check_metadata=True)
    if encoded:  # the stored labels are text again
        assert stored(table, encoded).equals(expected, check_metadata=True)
    rebuilt = pa.Table.from_pandas(_segment_frame(_records(entries)), preserve_index=False)
    assert rebuilt.equals(expected, check_metadata=True)
    assert bool(schemas) == fast
    assert table.num_rows == sum(len(frame) for frame, _, _ in requests)


def stored(table: pa.Table, encoded: bool) -> pa.Table:
    """``table`` as readers get it back from its segment's file."""
    return pq.read_table(pa.BufferReader(parquet_bytes(table, encoded=encoded)))


def test_columns_grow_past_their_first_capacity(
    context: Context, writer: PredictionLogWriter
) -> None:
    for i in range(150):  # 450 rows: the columns' arrays double from 256
        writer.record("rentals", 1, f"r{i}", _numeric(3) + i, np.full(3, float(i)), SERVED)
    writer.flush()
    frame = read(context)
    assert len(frame) == 450
    assert frame["a"].tolist() == [float(2 * r + i) for i in range(150) for r in range(3)]
    assert frame["prediction"].tolist() == [float(i) for i in range(150) for _ in range(3)]
    assert frame["request_id"].tolist() == [f"r{i}" for i in range(150) for _ in range(3)]


@pytest.mark.parametrize("numeric", [True, False], ids=["arrays", "pandas"])
def test_requests_recorded_together_give_the_table_of_the_requests_one_by_one(
    writer: PredictionLogWriter, numeric: bool
) -> None:
    counts = [1, 3, 1, 2]
    frames = [_numeric(n) if numeric else inputs(n) for n in counts]
    outputs = [np.arange(n, dtype="float64") + 10 * i for i, n in enumerate(counts)]
    shadow = Served("ep", "next", "shadow", latency_ms=2.0)
    ids = [f"r{i}" for i in range(len(counts))]
    # each after the record of a single request, as the writer's segments mix them
    writer.record("m", 1, "x", frames[0], outputs[0], shadow)
    for rid, frame, out in zip(ids, frames, outputs, strict=True):
        writer.record("m", 1, rid, frame, out, shadow)
    one_by_one = _pending(writer)
    writer.record("m", 1, "x", frames[0], outputs[0], shadow)
    stacked = pd.concat(frames, ignore_index=True)
    writer.record_together("m", 1, ids, counts, stacked, np.concatenate(outputs), shadow)
    together = _pending(writer)
    schemas: dict[tuple[object, ...], pa.Schema] = {}
    expected = stored(*_segment_table(one_by_one, schemas))
    assert stored(*_segment_table(together, schemas)).equals(expected, check_metadata=True)
    assert bool(schemas) == numeric  # numeric inputs are kept as columns
    pandas_route = pa.Table.from_pandas(_segment_frame(_records(together)), preserve_index=False)
    assert pandas_route.equals(expected, check_metadata=True)
    assert expected.column("request_id").to_pylist() == [
        "x",
        "r0",
        "r1",
        "r1",
        "r1",
        "r2",
        "r3",
        "r3",
    ]


def test_a_failed_write_is_retried_and_what_was_written_is_not_again(
    context: Context, writer: PredictionLogWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer.record("rentals", 1, "a", _numeric(1), np.array([1.0]))
    writer.record("rentals", 2, "b", _numeric(1), np.array([2.0]))
    put_bytes = context.artifacts.put_bytes
    calls = []

    def full_disk_on_the_second(data: bytes) -> object:
        calls.append(len(data))
        if len(calls) == 2:
            raise OSError("No space left on device")
        return put_bytes(data)

    monkeypatch.setattr(context.artifacts, "put_bytes", full_disk_on_the_second)
    with pytest.raises(OSError, match="No space"):
        writer.flush()
    writer.record("rentals", 2, "c", _numeric(1), np.array([3.0]))
    writer.flush()
    assert read(context, version=1)["request_id"].tolist() == ["a"]  # once, not twice
    assert read(context, version=2)["request_id"].tolist() == ["b", "c"]
    assert len(calls) == 3


def test_timestamps_are_exact_to_the_microsecond() -> None:
    rng = np.random.default_rng(7)
    stamps = [
        START + timedelta(seconds=int(s), microseconds=int(us))
        for s, us in zip(
            rng.integers(-(10**9), 10**9, 50_000), rng.integers(0, 10**6, 50_000), strict=True
        )
    ]
    expected = pa.array(stamps, pa.timestamp("us", tz="UTC"))  # Arrow's own, value by value
    assert _timestamps([_seconds(stamp) for stamp in stamps]).equals(expected)
    other_zone = [stamp.astimezone(timezone(timedelta(hours=-5))) for stamp in stamps[:100]]
    assert _timestamps([_seconds(stamp) for stamp in other_zone]).equals(expected[:100])
    naive = [stamp.replace(tzinfo=None) for stamp in stamps[:100]]
    assert _timestamps([_seconds(stamp) for stamp in naive]).equals(expected[:100])  # as UTC
