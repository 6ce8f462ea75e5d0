"""The stat cache's lookup on every backend: many files at once (several batches), their column
types read back intact, each file's its own."""

from __future__ import annotations

from datetime import UTC, datetime

from evergreen.store import stat_cache
from evergreen.store.database import Database
from evergreen.store.stat_cache import CachedFile, FileStat, StatCache


def test_lookup_of_many_files_gives_each_its_cached_content(db: Database) -> None:
    cache = StatCache(db)
    count = stat_cache.BATCH * 2 + 7
    shared = {"a": "int64", "b": "object"}
    entries = []
    for i in range(count):
        dtypes = {"other": "float64"} if i % 100 == 3 else dict(shared)
        stat = FileStat(f"/data/part-{i // 10}/f{i:05d}.csv", 10 + i, 10**18 + i, 2**63 + i)
        entries.append((stat, CachedFile(f"{i:064x}", "csv", i, dtypes)))
    cache.record(entries, datetime.now(UTC))
    changed = entries[5][0]
    stats = [s for s, _ in entries]
    stats[5] = FileStat(changed.path, changed.size, changed.mtime_ns + 1, changed.inode)
    stats.append(FileStat("/data/never-recorded.csv", 1, 1, 1))

    found = cache.lookup(stats)

    assert found == {s.path: c for s, c in entries if s != changed}
    first, second = found[entries[0][0].path], found[entries[1][0].path]
    first.dtypes["a"] = "changed"
    assert second.dtypes == shared
    assert cache.lookup([]) == {}
