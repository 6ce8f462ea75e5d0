"""The stat cache in the metadata store: (path, size, mtime_ns, inode) → hash, rows, dtypes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from evergreen.store.database import Database
from evergreen.store.tables import FileStatRow

BATCH = 500


@dataclass(frozen=True)
class FileStat:
    """A local file's identity as the filesystem reports it."""

    path: str
    size: int
    mtime_ns: int
    inode: int


@dataclass(frozen=True)
class CachedFile:
    sha256: str
    format: str
    rows: int
    dtypes: dict[str, Any]


class StatCache:
    def __init__(self, db: Database) -> None:
        self.db = db

    def lookup(self, stats: Iterable[FileStat]) -> dict[str, CachedFile]:
        """The cached content of each file whose stat still matches, by path."""
        wanted = {s.path: s for s in stats}
        found: dict[str, CachedFile] = {}
        paths = list(wanted)
        with self.db.session() as s:
            for start in range(0, len(paths), BATCH):
                query = sa.select(FileStatRow).where(
                    FileStatRow.path.in_(paths[start : start + BATCH])
                )
                for row in s.scalars(query):
                    stat = wanted[row.path]
                    if (row.size, row.mtime_ns, row.inode) == (
                        stat.size,
                        stat.mtime_ns,
                        str(stat.inode),
                    ):
                        found[row.path] = CachedFile(row.sha256, row.format, row.rows, row.dtypes)
        return found

    def record(self, entries: Iterable[tuple[FileStat, CachedFile]], at: datetime) -> None:
        """Remember files' content; best effort (a concurrent writer may win a row)."""
        rows = [
            FileStatRow(
                path=stat.path,
                size=stat.size,
                mtime_ns=stat.mtime_ns,
                inode=str(stat.inode),
                sha256=cached.sha256,
                format=cached.format,
                rows=cached.rows,
                dtypes=cached.dtypes,
                recorded_at=at,
            )
            for stat, cached in entries
        ]
        if not rows:
            return
        try:
            with self.db.session() as s:
                for row in rows:
                    s.merge(row)
        except IntegrityError:
            pass  # another snapshot recorded the same path at the same moment
