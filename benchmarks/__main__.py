"""``python -m benchmarks [snapshot|resnapshot|drift|stats|registry|trials|serving|loglag ...]``:
all, or those named. Options after one name go to that benchmark: ``python -m benchmarks serving
--duration 5``."""

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
    "serving": "benchmarks.serving",
    "monitoring": "benchmarks.monitoring",
    "landing": "benchmarks.landing_to_serving",
    "backtest": "benchmarks.backtest",
    "loglag": "benchmarks.prediction_log_lag",
}
TAKES_OPTIONS = {"serving"}


def main(argv: list[str]) -> int:
    split = next((i for i, arg in enumerate(argv) if arg.startswith("-")), len(argv))
    names, options = argv[:split] or list(BENCHMARKS), argv[split:]
    if options and (len(names) != 1 or names[0] not in TAKES_OPTIONS):
        print(f"options {options} need exactly one of {sorted(TAKES_OPTIONS)}", file=sys.stderr)
        return 2
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; choose from {sorted(BENCHMARKS)}", file=sys.stderr)
        return 2
    for name in names:
        print(f"== {name}", flush=True)
        module = importlib.import_module(BENCHMARKS[name])
        if options:
            module.main(options)
        else:
            module.main()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
