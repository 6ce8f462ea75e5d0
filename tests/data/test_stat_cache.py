"""The stat cache: an unchanged re-snapshot reads and hashes nothing; one changed file is the
only one read again."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

import evergreen.data.snapshots as snapshots
from evergreen.data.snapshots import DatasetStore
from evergreen.store.artifacts import ArtifactStore
from evergreen.store.database import Database
from evergreen.store.datasets import DatasetRepository
from evergreen.store.stat_cache import CachedFile, FileStat, StatCache

AN_HOUR_AGO_NS = (1_700_000_000 - 3600) * 1_000_000_000


def write_old(path: Path, text: str, mtime_ns: int = AN_HOUR_AGO_NS) -> Path:
    """A file whose mtime is long past (not "racily clean")."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.utime(path, ns=(mtime_ns, mtime_ns))
    return path


class Calls:
    """Which files the snapshot read (parsed) and how many times it hashed bytes."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.parsed: list[str] = []
        self.hashed = 0
        real_parse, real_hash = snapshots._parse, snapshots.content_hash

        def parse(data: bytes, fmt: str, name: str) -> tuple[int, dict[str, str]]:
            self.parsed.append(Path(name).name)
            return real_parse(data, fmt, name)

        def content_hash(data: bytes) -> str:
            self.hashed += 1
            return real_hash(data)

        monkeypatch.setattr(snapshots, "_parse", parse)
        monkeypatch.setattr(snapshots, "content_hash", content_hash)

    def reset(self) -> None:
        self.parsed, self.hashed = [], 0


@pytest.fixture
def store(db: Database, artifacts: ArtifactStore) -> DatasetStore:
    return DatasetStore(DatasetRepository(db), artifacts)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for i in range(5):
        write_old(tmp_path / "data" / f"part-{i}.csv", f"a,b\n{i},x\n{i + 1},y\n")
    return tmp_path / "data"


def test_unchanged_re_snapshot_reads_and_hashes_nothing(
    store: DatasetStore, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = Calls(monkeypatch)
    first = store.snapshot(str(folder))
    assert calls.hashed == 5
    assert sorted(calls.parsed) == [f"part-{i}.csv" for i in range(5)]

    calls.reset()
    again = store.snapshot(str(folder))

    assert (calls.hashed, calls.parsed) == (0, [])
    assert again.id == first.id
    assert (again.rows, again.columns, again.files) == (first.rows, first.columns, first.files)


def test_touching_one_file_re_hashes_only_that_file(
    store: DatasetStore, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = store.snapshot(str(folder))
    calls = Calls(monkeypatch)

    write_old(folder / "part-3.csv", "a,b\n3,x\n4,y\n5,z\n", AN_HOUR_AGO_NS + 10**9)
    changed = store.snapshot(str(folder))

    assert (calls.hashed, calls.parsed) == (1, ["part-3.csv"])
    assert changed.id != first.id
    assert changed.rows == first.rows + 1
    assert store.load(changed.id).equals(
        pd.concat([pd.read_csv(p) for p in sorted(folder.iterdir())], ignore_index=True)
    )


def test_same_bytes_with_a_new_mtime_are_re_hashed_but_give_the_same_version(
    store: DatasetStore, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = store.snapshot(str(folder))
    calls = Calls(monkeypatch)
    path = folder / "part-0.csv"
    os.utime(path, ns=(AN_HOUR_AGO_NS + 5, AN_HOUR_AGO_NS + 5))

    assert store.snapshot(str(folder)).id == first.id
    assert (calls.hashed, calls.parsed) == (1, ["part-0.csv"])


def test_a_file_replaced_at_the_same_path_is_re_read(
    store: DatasetStore, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same size and mtime, new inode (written elsewhere and moved in): not trusted."""
    first = store.snapshot(str(folder))
    calls = Calls(monkeypatch)
    original = folder / "part-1.csv"
    replacement = write_old(folder.parent / "new.csv", original.read_text().replace("x", "z"))
    replacement.replace(original)

    second = store.snapshot(str(folder))

    assert calls.parsed == ["part-1.csv"]
    assert second.id != first.id


def test_just_written_files_are_not_cached(
    store: DatasetStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file modified within the timestamp resolution may change again unseen."""
    path = tmp_path / "fresh.csv"
    path.write_text("a\n1\n")
    store.snapshot(str(path))
    calls = Calls(monkeypatch)
    store.snapshot(str(path))
    assert calls.parsed == ["fresh.csv"]


def test_lookup_matches_only_the_same_size_mtime_and_inode(
    make_db: Callable[..., Database], sqlite_url: str
) -> None:
    cache = StatCache(make_db(sqlite_url))
    stat = FileStat("/data/a.csv", 10, 123, 2**63 + 7)
    cached = CachedFile("a" * 64, "csv", 3, {"a": "int64"})
    cache.record([(stat, cached)], datetime.now(UTC))
    cache.record([(stat, cached)], datetime.now(UTC))  # a second record replaces the first

    assert cache.lookup([stat]) == {"/data/a.csv": cached}
    for other in (
        FileStat("/data/a.csv", 11, 123, 2**63 + 7),
        FileStat("/data/a.csv", 10, 124, 2**63 + 7),
        FileStat("/data/a.csv", 10, 123, 8),
        FileStat("/data/b.csv", 10, 123, 2**63 + 7),
    ):
        assert cache.lookup([other]) == {}
