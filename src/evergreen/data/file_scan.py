"""One streaming pass over a large local file: hash it, copy it into the store, count its rows.

Snapshotting a big file should cost about what hashing it costs. Reading the whole file into
pandas to count rows costs ~20 times that, so files over :data:`FULL_PARSE_BYTES` take this
path instead, where three threads share the work, each releasing the GIL for its heavy part:

- the calling thread reads 8 MiB chunks and feeds sha256;
- a copy thread copies the file into the artifact store's staging area in the kernel;
- a counting thread counts line breaks and commas (NumPy), notes quotes, checks UTF-8 and keeps
  the first MiB.

The column names and dtypes come from parsing that first MiB; the row count and the check that
every line has the header's number of fields come from the counts. When the counts cannot settle
it (quoted fields may hold commas and line breaks; blank or ragged lines), a streaming parse does,
in bounded memory, and a bad line is named by its number as the full parse would name it.

Smaller files (and JSON lines) are parsed in full, which also catches columns of mixed types.
"""

from __future__ import annotations

import codecs
import hashlib
import os
import queue
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from evergreen.data.sources import read_bytes
from evergreen.errors import InvalidInput, InvalidState, Unavailable

FULL_PARSE_BYTES = 64 * 2**20
HEAD_BYTES = 2**20
HEAD_LIMIT = 64 * 2**20
CHUNK = 8 * 2**20
STREAM_ROWS = 1_000_000
_NEWLINE, _COMMA, _QUOTE = 10, 44, 34


@dataclass(frozen=True)
class Scan:
    sha256: str
    size: int
    rows: int
    dtypes: dict[str, str]
    staged: Path | None  # a copy in the artifact store's staging area, committed when recorded


def streams(fmt: str, size: int) -> bool:
    """Whether a local file of this format and size takes the streaming path."""
    return fmt in ("csv", "parquet") and size > FULL_PARSE_BYTES


def scan_large(path: Path, fmt: str, name: str, staged: Path | None) -> Scan:
    """Hash ``path`` (copying it to ``staged`` when given) and read its rows and dtypes.

    ``name`` is what errors call the file. InvalidState when the file changes meanwhile.
    """
    before = os.stat(path)
    counter = _CsvCounter() if fmt == "csv" else None
    workers = []
    if staged is not None:
        workers.append(_Worker(lambda: _copy(path, staged)))
    if counter is not None:
        workers.append(_Worker(counter.run))
    try:
        digest, size = _hash(path, counter)
    finally:
        if counter is not None:
            counter.chunks.put(None)
        for worker in workers:
            worker.join()
    after = os.stat(path)
    if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns) or (
        size != after.st_size
    ):
        raise InvalidState(f"{name}: the file changed while it was being snapshotted; try again")
    if counter is None:
        rows, dtypes = _parquet_shape(path, name)
    else:
        rows, dtypes = counter.shape(path, name)
    return Scan(digest, size, rows, dtypes, staged)


def _copy(source: Path, staged: Path) -> None:
    try:
        shutil.copyfile(source, staged)  # in the kernel (sendfile) where the OS allows
    except OSError as exc:
        raise Unavailable(f"cannot copy {source} into the artifact store: {exc}") from None


def _hash(path: Path, counter: _CsvCounter | None) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            if counter is not None:
                counter.chunks.put(chunk)
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


class _Worker:
    """A thread whose exception is raised again in the caller by :meth:`join`."""

    def __init__(self, work: Callable[[], object]) -> None:
        self.error: BaseException | None = None
        self.work = work
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.work()
        except BaseException as exc:  # handed to the caller by join()
            self.error = exc

    def join(self) -> None:
        self.thread.join()
        if self.error is not None:
            raise self.error


class _CsvCounter:
    """Counts over a CSV's chunks, fed in order through :attr:`chunks`."""

    def __init__(self) -> None:
        self.chunks: queue.Queue[bytes | None] = queue.Queue(maxsize=4)
        self.newlines = 0
        self.commas = 0
        self.quotes = 0
        self.head = b""
        self._head_done = False
        self.last = b""
        self.offset = 0
        self.bad_byte: int | None = None
        self._decoder = codecs.getincrementaldecoder("utf-8")()

    def run(self) -> None:
        # Keep draining after a failure: the reading thread must never block on a full queue.
        failure: Exception | None = None
        while (chunk := self.chunks.get()) is not None:
            if failure is None:
                try:
                    self._feed(chunk)
                except Exception as exc:  # raised again by the caller's join()
                    failure = exc
        if failure is not None:
            raise failure
        self._check_utf8(b"", final=True)

    def _feed(self, chunk: bytes) -> None:
        import numpy as np  # here, not at the top: a re-snapshot of cached files needs none

        values = np.frombuffer(chunk, np.uint8)
        self.newlines += int(np.count_nonzero(values == _NEWLINE))
        self.commas += int(np.count_nonzero(values == _COMMA))
        if chunk.find(b'"') >= 0:
            self.quotes += int(np.count_nonzero(values == _QUOTE))
        if not self._head_done:  # whole chunks, so the sample holds the header and a whole row
            self.head += chunk
            self._head_done = len(self.head) >= HEAD_LIMIT or (
                len(self.head) >= HEAD_BYTES and self.head.count(b"\n") >= 2
            )
        self._check_utf8(chunk)
        self.offset += len(chunk)
        self.last = chunk[-1:]

    def _check_utf8(self, chunk: bytes, *, final: bool = False) -> None:
        if self.bad_byte is not None:
            return
        pending = len(self._decoder.getstate()[0])
        if not final and not pending and chunk.isascii():
            return
        try:
            self._decoder.decode(chunk, final)
        except UnicodeDecodeError as exc:
            self.bad_byte = self.offset - pending + exc.start

    def _sample(self) -> bytes:
        """The first HEAD_BYTES (or more, to hold a whole row), cut after a complete line."""
        head = self.head
        if self.offset == len(head):
            return head  # the whole file
        cut = head.rfind(b"\n", 0, HEAD_BYTES) + 1
        if head.count(b"\n", 0, cut) < 2:
            cut = head.rfind(b"\n") + 1
        return head[:cut]

    def shape(self, path: Path, name: str) -> tuple[int, dict[str, str]]:
        """Rows and dtypes, from the counts where they settle it, else by a streaming parse."""
        if self.bad_byte is not None:
            raise InvalidInput(f"{name}: not UTF-8 text (byte {self.bad_byte}); re-save as UTF-8")
        frame = read_bytes(self._sample(), "csv", name)
        dtypes = {str(c): str(t) for c, t in frame.dtypes.items()}
        # Quotes in the header alone (as pyarrow and R write it) leave the data lines countable.
        header = self.head[: self.head.find(b"\n") + 1] or self.head
        if self.quotes == header.count(b'"'):
            lines = self.newlines + (0 if self.last == b"\n" else 1)
            commas = self.commas - header.count(b",")
            if commas == (lines - 1) * (len(frame.columns) - 1):
                return lines - 1, dtypes
        return read_csv_rows(path, name, len(frame.columns)), dtypes


def read_csv_rows(path: Path, name: str, columns: int) -> int:
    """The data rows of a CSV, parsed as a stream by Arrow's multi-threaded reader, or by
    pandas in chunks where Arrow refuses a line (pandas pads short lines; its errors name the
    line). Memory stays bounded either way."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    names = [f"c{k}" for k in range(columns)]  # the header is skipped; one column converted
    try:
        with pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                include_columns=names[:1], column_types={names[0]: pa.string()}
            ),
        ) as reader:
            return sum(batch.num_rows for batch in reader)
    except (pa.ArrowInvalid, UnicodeDecodeError):
        return _pandas_rows(path, name)


def _pandas_rows(path: Path, name: str) -> int:
    import pandas as pd

    rows = 0
    try:
        for chunk in pd.read_csv(path, encoding="utf-8", chunksize=STREAM_ROWS):
            if not isinstance(chunk.index, pd.RangeIndex):
                raise InvalidInput(
                    f"{name}: malformed CSV: data rows have more fields than the header "
                    f"({len(chunk.columns)} names); fix the header or the rows"
                )
            rows += len(chunk)
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{name}: not UTF-8 text ({exc.reason}); re-save as UTF-8") from None
    except pd.errors.ParserError as exc:
        raise InvalidInput(f"{name}: malformed CSV: {exc}") from None
    return rows


def _parquet_shape(path: Path, name: str) -> tuple[int, dict[str, str]]:
    """Rows and dtypes from the Parquet footer (the data pages are not decoded)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        file = pq.ParquetFile(path)
        empty = file.schema_arrow.empty_table().to_pandas()
    except (pa.ArrowInvalid, OSError) as exc:
        raise InvalidInput(f"{name}: not a readable Parquet file: {exc}") from None
    if len(empty.columns) == 0:
        raise InvalidInput(f"{name}: the file has no columns")
    return file.metadata.num_rows, {str(c): str(t) for c, t in empty.dtypes.items()}
