"""The streaming snapshot path for large files gives what the full parse gives.

The size threshold, the head sample and the chunk size are shrunk so that small files take the
streaming path and chunk boundaries fall inside lines, quoted fields and UTF-8 characters.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from evergreen.data import file_scan
from evergreen.data.snapshots import DatasetStore
from evergreen.errors import InvalidInput, InvalidState, Unavailable
from evergreen.store.artifacts import ArtifactStore
from evergreen.store.database import Database
from evergreen.store.datasets import DatasetRepository

DAY = Path(__file__).resolve().parents[2] / "examples" / "data" / "bike_sharing_day.csv"


def blobs(artifacts: ArtifactStore) -> list[Path]:
    return sorted(p for p in Path(artifacts.root).rglob("*") if p.is_file())


@pytest.fixture
def make_store(
    make_db: Callable[..., Database], sqlite_url: str, tmp_path: Path
) -> Callable[[str], DatasetStore]:
    db = make_db(sqlite_url)

    def make(name: str) -> DatasetStore:
        return DatasetStore(DatasetRepository(db), ArtifactStore(str(tmp_path / name)))

    return make


@pytest.fixture
def streaming(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every CSV/Parquet file takes the streaming path, read in 7-byte chunks."""
    monkeypatch.setattr(file_scan, "FULL_PARSE_BYTES", 0)
    monkeypatch.setattr(file_scan, "CHUNK", 7)
    monkeypatch.setattr(file_scan, "HEAD_BYTES", 64)


def full_and_streamed(
    make_store: Callable[[str], DatasetStore], path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[dict[str, object], dict[str, object]]:
    full = make_store("full").snapshot(path)
    with monkeypatch.context() as patch:
        patch.setattr(file_scan, "FULL_PARSE_BYTES", 0)
        patch.setattr(file_scan, "CHUNK", 7)
        patch.setattr(file_scan, "HEAD_BYTES", 4096)
        row = make_store("streamed").snapshot(str(path))
    keys = ("id", "rows", "columns", "files")
    return {k: getattr(full, k) for k in keys}, {k: getattr(row, k) for k in keys}


CSVS = {
    "numbers": "a,b,c\n1,2.5,x\n3,4.5,y\n5,6.5,z\n",
    "no-final-newline": "a,b\n1,2\n3,4",
    "crlf": "a,b\r\n1,2\r\n3,4\r\n",
    "quoted-commas-and-newlines": 'a,b\n1,"x, y"\n2,"two\nlines"\n3,plain\n',
    "blank-lines": "a,b\n1,2\n\n3,4\n\n",
    "quoted-header": '"a","b, c"\n1,2\n3,4\n',
    "quoted-values-changing-type": "a,b\n" + '1,"x"\n' * 20 + '2.5,"y, z"\n',
    "utf8": "city,n\nZ\u00fcrich,1\nS\u00e3o Paulo,2\n\u6771\u4eac,3\n",
}


@pytest.mark.parametrize("text", list(CSVS.values()), ids=list(CSVS))
def test_streamed_csv_is_the_same_version_as_parsed(
    make_store: Callable[[str], DatasetStore],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    text: str,
) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes(text.encode())
    full, streamed = full_and_streamed(make_store, path, monkeypatch)
    assert streamed == full
    assert streamed["rows"] == len(pd.read_csv(path))


def test_the_real_dataset_streams_to_the_same_version(
    make_store: Callable[[str], DatasetStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    full, streamed = full_and_streamed(make_store, DAY, monkeypatch)
    assert streamed == full
    assert streamed["rows"] == 731


@pytest.mark.usefixtures("streaming")
def test_streamed_bytes_are_stored_and_check_out_identically(
    make_store: Callable[[str], DatasetStore], tmp_path: Path
) -> None:
    store = make_store("store")
    row = store.snapshot(DAY)
    out = store.checkout(row.id, tmp_path / "out")
    assert out[0].read_bytes() == DAY.read_bytes()
    assert not list((Path(store.artifacts.root) / "staging").iterdir())


@pytest.mark.usefixtures("streaming")
def test_streamed_parquet_takes_rows_and_types_from_the_footer(
    make_store: Callable[[str], DatasetStore], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "day.parquet"
    frame = pd.read_csv(DAY)
    frame.to_parquet(path, index=False)
    row = make_store("store").snapshot(path)
    assert row.rows == len(frame)
    assert row.schema_json == {str(c): str(t) for c, t in frame.dtypes.items()}


def test_a_remote_store_gets_the_streamed_file_by_upload(
    make_db: Callable[..., Database],
    sqlite_url: str,
    any_artifacts: ArtifactStore,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(file_scan, "FULL_PARSE_BYTES", 0)
    store = DatasetStore(DatasetRepository(make_db(sqlite_url)), any_artifacts)
    row = store.snapshot(DAY)
    out = store.checkout(row.id, tmp_path / "out")
    assert out[0].read_bytes() == DAY.read_bytes()


BAD = [
    ("ragged", b"a,b\n" + b"1,2\n" * 40 + b"3,4,5\n", "malformed CSV: .*line 42"),
    ("short", b"a,b,c\n" + b"1,2,3\n" * 40 + b"3,4\n" + b"1,2,3\n", None),
    (
        "not-utf8",
        b"city,n\n" + b"Bern,1\n" * 30 + "Z\u00fcrich,2\n".encode("latin-1"),
        r"not UTF-8 text \(byte 218\)",
    ),
    ("more-fields", b"a,b\n1,2,3\n" + b"4,5,6\n" * 40, "malformed CSV: data rows have more"),
]


@pytest.mark.usefixtures("streaming")
@pytest.mark.parametrize(("label", "data", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_lines_past_the_sample_fail_the_snapshot_and_store_nothing(
    make_store: Callable[[str], DatasetStore],
    tmp_path: Path,
    label: str,
    data: bytes,
    message: str | None,
) -> None:
    store = make_store("store")
    path = tmp_path / f"{label}.csv"
    path.write_bytes(data)
    if message is None:  # a short line is padded with nulls by every CSV reader: a valid file
        assert store.snapshot(path).rows == 42
        return
    with pytest.raises(InvalidInput, match=f"{re.escape(str(path))}: {message}"):
        store.snapshot(path)
    assert store.log() == []
    assert blobs(store.artifacts) == []


@pytest.mark.usefixtures("streaming")
def test_a_file_that_changes_while_it_is_read_is_refused(
    make_store: Callable[[str], DatasetStore], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "growing.csv"
    path.write_bytes(b"a,b\n1,2\n")
    hash_ = file_scan._hash

    def hash_then_append(target: Path, counter: object) -> tuple[str, int]:
        result = hash_(target, counter)  # type: ignore[arg-type]
        with open(target, "ab") as handle:  # another writer appends after the read
            handle.write(b"3,4\n")
        return result

    monkeypatch.setattr(file_scan, "_hash", hash_then_append)
    store = make_store("store")
    with pytest.raises(InvalidState, match="changed while it was being snapshotted"):
        store.snapshot(path)
    assert store.log() == []
    assert blobs(store.artifacts) == []


@pytest.mark.usefixtures("streaming")
def test_a_failing_counter_neither_hangs_nor_records(
    make_store: Callable[[str], DatasetStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    feed = file_scan._CsvCounter._feed
    fed: list[int] = []

    def failing_feed(self: file_scan._CsvCounter, chunk: bytes) -> None:
        fed.append(len(chunk))
        if len(fed) == 3:
            raise RuntimeError("counter broke")
        feed(self, chunk)

    monkeypatch.setattr(file_scan._CsvCounter, "_feed", failing_feed)
    store = make_store("store")
    with pytest.raises(RuntimeError, match="counter broke"):
        store.snapshot(DAY)  # 7-byte chunks: thousands more after the failure, all drained
    assert store.log() == [] and blobs(store.artifacts) == []


@pytest.mark.usefixtures("streaming")
def test_a_failed_copy_is_unavailable_and_leaves_nothing(
    make_store: Callable[[str], DatasetStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(source: Path, target: Path) -> None:
        Path(target).write_bytes(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(file_scan.shutil, "copyfile", disk_full)
    store = make_store("store")
    with pytest.raises(Unavailable, match="No space left on device"):
        store.snapshot(DAY)
    assert store.log() == [] and blobs(store.artifacts) == []
