"""Statistics of a Parquet file in a child process whose memory is capped below the data's.

Shared by ``benchmarks/stats_memory.py`` and ``tests/validation/test_statistics_merge.py``.
The child caps its address space (``RLIMIT_AS``) at what it has mapped after its imports plus
``headroom``; Arrow's allocator is the system one and BLAS runs one thread, so that neither
reserves address space up front.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROW_GROUP = 500_000
CHILD = textwrap.dedent(
    """
    import resource, sys, time
    import numpy, pandas, pyarrow, pyarrow.parquet, scipy
    from evergreen.validation.chunked import compute_statistics_parquet

    def status(key):
        for line in open("/proc/self/status"):
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
        raise SystemExit("no " + key)

    limit = status("VmSize") + int(sys.argv[2])
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    started = time.perf_counter()
    stats = compute_statistics_parquet(sys.argv[1], batch_rows=250_000)
    elapsed = time.perf_counter() - started
    print(stats.rows, stats.columns["c0"].count, limit, elapsed, status("VmHWM"))
    """
)
ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "ARROW_DEFAULT_MEMORY_POOL": "system"}


@dataclass(frozen=True)
class Capped:
    returncode: int
    stderr: str
    rows: int = 0
    count: int = 0  # non-null values counted in column c0
    limit: int = 0  # the address-space cap, bytes
    seconds: float = 0.0
    peak: int = 0  # the child's peak RSS, bytes


def write_parquet(path: Path, rows: int, columns: int) -> None:
    """``rows`` x ``columns`` normal float64 values, uncompressed, in row groups."""
    rng = np.random.default_rng(5)
    schema = pa.schema([(f"c{i}", pa.float64()) for i in range(columns)])
    with pq.ParquetWriter(path, schema, compression="NONE") as writer:
        for _ in range(rows // ROW_GROUP):
            arrays = [pa.array(rng.normal(size=ROW_GROUP)) for _ in range(columns)]
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))


def run_capped(path: Path, headroom: int, timeout: float = 600) -> Capped:
    """Statistics of ``path`` in a child allowed ``headroom`` bytes beyond its imports."""
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), str(headroom)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=ENV,
    )
    if result.returncode != 0:
        return Capped(result.returncode, result.stderr)
    rows, count, limit, seconds, peak = result.stdout.split()
    return Capped(0, result.stderr, int(rows), int(count), int(limit), float(seconds), int(peak))
