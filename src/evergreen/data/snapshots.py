"""Immutable, content-addressed dataset versions.

A snapshot stores each file's bytes in the artifact store (once, by sha256) and records the
version: its id is derived from the files' names and hashes, so the same bytes always give the
same id and a re-snapshot of unchanged data creates nothing new.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from evergreen.core.clock import Clock, SystemClock
from evergreen.data.sources import format_of, read_bytes, resolve_files
from evergreen.errors import InvalidInput, NotFound
from evergreen.store.artifacts import ArtifactStore
from evergreen.store.datasets import DatasetRepository
from evergreen.store.tables import DatasetVersionRow


@dataclass(frozen=True)
class FileEntry:
    name: str
    sha256: str
    size: int
    rows: int


def _relative_names(files: list[Path]) -> list[str]:
    if len(files) == 1:
        return [files[0].name]
    root = Path(os.path.commonpath([f.resolve().parent for f in files]))
    return [f.resolve().relative_to(root).as_posix() for f in files]


def version_id(entries: list[tuple[str, str]]) -> str:
    """The id of a dataset made of (name, sha256) files: stable for the same content."""
    canonical = json.dumps(sorted(entries), separators=(",", ":")).encode()
    return "ds-" + hashlib.sha256(canonical).hexdigest()[:16]


class DatasetStore:
    def __init__(
        self, repository: DatasetRepository, artifacts: ArtifactStore, clock: Clock | None = None
    ):
        self.repository = repository
        self.artifacts = artifacts
        self.clock = clock or SystemClock()

    def snapshot(
        self, path_or_glob: str, *, tags: dict[str, Any] | None = None
    ) -> DatasetVersionRow:
        """Record the files as a dataset version (or return the existing identical one).

        Every file is parsed before anything is recorded, so a bad file records nothing.
        """
        files = resolve_files(path_or_glob)
        fmt = format_of(files[0])
        names = _relative_names(files)
        frames: list[pd.DataFrame] = []
        entries: list[FileEntry] = []
        hashes: list[str] = []
        for path, name in zip(files, names, strict=True):
            data = path.read_bytes()
            frame = read_bytes(data, fmt, str(path))
            if frames and list(frame.columns) != list(frames[0].columns):
                raise InvalidInput(
                    f"{path}: columns {list(frame.columns)} differ from those of {files[0]} "
                    f"({list(frames[0].columns)}); snapshot files of one table together"
                )
            digest = hashlib.sha256(data).hexdigest()
            frames.append(frame)
            hashes.append(digest)
            entries.append(FileEntry(name, digest, len(data), len(frame)))
        dataset_id = version_id([(e.name, e.sha256) for e in entries])
        existing = self.repository.get(dataset_id)
        if existing is not None:
            return existing
        for path, digest in zip(files, hashes, strict=True):
            self.artifacts.put_file(path, sha256=digest)
        sample = frames[0]
        row = DatasetVersionRow(
            id=dataset_id,
            created_at=self.clock.now(),
            source=str(Path(path_or_glob).resolve())
            if Path(path_or_glob).exists()
            else path_or_glob,
            format=fmt,
            rows=sum(e.rows for e in entries),
            columns=[str(c) for c in sample.columns],
            files=[e.__dict__ for e in entries],
            schema_json={str(c): str(t) for c, t in sample.dtypes.items()},
            tags=tags or {},
        )
        return self.repository.add_if_absent(row)

    def snapshot_frame(
        self, frame: pd.DataFrame, name: str, *, tags: dict[str, Any] | None = None
    ) -> DatasetVersionRow:
        """Record an in-memory table (written as Parquet) as a dataset version."""
        if frame.empty:
            raise InvalidInput(f"{name}: the table has no rows")
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"{name}.parquet"
            frame.to_parquet(path, index=False)
            return self.snapshot(str(path), tags=tags)

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
        return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]

    def checkout(self, ref: str, destination: str | Path) -> list[Path]:
        """Write the version's files, byte for byte, under ``destination``."""
        row = self.get(ref)
        return [
            self.artifacts.get_file(f["sha256"], Path(destination) / f["name"]) for f in row.files
        ]
