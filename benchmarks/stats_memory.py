"""Statistics of a Parquet file larger than the memory the process may use.

``compute_statistics_parquet`` runs in a child process whose address space is capped
(``RLIMIT_AS``) at what it has mapped after its imports plus ``HEADROOM``, which is smaller
than the file's decoded size (``benchmarks/capped_stats.py``, which the test in
``tests/validation/test_statistics_merge.py`` shares).
"""

from __future__ import annotations

import time
from pathlib import Path

from benchmarks import workdir
from benchmarks.capped_stats import run_capped, write_parquet

ROWS, COLUMNS = 32_000_000, 4
DECODED = ROWS * COLUMNS * 8  # 1.02 GB of float64: more than the whole address-space cap
HEADROOM = 200 * 2**20


def main() -> None:
    if not Path("/proc/self/status").exists():
        print("  skipped: needs /proc (Linux)")
        return
    with workdir("stats") as tmp:
        path = Path(tmp) / "big.parquet"
        write_parquet(path, ROWS, COLUMNS)
        started = time.perf_counter()
        result = run_capped(path, HEADROOM)
        wall = time.perf_counter() - started
        print(
            f"  file: {ROWS:,} rows x {COLUMNS} float64 columns, "
            f"{path.stat().st_size / 2**20:.0f} MiB on disk, {DECODED / 2**20:.0f} MiB decoded"
        )
        if result.returncode != 0:
            print(f"  FAILED (exit {result.returncode}): {result.stderr[-800:]}")
            return
        print(
            f"  RLIMIT_AS {result.limit / 2**20:.0f} MiB = imports + "
            f"{HEADROOM / 2**20:.0f} MiB headroom; "
            f"decoded file larger than the whole cap: {result.limit < DECODED}"
        )
        print(
            f"  completed: {result.rows} rows, c0 count {result.count}; "
            f"statistics {result.seconds:.2f} s (child wall {wall:.2f} s)"
        )
        print(f"  child peak RSS {result.peak / 2**20:.0f} MiB (imports included)")


if __name__ == "__main__":
    main()
