"""Storing the prediction log's segments from a child process.

Building and storing a segment (its Arrow table, Parquet, the artifact store, the metadata
database) held the gateway's interpreter for ~7 ms a second at 3,400 requests a second, and the
requests that arrived meanwhile waited it out: those were most of its slowest answers.
``LogProcess`` hands what ``PredictionLogWriter`` recorded (its columns and records, pickled
with their large arrays out of band: ``send``) over a pipe to a child process (``python -m
evergreen.serving.log_process``), which builds the segments and stores them. The child joins
what one model version and endpoint logged in ``flush_interval`` into one segment, so the store
sees as many segments as from a writer in the gateway's process, and says which hand-overs it
stored. The child asks Linux for a long time slice (``time_slice``): its stores come in bursts
of milliseconds, and whatever wakes on its core beside it (the gateway, its clients) runs first.

Nothing handed over is lost with the child: the parent keeps each hand-over until the child says
it is stored, and a child that exits is started again and given them anew (a hand-over stored
just before its child died may then be stored twice). The child runs in a session of its own
(a Ctrl-C at the terminal does not reach it) and ignores SIGINT and SIGTERM: it stores what it
holds and exits when its pipe closes, which the gateway does once its last requests are logged
(or the operating system does, if the gateway dies).

Protocol (``multiprocessing.connection`` messages): to the child, with ``send``, ``("config",
dict)`` first, then ``("entries", seq, key, entries)`` and ``("sync", n)``; from it, pickled
whole, ``("stored", [seq, ...])`` and ``("synced", n, error or None)``.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import pickle
import signal
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from multiprocessing.connection import Connection
from typing import Any

from evergreen.errors import EvergreenError, InvalidInput, InvalidState, Unavailable
from evergreen.serving.log_segments import SegmentWriter
from evergreen.serving.prediction_log import SegmentKey, build_segment
from evergreen.serving.time_slice import ask_for_long_slice
from evergreen.store.artifacts import ArtifactStore
from evergreen.store.database import Database
from evergreen.store.predictions import PredictionRepository

log = logging.getLogger(__name__)

CHILD_MODULE = "evergreen.serving.log_process"
# room in the pipe to the child (Linux's default is 64 KiB, a fifth of a quarter second's
# hand-over at 4,000 requests a second, so each hand-over took several writes and waits)
PIPE_BYTES = 1 << 20
# consecutive starts of the child with nothing stored in between before giving up
MAX_STARTS = 3
# a message's count of out-of-band buffers, before its pickle, and the smallest array sent out of
# band (``send``)
BUFFERS = struct.Struct("<I")
OUT_OF_BAND_BYTES = 64 * 1024


class _ChildExited(Exception):
    """The child's end of the pipe closed."""


class LogProcess:
    """Hands a ``PredictionLogWriter``'s entries to a child process that builds and stores their
    segments (see the module's docstring)."""

    def __init__(
        self,
        artifacts: ArtifactStore,
        db: Database,
        *,
        flush_interval: float = 1.0,
        max_rows: int = 10_000,
        timeout: float = 60.0,
    ) -> None:
        url = db.url
        if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
            raise InvalidInput(
                "the prediction log's process cannot share an in-memory SQLite database: use a "
                "database file (EVERGREEN_DB_URL=sqlite:///path/evergreen.db) or a server"
            )
        self._config: dict[str, Any] = {
            "artifacts_url": artifacts.url,
            "storage_options": artifacts.storage_options,
            "db_url": url.render_as_string(hide_password=False),
            "flush_interval": flush_interval,
            "max_rows": max_rows,
        }
        self.timeout = timeout
        self._lock = threading.Lock()  # one caller at a time: the pipe's messages stay whole
        self._seq = 0
        self._syncs = 0
        self._unacked: dict[int, tuple[SegmentKey, list[Any]]] = {}  # handed over, not stored
        self._starts = 0  # of the child since it last stored something
        self._closed = False
        self._process: subprocess.Popen[bytes] | None = None
        self._data: Connection | None = None
        self._acks: Connection | None = None  # the child starts with the first hand-over

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    @property
    def unstored(self) -> int:
        """Rows handed over that the child has not yet said are stored."""
        with self._lock:
            return _rows(self._unacked.values())

    def write(self, key: SegmentKey, entries: list[Any]) -> None:
        """Hand the child what ``PredictionLogWriter`` recorded under ``key``; raises if no
        child can be started (the caller keeps the entries then)."""
        with self._lock:
            self._check_open()
            self._seq += 1
            seq = self._seq
            self._unacked[seq] = (key, entries)
            try:
                if self._process is None:
                    self._start()
                self._send(("entries", seq, key, entries))
            except BaseException:
                self._unacked.pop(seq, None)
                raise
            self._take_acks()

    def sync(self) -> None:
        with self._lock:
            self._check_open()
            while self._process is not None:
                self._syncs += 1
                self._send(("sync", self._syncs))
                try:
                    error = self._take_acks(sync=self._syncs)
                except _ChildExited:
                    self._restart()
                    continue
                if error is not None:
                    raise Unavailable(f"cannot store the prediction log: {error}")
                return

    def close(self) -> None:
        """Close the pipe and wait for the child to store what it holds and exit."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            process, data, acks = self._process, self._data, self._acks
            if process is None or data is None or acks is None:
                return
            data.close()
            try:
                process.wait(self.timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            try:
                self._take_acks(until_closed=True)
            finally:
                acks.close()
            if self._unacked:
                rows = _rows(self._unacked.values())
                raise Unavailable(
                    f"{rows} rows of the prediction log were not stored: its process exited "
                    f"with code {process.returncode}; its error is above"
                )

    def _check_open(self) -> None:
        if self._closed:
            raise InvalidState("the prediction log's process is closed")

    def _start(self) -> None:
        if self._starts >= MAX_STARTS:
            raise Unavailable(
                f"the prediction log's process exited {self._starts} times without storing "
                "anything; its error is above"
            )
        self._starts += 1
        data_out, data_in = os.pipe()
        acks_out, acks_in = os.pipe()
        if hasattr(fcntl, "F_SETPIPE_SZ"):  # Linux: a hand-over in one write
            with contextlib.suppress(OSError):
                fcntl.fcntl(data_in, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", CHILD_MODULE, str(data_out), str(acks_in)],
                pass_fds=(data_out, acks_in),
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # a Ctrl-C at the terminal is the gateway's alone
            )
        except BaseException:
            os.close(data_in)
            os.close(acks_out)
            raise
        finally:
            os.close(data_out)
            os.close(acks_in)
        self._data = Connection(data_in, readable=False)
        self._acks = Connection(acks_out, writable=False)
        send(self._data, ("config", self._config))

    def _restart(self) -> None:
        """Start a new child and hand it everything not yet stored, in order."""
        for connection in (self._data, self._acks):
            if connection is not None:
                connection.close()
        if self._process is not None:
            code = self._process.poll()
            if code is None:  # its pipes broke but it runs on: it is of no more use
                self._process.kill()
                self._process.wait()
            log.warning("the prediction log's process exited (code %s); starting another", code)
        self._start()
        assert self._data is not None
        for seq in sorted(self._unacked):
            send(self._data, ("entries", seq, *self._unacked[seq]))

    def _send(self, message: tuple[object, ...]) -> None:
        assert self._data is not None
        try:
            send(self._data, message)
        except OSError:  # the child is gone: a new one gets the unstored entries again
            self._restart()
            if message[0] != "entries":
                self._send(message)

    def _take_acks(self, *, sync: int | None = None, until_closed: bool = False) -> str | None:
        """Read the child's answers: all waiting ones; with ``sync``, until that sync's answer
        (its error, or None); with ``until_closed``, until the child's end closes."""
        acks = self._acks
        assert acks is not None
        waiting = sync is not None or until_closed
        while True:
            if not acks.poll(self.timeout if waiting else 0):
                if not waiting:
                    return None
                raise Unavailable(
                    f"the prediction log's process did not answer in {self.timeout:g}s"
                )
            try:
                message = acks.recv()
            except (EOFError, OSError):
                if until_closed:
                    return None
                if sync is not None:
                    raise _ChildExited() from None
                self._restart()
                return None
            if message[0] == "stored":
                for seq in message[1]:
                    self._unacked.pop(seq, None)
                self._starts = 0
            elif message[0] == "synced" and message[1] == sync:
                self._starts = 0
                return message[2]  # type: ignore[no-any-return]


def send(connection: Connection, message: tuple[object, ...]) -> None:
    """Send ``message`` pickled with its arrays' memory out of band: a quarter second's
    hand-over of 100-row requests pickled in band took the interpreter for 4.2 ms, which requests
    arriving meanwhile waited out; now 0.08 ms, and the arrays' bytes follow the pickle into the
    pipe, written with the interpreter released (``receive`` reads them back)."""
    buffers: list[pickle.PickleBuffer] = []

    def in_band(buffer: pickle.PickleBuffer) -> bool:  # small ones: a write each would cost more
        if buffer.raw().nbytes < OUT_OF_BAND_BYTES:
            return True
        buffers.append(buffer)
        return False

    head = pickle.dumps(message, protocol=5, buffer_callback=in_band)
    connection.send_bytes(BUFFERS.pack(len(buffers)) + head)  # one write: one wake-up of the child
    for buffer in buffers:
        connection.send_bytes(buffer.raw())


def receive(connection: Connection) -> Any:
    """A message sent with ``send``; raises ``EOFError`` once the other end has closed."""
    head = connection.recv_bytes()
    (count,) = BUFFERS.unpack_from(head)
    buffers = [connection.recv_bytes() for _ in range(count)]
    return pickle.loads(memoryview(head)[BUFFERS.size :], buffers=buffers)


def _rows(held: Iterable[tuple[SegmentKey, list[Any]]]) -> int:
    return sum(entry.rows for _, entries in held for entry in entries)


class _Held:
    """What the child holds: each segment key's entries, with the hand-overs they came in."""

    def __init__(self, writer: SegmentWriter, acks: Connection) -> None:
        self.writer = writer
        self.acks = acks
        self.entries: dict[SegmentKey, list[Any]] = {}
        self.seqs: dict[SegmentKey, list[int]] = {}
        self.rows = 0
        self._schemas: dict[tuple[object, ...], Any] = {}

    def add(self, seq: int, key: SegmentKey, entries: list[Any]) -> None:
        self.entries.setdefault(key, []).extend(entries)
        self.seqs.setdefault(key, []).append(seq)
        self.rows += _rows([(key, entries)])

    def store(self) -> str | None:
        """Store everything held, one segment a key; what cannot be stored is kept for the next
        call. Returns the last error, if any."""
        error = None
        for key in list(self.entries):
            entries = self.entries[key]
            try:
                self.writer.write(build_segment(key, entries, self._schemas))
            except Exception as exc:
                log.exception("cannot store %d rows of %s v%d", _rows([(key, entries)]), *key[:2])
                error = f"{type(exc).__name__}: {exc}"
                continue
            del self.entries[key]
            self.rows -= _rows([(key, entries)])
            self.tell(("stored", self.seqs.pop(key)))
        return error

    def tell(self, message: tuple[object, ...]) -> None:
        with contextlib.suppress(OSError):  # the gateway is gone: store what is held all the same
            self.acks.send(message)


def serve(data: Connection, acks: Connection) -> int:
    """The child's loop: store what arrives every ``flush_interval`` (or once ``max_rows`` rows
    wait), and everything on a sync; once the pipe closes, store the rest and return the exit
    code (1 if some rows could not be stored)."""
    kind, config = receive(data)
    if kind != "config":
        raise InvalidInput(f"the prediction log's process expected its config first, not {kind!r}")
    artifacts = ArtifactStore(config["artifacts_url"], **config["storage_options"])
    writer = SegmentWriter(artifacts, PredictionRepository(Database(config["db_url"])))
    held = _Held(writer, acks)
    interval, max_rows = float(config["flush_interval"]), int(config["max_rows"])
    due = time.monotonic() + interval
    while True:
        if data.poll(max(0.0, due - time.monotonic())):
            try:
                message = receive(data)
            except EOFError:
                break
            if message[0] == "entries":
                held.add(message[1], message[2], message[3])
                if held.rows >= max_rows:
                    held.store()
            elif message[0] == "sync":
                error = held.store()
                held.tell(("synced", message[1], error))
        if time.monotonic() >= due:
            if held.rows:
                held.store()
            due = time.monotonic() + interval
    for attempt in range(3):
        if not held.rows:
            return 0
        if attempt:
            time.sleep(interval)
        held.store()
    log.error("%d rows of the prediction log were not stored", held.rows)
    return 1


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    ask_for_long_slice()  # the gateway and its clients take their core back at once
    logging.basicConfig(
        level=logging.WARNING,
        format="%(asctime)s %(levelname)s evergreen prediction log (pid %(process)d): %(message)s",
    )
    data = Connection(int(argv[0]), writable=False)
    acks = Connection(int(argv[1]), readable=False)
    try:
        return serve(data, acks)
    except EvergreenError as exc:  # the stores cannot be opened: one line, not a traceback
        log.error("%s", exc)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
