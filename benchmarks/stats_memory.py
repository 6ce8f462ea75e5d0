"""Statistics of a Parquet file larger than the memory the process may use.

``compute_statistics_parquet`` runs in a child process whose address space is capped
(``RLIMIT_AS``) at what it has mapped after its imports plus ``HEADROOM``, which is smaller
than the file's decoded size, as in ``tests/validation/test_statistics_merge.py``. Arrow's
allocator is set to the system one and BLAS to one thread so that neither reserves address
space up front.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks import workdir

ROWS, COLUMNS, ROW_GROUP = 32_000_000, 4, 500_000
DECODED = ROWS * COLUMNS * 8  # 1.02 GB of float64: more than the whole address-space cap
HEADROOM = 200 * 2**20

CHILD = textwrap.dedent(
    """
    import resource, sys, time
    import numpy, pandas, pyarrow, pyarrow.parquet, scipy
    from evergreen.validation.chunked import compute_statistics_parquet

    def vm_size():
        for line in open("/proc/self/status"):
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
        raise SystemExit("no VmSize")

    limit = vm_size() + int(sys.argv[2])
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    started = time.perf_counter()
    stats = compute_statistics_parquet(sys.argv[1], batch_rows=250_000)
    elapsed = time.perf_counter() - started
    status = open("/proc/self/status").read().split("VmHWM:")[1]
    peak = int(status.split()[0]) * 1024
    print(stats.rows, stats.columns["c0"].count, limit, elapsed, peak)
    """
)


def write_parquet(path: Path) -> None:
    rng = np.random.default_rng(5)
    schema = pa.schema([(f"c{i}", pa.float64()) for i in range(COLUMNS)])
    with pq.ParquetWriter(path, schema, compression="NONE") as writer:
        for _ in range(ROWS // ROW_GROUP):
            columns = [pa.array(rng.normal(size=ROW_GROUP)) for _ in range(COLUMNS)]
            writer.write_table(pa.Table.from_arrays(columns, schema=schema))


def main() -> None:
    if not Path("/proc/self/status").exists():
        print("  skipped: needs /proc (Linux)")
        return
    with workdir("stats") as tmp:
        path = Path(tmp) / "big.parquet"
        write_parquet(path)
        env = dict(os.environ)
        env.update(
            OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", ARROW_DEFAULT_MEMORY_POOL="system"
        )
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-c", CHILD, str(path), str(HEADROOM)],
            capture_output=True,
            text=True,
            check=False,
            env=env,
        )
        wall = time.perf_counter() - started
        print(
            f"  file: {ROWS:,} rows x {COLUMNS} float64 columns, "
            f"{path.stat().st_size / 2**20:.0f} MiB on disk, {DECODED / 2**20:.0f} MiB decoded"
        )
        if result.returncode != 0:
            print(f"  FAILED (exit {result.returncode}): {result.stderr[-800:]}")
            return
        rows, count, limit, elapsed, peak = result.stdout.split()
        print(
            f"  RLIMIT_AS {int(limit) / 2**20:.0f} MiB = imports + "
            f"{HEADROOM / 2**20:.0f} MiB headroom; "
            f"decoded file larger than the whole cap: {int(limit) < DECODED}"
        )
        print(
            f"  completed: {rows} rows, c0 count {count}; "
            f"statistics {float(elapsed):.2f} s (child wall {wall:.2f} s)"
        )
        print(f"  child peak RSS {int(peak) / 2**20:.0f} MiB (imports included)")


if __name__ == "__main__":
    main()
