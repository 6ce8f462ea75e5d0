"""``python -m benchmarks [snapshot|resnapshot|drift|stats|registry|trials ...]``: all, or those
named."""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = {
    "snapshot": "benchmarks.snapshot",
    "resnapshot": "benchmarks.resnapshot",
    "drift": "benchmarks.drift",
    "stats": "benchmarks.stats_memory",
    "registry": "benchmarks.registry",
    "rerun": "benchmarks.cached_rerun",
    "trials": "benchmarks.parallel_trials",
}


def main(argv: list[str]) -> int:
    names = argv or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; choose from {sorted(BENCHMARKS)}", file=sys.stderr)
        return 2
    for name in names:
        print(f"== {name}", flush=True)
        importlib.import_module(BENCHMARKS[name]).main()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
