"""The prediction log stored from a child process (``serving/log_process.py``): the same
segments as a writer storing in its own thread, on every metadata database and artifact store;
nothing lost when the child dies, when storing fails for a while, or when the gateway dies."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from evergreen.core.clock import SimulatedClock
from evergreen.errors import InvalidInput, Unavailable
from evergreen.serving import PredictionLogWriter
from evergreen.serving.log_process import BUFFERS, receive, send
from evergreen.serving.prediction_log import Served
from evergreen.store.artifacts import ArtifactStore
from evergreen.store.database import Database
from evergreen.store.predictions import PredictionRepository, read_predictions

MakeWriter = Callable[..., PredictionLogWriter]


@pytest.fixture
def make_writer() -> Iterator[MakeWriter]:
    made: list[PredictionLogWriter] = []

    def make(
        artifacts: ArtifactStore, db: Database, *, in_process: bool = False, **options: Any
    ) -> PredictionLogWriter:
        writer = PredictionLogWriter(
            artifacts, PredictionRepository(db), in_process=in_process, **options
        )
        made.append(writer)
        return writer

    yield make
    for writer in made:
        with contextlib.suppress(Unavailable):  # a test that broke the store on purpose
            writer.close()


@pytest.fixture
def sqlite_db(sqlite_url: str, make_db: Callable[..., Database]) -> Database:
    return make_db(sqlite_url)


def frame(rows: int, start: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame(
        {"temp": np.arange(rows, dtype="float64") + start, "hum": np.full(rows, 0.5)}
    )


def traffic(writer: PredictionLogWriter, model: str) -> int:
    """Every kind of record a gateway makes; returns the rows recorded."""
    served = Served("bikes", "a", "primary", 0.4)
    for i in range(30):  # one-row requests: kept as columns
        writer.record(model, 1, f"r{i}", frame(1, i), np.array([float(i)]), served)
    writer.record(model, 1, "big", frame(5, 100), np.arange(5.0), served)
    # its inputs (94 KiB) go to the child out of band (``log_process.send``)
    writer.record(model, 1, "large", frame(6000, 200), np.arange(6000.0), served)
    writer.record(  # a failure: through pandas, mixed with the columns
        model, 1, "bad", frame(1), None, Served("bikes", "a", "primary", 0.1, "ValueError: no")
    )
    shadow = Served("bikes", "s", "shadow", 0.3)
    writer.record_together(  # a shadow's batch, its inputs left to the primary
        model, 1, ["r0", "r1"], [1, 1], frame(2), np.array([7.0, 8.0]), shadow, inputs_logged=True
    )
    writer.record(model, 2, "text", frame(1), np.array(["yes"], dtype=object))
    return 30 + 5 + 6000 + 1 + 2 + 1


def read(artifacts: ArtifactStore, db: Database, model: str, version: int) -> pd.DataFrame:
    return read_predictions(PredictionRepository(db), artifacts, model, version=version)


def test_segments_from_the_child_equal_the_writers_own(
    any_artifacts: ArtifactStore, db: Database, make_writer: MakeWriter
) -> None:
    clock = SimulatedClock(datetime(2024, 5, 1, 12, tzinfo=UTC))  # both log the same times
    own = make_writer(any_artifacts, db, in_process=True, clock=clock)
    child = make_writer(any_artifacts, db, clock=clock)
    rows = traffic(own, "own")
    assert traffic(child, "child") == rows
    own.flush()
    child.flush()
    repository = PredictionRepository(db)
    for version in (1, 2):
        theirs, ours = (
            read(any_artifacts, db, "child", version),
            read(any_artifacts, db, "own", version),
        )
        pd.testing.assert_frame_equal(theirs, ours)
    assert sum(len(read(any_artifacts, db, "child", v)) for v in (1, 2)) == rows
    by_key = {(s.version, s.endpoint): s.rows for s in repository.segments("child")}
    assert by_key == {(s.version, s.endpoint): s.rows for s in repository.segments("own")}


def test_messages_keep_large_arrays_out_of_band() -> None:
    reader, writer = multiprocessing.Pipe(duplex=False)
    large, small = np.arange(20_000.0), np.arange(10.0)  # 160 KB, 80 B
    message = ("entries", 1, [large, small, "text"])

    def sent_twice() -> None:  # in a thread: the pipe holds less than one message
        send(writer, message)
        send(writer, message)

    thread = threading.Thread(target=sent_twice)
    thread.start()
    kind, seq, (got_large, got_small, text) = receive(reader)
    assert (kind, seq, text) == ("entries", 1, "text")
    np.testing.assert_array_equal(got_large, large)
    np.testing.assert_array_equal(got_small, small)
    # the second by hand: one array out of band, after the pickle that refers to it
    head = reader.recv_bytes()
    (count,) = BUFFERS.unpack_from(head)
    out_of_band = [reader.recv_bytes() for _ in range(count)]
    thread.join()
    assert count == 1 and len(out_of_band[0]) == large.nbytes
    assert len(head) < large.nbytes
    assert not reader.poll(0)


def test_hand_overs_of_one_flush_interval_are_one_segment(
    artifacts: ArtifactStore, sqlite_db: Database, make_writer: MakeWriter
) -> None:
    db = sqlite_db
    writer = make_writer(artifacts, db, flush_interval=30.0)
    assert writer.handover_interval == 0.25
    for i in range(3):
        writer.record("m", 1, f"r{i}", frame(1, i), np.array([1.0]), Served("e", "a"))
        time.sleep(0.4)  # a hand-over each
    writer.flush()
    [segment] = PredictionRepository(db).segments("m")
    assert segment.rows == 3
    assert read(artifacts, db, "m", 1)["request_id"].tolist() == ["r0", "r1", "r2"]


def test_no_child_until_something_is_logged(
    artifacts: ArtifactStore, sqlite_db: Database, make_writer: MakeWriter
) -> None:
    writer = make_writer(artifacts, sqlite_db)
    writer.flush()
    assert writer._process is not None and writer._process.pid is None
    writer.close()


def test_an_in_memory_database_cannot_be_shared(artifacts: ArtifactStore) -> None:
    db = Database("sqlite://")
    try:
        with pytest.raises(InvalidInput, match="in-memory SQLite"):
            PredictionLogWriter(artifacts, PredictionRepository(db), in_process=False)
    finally:
        db.dispose()


def _handed_over(writer: PredictionLogWriter, rows: int) -> None:
    """Wait for the writer's thread to hand ``rows`` rows to its child (a quarter second, or
    more on a busy machine)."""
    assert writer._process is not None
    deadline = time.monotonic() + 20
    while writer._process.unstored < rows and time.monotonic() < deadline:
        time.sleep(0.05)
    assert writer._process.unstored == rows


def _child_pid(writer: PredictionLogWriter) -> int:
    assert writer._process is not None and writer._process.pid is not None
    return writer._process.pid


def test_a_killed_child_is_replaced_and_given_what_it_had_not_stored(
    artifacts: ArtifactStore, sqlite_db: Database, make_writer: MakeWriter
) -> None:
    db = sqlite_db
    writer = make_writer(artifacts, db, flush_interval=60.0)
    for i in range(10):
        writer.record("m", 1, f"r{i}", frame(1, i), np.array([float(i)]), Served("e", "a"))
    _handed_over(writer, 10)  # the child holds them for a minute
    first = _child_pid(writer)
    os.kill(first, signal.SIGKILL)
    writer.record("m", 1, "after", frame(1), np.array([1.0]), Served("e", "a"))
    writer.flush()
    assert _child_pid(writer) != first
    logged = read(artifacts, db, "m", 1)
    assert logged["request_id"].tolist() == [f"r{i}" for i in range(10)] + ["after"]
    assert writer._process is not None and writer._process.unstored == 0


def test_a_store_that_fails_is_retried_by_the_child(
    tmp_path: Path, sqlite_db: Database, make_writer: MakeWriter
) -> None:
    db = sqlite_db
    folder = tmp_path / "artifacts"
    artifacts = ArtifactStore(str(folder))
    writer = make_writer(artifacts, db, flush_interval=60.0)
    writer.record("m", 1, "first", frame(1), np.array([1.0]), Served("e", "a"))
    writer.flush()  # the child is up
    aside = folder.rename(tmp_path / "aside")
    folder.write_text("not a folder")  # every store fails
    writer.record("m", 1, "r", frame(1), np.array([1.0]), Served("e", "a"))
    with pytest.raises(Unavailable, match=r"cannot store the prediction log: \w+Error"):
        writer.flush()
    assert [s.rows for s in PredictionRepository(db).segments("m")] == [1]
    folder.unlink()
    aside.rename(folder)
    writer.flush()  # the child kept the rows
    assert read(artifacts, db, "m", 1)["request_id"].tolist() == ["first", "r"]


def test_the_child_ignores_interrupts_and_stores_on_close(
    artifacts: ArtifactStore, sqlite_db: Database, make_writer: MakeWriter
) -> None:
    db = sqlite_db
    writer = make_writer(artifacts, db, flush_interval=60.0)
    writer.record("m", 1, "first", frame(1), np.array([1.0]), Served("e", "a"))
    writer.flush()  # the child is up and has answered
    pid = _child_pid(writer)
    assert os.getsid(pid) == pid != os.getsid(0)  # a session of its own: no terminal's Ctrl-C
    writer.record("m", 1, "r", frame(1), np.array([1.0]), Served("e", "a"))
    _handed_over(writer, 1)
    os.kill(pid, signal.SIGINT)
    os.kill(pid, signal.SIGTERM)  # as a service manager stopping the gateway's group
    time.sleep(0.3)
    writer.close()
    assert _child_pid(writer) == pid  # the same child, never restarted
    assert writer._process is not None and writer._process._process is not None
    assert writer._process._process.returncode == 0
    assert read(artifacts, db, "m", 1)["request_id"].tolist() == ["first", "r"]


def test_the_child_of_a_dead_gateway_stores_what_it_was_handed(
    artifacts: ArtifactStore, sqlite_url: str, make_db: Callable[..., Database]
) -> None:
    script = textwrap.dedent(
        f"""
        import os, sys, time
        import numpy as np, pandas as pd
        from evergreen.serving import PredictionLogWriter
        from evergreen.serving.prediction_log import Served
        from evergreen.store.artifacts import ArtifactStore
        from evergreen.store.database import Database
        from evergreen.store.predictions import PredictionRepository

        db = Database({sqlite_url!r})
        writer = PredictionLogWriter(
            ArtifactStore({artifacts.url!r}), PredictionRepository(db), in_process=False,
            flush_interval=60.0,
        )
        frame = pd.DataFrame({{"temp": [1.0]}})
        for i in range(5):
            writer.record("m", 1, f"r{{i}}", frame, np.array([1.0]), Served("e", "a"))
        deadline = time.monotonic() + 20
        while writer._process.unstored < 5 and time.monotonic() < deadline:
            time.sleep(0.05)  # until handed over
        print(writer._process.pid, flush=True)
        os._exit(9)  # no close, no flush: as if killed
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 9, done.stderr
    child = int(done.stdout.strip())
    deadline = time.monotonic() + 20
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child)
    db = make_db(sqlite_url)
    assert read(artifacts, db, "m", 1)["request_id"].tolist() == [f"r{i}" for i in range(5)]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie is as good as gone
        return stat.read().split(") ")[1][0] != "Z"
