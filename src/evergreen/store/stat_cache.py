"""The stat cache in the metadata store: (path, size, mtime_ns, inode) → hash, rows, dtypes."""

from __future__ import annotations

import json
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
    inode: int | str  # a remote object's ETag stands in for the inode


@dataclass(frozen=True)
class CachedFile:
    sha256: str
    format: str
    rows: int
    dtypes: dict[str, Any]


# The dtypes come as their JSON text (see lookup).
_COLUMNS = (
    FileStatRow.path,
    FileStatRow.size,
    FileStatRow.mtime_ns,
    FileStatRow.inode,
    FileStatRow.sha256,
    FileStatRow.format,
    FileStatRow.rows,
    sa.type_coerce(FileStatRow.dtypes, sa.Text),
)


class StatCache:
    def __init__(self, db: Database) -> None:
        self.db = db

    def lookup(self, stats: Iterable[FileStat]) -> dict[str, CachedFile]:
        """The cached content of each file whose stat still matches, by path."""
        wanted = {s.path: (s.size, s.mtime_ns, str(s.inode)) for s in stats}
        found: dict[str, CachedFile] = {}
        paths = list(wanted)
        # The files of one table share their dtypes: each distinct JSON text is parsed once (a
        # driver that hands JSON over already parsed gives a dict). Every file gets its copy.
        parsed: dict[str, dict[str, Any]] = {}
        with self.db.session() as s:
            # Plain rows from the Core connection, fetched a batch at a time, not ORM objects:
            # a re-snapshot of a big folder looks up every one of its files.
            connection = s.connection()
            for start in range(0, len(paths), BATCH):
                query = sa.select(*_COLUMNS).where(
                    FileStatRow.path.in_(paths[start : start + BATCH])
                )
                for path, size, mtime_ns, inode, sha256, fmt, rows, dtypes in connection.execute(
                    query
                ).all():
                    if (size, mtime_ns, inode) != wanted[path]:
                        continue
                    if isinstance(dtypes, str):
                        if dtypes not in parsed:
                            parsed[dtypes] = json.loads(dtypes)
                        found[path] = CachedFile(sha256, fmt, rows, dict(parsed[dtypes]))
                    else:
                        found[path] = CachedFile(sha256, fmt, rows, dict(dtypes))
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
