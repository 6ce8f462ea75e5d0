"""Side-by-side benchmarks for issues 3 ("Speed and memory") and 4 (registry); see ``RESULTS.md``.

Run all with ``python -m benchmarks`` or one with ``python -m benchmarks snapshot``. Generated
data lives in a temporary directory (``BENCH_TMP`` to choose its parent), never in the repo.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


def workdir(name: str) -> tempfile.TemporaryDirectory[str]:
    """A fresh temporary directory for one benchmark's data."""
    return tempfile.TemporaryDirectory(
        prefix=f"evergreen-bench-{name}-", dir=os.environ.get("BENCH_TMP")
    )


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def median_of(times: list[float]) -> float:
    return statistics.median(times)


def show(label: str, times: list[float]) -> None:
    runs = ", ".join(f"{t:.3f}" for t in times)
    print(f"  {label:<28} median {median_of(times):8.3f} s   runs [{runs}]", flush=True)


def size_of(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def peak_rss_mib() -> float:
    """This process's peak resident set (``VmHWM``), in MiB.

    Not ``ru_maxrss``: Linux carries that across ``fork``/``exec``, so a child would report its
    parent's peak whenever the parent's was higher.
    """
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")
