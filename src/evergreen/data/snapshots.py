"""Immutable, content-addressed dataset versions.

A snapshot stores each file's bytes in the artifact store (once, by sha256) and records the
version: its id is derived from the files' names and hashes (and, for a SQL source, the query),
so the same bytes always give the same id and a re-snapshot of unchanged data creates nothing new.

Local files go through a stat cache (path, size, mtime_ns, inode → sha256, rows, dtypes in the
metadata store): a re-snapshot of unchanged files neither reads nor hashes them, and one changed
file is the only one read again.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import posixpath
import stat as stat_
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evergreen.core.clock import Clock, SystemClock
from evergreen.data import file_scan
from evergreen.data import lineage as lineage_
from evergreen.data.diff import DatasetDiff, diff_versions
from evergreen.data.source_kinds import (
    CallableSource,
    FileSource,
    Source,
    SqlSource,
    UrlSource,
    as_source,
)
from evergreen.data.sources import SUFFIXES, format_of, list_files, read_bytes
from evergreen.errors import InvalidInput, InvalidState, NotFound
from evergreen.store import remote_files
from evergreen.store.artifacts import ArtifactStore, sha256_file
from evergreen.store.datasets import DatasetRepository
from evergreen.store.stat_cache import CachedFile, FileStat, StatCache
from evergreen.store.tables import DatasetVersionRow

if TYPE_CHECKING:  # pandas is imported where a table is read or written, not on every import
    import pandas as pd

# Files modified this recently may change again within the filesystem's timestamp resolution
# without their stat changing ("racily clean", as git calls it): they are not cached.
RACY_NS = 2_000_000_000


@dataclass(frozen=True)
class FileEntry:
    name: str
    sha256: str
    size: int
    rows: int


@dataclass(frozen=True)
class _Part:
    """One file of a version about to be recorded: its content is known, its bytes are where
    ``path`` or ``data`` says."""

    entry: FileEntry
    dtypes: dict[str, str]
    where: str
    path: str | Path | None = None  # a local file (its name as listed: a str for a cache hit)
    data: bytes | None = None
    staged: Path | None = None  # already copied into the artifact store's staging area
    fetch: Callable[[], bytes] | None = None  # a remote object the stat cache knows: read if needed


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _relative_names(files: list[str], resolved: list[str]) -> list[str]:
    """Each file's name relative to the folder that holds them all (``resolved`` are the
    files' resolved paths, in the same order: resolving is the costly part on big folders)."""
    if len(files) == 1:
        return [os.path.basename(files[0])]
    root = os.path.commonpath({r.rpartition(os.sep)[0] or os.sep for r in resolved})
    start = len(root) if root.endswith(os.sep) else len(root) + 1
    return [r[start:].replace(os.sep, "/") for r in resolved]


def _stat_files(files: list[str]) -> list[FileStat]:
    """Each file's stat, keyed by its resolved path (what ``Path.resolve`` gives).

    A file that is not a symbolic link resolves to its folder's resolved path joined with its
    name, so each folder is resolved once (``realpath`` costs an ``lstat`` per component)."""
    folders: dict[str, str] = {}  # folder as given → its resolved path, ending with a separator
    stats = []
    for file in files:
        st = os.lstat(file)
        if stat_.S_ISLNK(st.st_mode):
            real = os.path.realpath(file)
            st = os.stat(file)
        else:
            folder, _, name = file.rpartition(os.sep)
            real_folder = folders.get(folder)
            if real_folder is None:
                resolved = os.path.realpath(folder or (os.sep if file.startswith(os.sep) else "."))
                real_folder = folders[folder] = os.path.join(resolved, "")
            real = real_folder + name
        stats.append(FileStat(real, st.st_size, st.st_mtime_ns, st.st_ino))
    return stats


def _relative_keys(paths: list[str]) -> list[str]:
    if len(paths) == 1:
        return [posixpath.basename(paths[0])]
    root = posixpath.commonpath([posixpath.dirname(p) for p in paths])
    return [posixpath.relpath(p, root) for p in paths]


def version_id(entries: list[tuple[str, str]], identity: dict[str, Any] | None = None) -> str:
    """The id of a dataset made of (name, sha256) files, plus any ``identity`` beyond the files
    (a SQL query): stable for the same content."""
    body: Any = sorted(entries)
    if identity:
        body = {"files": body, **identity}
    canonical = json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
    return "ds-" + hashlib.sha256(canonical).hexdigest()[:16]


def _dtypes(frame: pd.DataFrame) -> dict[str, str]:
    return {str(c): str(t) for c, t in frame.dtypes.items()}


def _parse(data: bytes, fmt: str, name: str) -> tuple[int, dict[str, str]]:
    frame = read_bytes(data, fmt, name)
    return len(frame), _dtypes(frame)


def _frame_part(frame: pd.DataFrame, name: str) -> _Part:
    import pandas as pd

    if not isinstance(frame, pd.DataFrame):
        raise InvalidInput(f"{name}: expected a pandas DataFrame, got {type(frame).__name__}")
    if frame.empty:
        raise InvalidInput(f"{name}: the table has no rows")
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    data = buffer.getvalue()
    rows, dtypes = _parse(data, "parquet", name)
    entry = FileEntry(f"{name}.parquet", content_hash(data), len(data), rows)
    return _Part(entry, dtypes, name, data=data)


class DatasetStore:
    def __init__(
        self,
        repository: DatasetRepository,
        artifacts: ArtifactStore,
        clock: Clock | None = None,
        *,
        stat_cache: StatCache | None = None,
        storage_options: dict[str, Any] | None = None,
    ):
        self.repository = repository
        self.artifacts = artifacts
        self.clock = clock or SystemClock()
        self.stat_cache = stat_cache or StatCache(repository.db)
        self.storage_options = dict(storage_options or {})

    # -- recording ------------------------------------------------------------------------

    def snapshot(
        self, source: str | Path | Source, *, tags: dict[str, Any] | None = None
    ) -> DatasetVersionRow:
        """Record a path, folder, glob, fsspec URL or source object as a dataset version (or
        return the existing identical one).

        Every file is parsed (or found unchanged in the stat cache) before anything is
        recorded, so a bad file records nothing.
        """
        return self.snapshot_source(as_source(source, self.storage_options), tags=tags)

    def snapshot_source(
        self, source: Source, *, tags: dict[str, Any] | None = None
    ) -> DatasetVersionRow:
        tags = dict(tags or {})
        identity: dict[str, Any] | None = None
        if isinstance(source, FileSource):
            staged: list[Path] = []
            try:
                parts, fmt, where = self._local_parts(source.path, staged)
                return self._record(parts, fmt, where, tags, identity)
            finally:  # a failed snapshot leaves no staged copy behind
                for path in staged:
                    path.unlink(missing_ok=True)
        if isinstance(source, UrlSource):
            parts, fmt = self._remote_parts(source)
            where = source.url
        elif isinstance(source, SqlSource):
            from evergreen.store import sql

            frame = sql.read_query(source.url, source.query)
            parts, fmt = [_frame_part(frame, source.name)], "parquet"
            where = f"sql:{sql.redact(source.url)}"
            identity = {"query": source.query}
            tags["sql"] = {
                "url": sql.redact(source.url),
                "query": source.query,
                "fingerprint": parts[0].entry.sha256,
            }
        elif isinstance(source, CallableSource):
            try:
                frame = source.fn()
            except Exception as exc:
                raise InvalidInput(
                    f"{source.name}: the source function failed: {type(exc).__name__}: {exc}"
                ) from exc
            parts, fmt, where = [_frame_part(frame, source.name)], "parquet", source.name
        else:
            raise InvalidInput(f"cannot snapshot {source!r}")
        return self._record(parts, fmt, where, tags, identity)

    def snapshot_frame(
        self, frame: pd.DataFrame, name: str, *, tags: dict[str, Any] | None = None
    ) -> DatasetVersionRow:
        """Record an in-memory table (written as Parquet) as a dataset version."""
        return self._record([_frame_part(frame, name)], "parquet", name, dict(tags or {}), None)

    def _local_parts(self, path_or_glob: str, staged: list[Path]) -> tuple[list[_Part], str, str]:
        started_ns = time.time_ns()
        files = list_files(path_or_glob)
        fmt = format_of(files[0])
        stats = _stat_files(files)
        names = _relative_names(files, [stat.path for stat in stats])
        cached = self.stat_cache.lookup(stats)
        parts: list[_Part] = []
        fresh: list[tuple[FileStat, CachedFile]] = []
        for file, name, stat in zip(files, names, stats, strict=True):
            hit = cached.get(stat.path)
            if hit is not None and hit.format == fmt:  # no Path made: 10,000 cost ~50 ms
                entry = FileEntry(name, hit.sha256, stat.size, hit.rows)
                parts.append(_Part(entry, dict(hit.dtypes), file, path=file))
                continue
            path = Path(file)
            part = self._read_local(path, name, fmt, stat.size, staged)
            parts.append(part)
            entry = part.entry
            if entry.size == stat.size and stat.mtime_ns < started_ns - RACY_NS:
                fresh.append((stat, CachedFile(entry.sha256, fmt, entry.rows, part.dtypes)))
        self._check_columns(parts)
        self.stat_cache.record(fresh, self.clock.now())
        where = str(Path(path_or_glob).resolve()) if Path(path_or_glob).exists() else path_or_glob
        return parts, fmt, where

    def _remote_parts(self, source: UrlSource) -> tuple[list[_Part], str]:
        files = remote_files.list_files(source.url, SUFFIXES, source.storage_options)
        if not files:
            raise NotFound(f"{source.url}: matches no .csv, .parquet or .jsonl file")
        formats = {format_of(f.path) for f in files}
        if len(formats) > 1:
            raise InvalidInput(f"{source.url}: mixes file formats; snapshot them apart")
        fmt = formats.pop()
        # The stat cache serves remote objects too, keyed by URL, size and the backend's ETag
        # (which changes with the bytes); objects without one are read every time.
        stats = {f.url: FileStat(f.url, f.size, 0, f.fingerprint) for f in files if f.fingerprint}
        cached = self.stat_cache.lookup(stats.values())
        parts, fresh = [], []
        for file, name in zip(files, _relative_keys([f.path for f in files]), strict=True):
            hit = cached.get(file.url)
            if hit is not None and hit.format == fmt:
                entry = FileEntry(name, hit.sha256, file.size, hit.rows)
                fetch = partial(remote_files.read, file.url, source.storage_options)
                parts.append(_Part(entry, dict(hit.dtypes), file.url, fetch=fetch))
                continue
            data = remote_files.read(file.url, source.storage_options)
            rows, dtypes = _parse(data, fmt, file.url)
            entry = FileEntry(name, content_hash(data), len(data), rows)
            parts.append(_Part(entry, dtypes, file.url, data=data))
            stat = stats.get(file.url)
            if stat is not None and stat.size == len(data):
                fresh.append((stat, CachedFile(entry.sha256, fmt, rows, dtypes)))
        self._check_columns(parts)
        self.stat_cache.record(fresh, self.clock.now())
        return parts, fmt

    def _store_fetched(self, part: _Part, fetch: Callable[[], bytes]) -> None:
        """Store an object the stat cache vouched for, unless its blob is already stored."""
        if self.artifacts.exists(part.entry.sha256):
            return
        data = fetch()
        if content_hash(data) != part.entry.sha256:
            raise InvalidState(f"{part.where}: changed while it was being snapshotted; try again")
        self.artifacts.put_bytes(data)

    def _read_local(self, path: Path, name: str, fmt: str, size: int, staged: list[Path]) -> _Part:
        """One file's content: parsed in full when small; streamed (hashed while it is copied
        into the store's staging area, rows counted on the way) when large."""
        if not file_scan.streams(fmt, size):
            data = path.read_bytes()
            rows, dtypes = _parse(data, fmt, str(path))
            entry = FileEntry(name, content_hash(data), len(data), rows)
            return _Part(entry, dtypes, str(path), path=path)
        target = self.artifacts.staging_path()
        if target is not None:
            staged.append(target)
        scan = file_scan.scan_large(path, fmt, str(path), target)
        entry = FileEntry(name, scan.sha256, scan.size, scan.rows)
        return _Part(entry, scan.dtypes, str(path), path=path, staged=scan.staged)

    @staticmethod
    def _check_columns(parts: list[_Part]) -> None:
        columns, first = list(parts[0].dtypes), parts[0].where
        for part in parts[1:]:
            if list(part.dtypes) != columns:
                raise InvalidInput(
                    f"{part.where}: columns {list(part.dtypes)} differ from those of "
                    f"{first} ({columns}); snapshot files of one table together"
                )

    def _record(
        self,
        parts: list[_Part],
        fmt: str,
        where: str,
        tags: dict[str, Any],
        identity: dict[str, Any] | None,
    ) -> DatasetVersionRow:
        entries = [p.entry for p in parts]
        dataset_id = version_id([(e.name, e.sha256) for e in entries], identity)
        existing = self.repository.get(dataset_id)
        if existing is not None:
            return existing
        for part in parts:
            if part.data is not None:
                self.artifacts.put_bytes(part.data)
            elif part.staged is not None:
                self.artifacts.commit_staged(part.staged, part.entry.sha256, part.entry.size)
            elif part.path is not None:
                self.artifacts.put_file(part.path, sha256=part.entry.sha256)
            elif part.fetch is not None:
                self._store_fetched(part, part.fetch)
        row = DatasetVersionRow(
            id=dataset_id,
            created_at=self.clock.now(),
            source=where,
            format=fmt,
            rows=sum(e.rows for e in entries),
            columns=list(parts[0].dtypes),
            files=[e.__dict__ for e in entries],
            schema_json=dict(parts[0].dtypes),
            tags=tags,
        )
        return self.repository.add_if_absent(row)

    # -- reading --------------------------------------------------------------------------

    def get(self, ref: str) -> DatasetVersionRow:
        """A version by id or unique id prefix."""
        row = self.repository.get(ref)
        if row is not None:
            return row
        matches = self.repository.find_by_prefix(ref) if len(ref) >= 6 else []
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise InvalidInput(f"dataset version prefix {ref!r} is ambiguous; give more characters")
        raise NotFound(f"no dataset version {ref!r}; see `evergreen data log`")

    def log(self, limit: int = 100) -> list[DatasetVersionRow]:
        return self.repository.list(limit)

    def load(self, ref: str) -> pd.DataFrame:
        """The version's rows, read from verified bytes in the artifact store."""
        row = self.get(ref)
        frames = [
            read_bytes(self.artifacts.get_bytes(f["sha256"]), row.format, f"{row.id}/{f['name']}")
            for f in row.files
        ]
        if len(frames) == 1:
            return frames[0]
        import pandas as pd

        return pd.concat(frames, ignore_index=True)

    def checkout(self, ref: str, destination: str | Path, *, force: bool = False) -> list[Path]:
        """Write the version's files, byte for byte, under ``destination``.

        An existing file with other bytes is refused (InvalidState naming it) unless ``force``;
        nothing is written then.
        """
        row = self.get(ref)
        root = Path(destination)
        targets = [(f["sha256"], root / f["name"]) for f in row.files]
        conflicts = [
            target
            for sha256, target in targets
            if target.exists() and (not target.is_file() or sha256_file(target)[0] != sha256)
        ]
        if conflicts and not force:
            listed = ", ".join(str(c) for c in conflicts[:3])
            more = f" and {len(conflicts) - 3} more" if len(conflicts) > 3 else ""
            raise InvalidState(
                f"checkout of {row.id} would overwrite {listed}{more} with other bytes; "
                "choose an empty folder or pass --force"
            )
        return [self.artifacts.get_file(sha256, target) for sha256, target in targets]

    def diff(self, a: str, b: str) -> DatasetDiff:
        """What changed from version ``a`` to version ``b``."""
        return diff_versions(self.get(a), self.get(b))

    def lineage(self, ref: str) -> lineage_.Lineage:
        """The pipeline runs and model versions that used a version."""
        row = self.get(ref)
        return lineage_.lineage_of(self.repository, row)
