"""Parallel trials (issue 4, "Speed"): one hyper-parameter search run sequentially (``inline``)
and on a local process pool of 2 workers; the target is close to 2x on 2 cores.

The search: 8 trials of one candidate, a scikit-learn ``RandomForestRegressor`` (50 trees,
``n_jobs=1``) searching ``max_features`` and ``min_samples_leaf``, on a synthetic table of 4,000
fit rows x 30 numeric features (1,000 validation rows); pruning off and one budget (1.0), so
every trial is one fit and one scoring, about 1-2 s on one core. Both runs use one thread per
trial: the process pool's workers limit their numerical libraries to one thread, and the inline
run does the same in the calling process (threadpoolctl), so the inline run cannot use the
second core either.

Each repetition runs each mode in its own child process (the order alternates), so the process
pool's start-up is measured cold: the forkserver's imports (numpy, pandas, scikit-learn,
Optuna, the search module) and forking the two workers. The report gives the search alone
(executor already up: the speed-up the pool gives to trials) and the search plus start-up (what
a run that starts its own pool waits for).

The machine is shared: before each repetition, the benchmark measures how much parallelism the
machine gives right now (two pure-Python loops of ~0.5 s, one after the other and then in two
processes side by side: the ratio is the best any pool could do at that moment, 2.0 on an idle
2-core machine) and prints it next to the speed-up. With ``BENCH_TRIALS_QUIET`` (e.g. 1.8) it
waits before each repetition (up to ``BENCH_TRIALS_WAIT`` seconds, 600) until the machine gives at
least that much, and measures the ceiling again after the repetition.

Run with ``python -m benchmarks trials``; ``BENCH_TRIALS_N`` (8) trials, ``BENCH_TRIALS_REPS``
(3) repetitions.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

from benchmarks import median_of, verdict

N = int(os.environ.get("BENCH_TRIALS_N", "8"))
REPS = int(os.environ.get("BENCH_TRIALS_REPS", "3"))
WORKERS = 2
TARGET = 1.8  # "close to 2x"
QUIET = float(os.environ.get("BENCH_TRIALS_QUIET", "0"))
WAIT = float(os.environ.get("BENCH_TRIALS_WAIT", "600"))


def child(mode: str) -> dict[str, Any]:
    """One search in this process: ``inline`` or ``process``; returns its timings."""
    import numpy as np
    import pandas as pd
    from sklearn.ensemble import RandomForestRegressor
    from threadpoolctl import threadpool_limits

    from evergreen.training.candidates import Candidate, Float, Int, SearchSpec
    from evergreen.training.executors import make_executor
    from evergreen.training.metrics import get_metric
    from evergreen.training.search import run_search

    rng = np.random.default_rng(0)
    x = rng.normal(size=(5000, 30))
    y = x[:, :5] @ rng.normal(size=5) + np.sin(3 * x[:, 5]) + rng.normal(scale=0.3, size=5000)
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(30)]).assign(y=y)
    features = [f"f{i}" for i in range(30)]
    fit, validation = frame.iloc[:4000], frame.iloc[4000:]
    forest = Candidate(
        "forest",
        lambda **p: RandomForestRegressor(n_estimators=50, n_jobs=1, random_state=0, **p),
        space={"max_features": Float(0.3, 0.5), "min_samples_leaf": Int(1, 8)},
    )
    spec = SearchSpec(trials=N, pruning=False, budgets=(1.0,), seed=0)
    started = time.perf_counter()
    executor = make_executor(mode, WORKERS if mode != "inline" else None)
    up = time.perf_counter()
    with executor, threadpool_limits(1):
        result = run_search(
            [forest], fit, validation, features, "y", get_metric("rmse"), spec, executor
        )
    done = time.perf_counter()
    return {
        "start": up - started,
        "search": done - up,
        "trial_seconds": sum(t.seconds for t in result.trials),
        "complete": result.counts()["complete"],
        "best": result.best.value,
    }


def _burn(n: int) -> int:
    total = 0
    for i in range(n):
        total += i * i
    return total


def ceiling() -> float:
    """The speed-up two CPU-bound processes get on this machine now (2.0 when idle)."""
    import multiprocessing

    n = 4_000_000
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        pool.map(_burn, [1, 1])  # workers up
        started = time.perf_counter()
        pool.apply(_burn, (n,))
        pool.apply(_burn, (n,))
        one_by_one = time.perf_counter() - started
        started = time.perf_counter()
        pool.map(_burn, [n, n], chunksize=1)
        side_by_side = time.perf_counter() - started
    return one_by_one / side_by_side


def wait_for_quiet() -> float:
    """The ceiling, once it reaches ``QUIET`` (or after ``WAIT`` seconds)."""
    deadline = time.monotonic() + WAIT
    while True:
        now = ceiling()
        if now >= QUIET or time.monotonic() > deadline:
            return now
        time.sleep(5)


def run_child(mode: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.parallel_trials", mode],
        check=True,
        capture_output=True,
        text=True,
    )
    timings: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return timings


def main() -> None:
    print(
        f"  {N} trials of a random forest (50 trees, 1 thread) on 4,000 x 30; "
        f"inline vs a process pool of {WORKERS}; {REPS} repetitions",
        flush=True,
    )
    runs: dict[str, list[dict[str, Any]]] = {"inline": [], "process": []}
    ceilings: list[float] = []
    for rep in range(REPS):
        ceilings.append(wait_for_quiet())
        print(f"  rep {rep + 1} machine's parallel ceiling now {ceilings[-1]:.2f}x", flush=True)
        for mode in ("inline", "process") if rep % 2 == 0 else ("process", "inline"):
            runs[mode].append(run_child(mode))
            last = runs[mode][-1]
            print(
                f"  rep {rep + 1} {mode:<8} start {last['start']:6.2f} s  search "
                f"{last['search']:6.2f} s  (trials' own time {last['trial_seconds']:6.2f} s, "
                f"{last['complete']} complete, best rmse {last['best']:.4f})",
                flush=True,
            )
        print(f"  rep {rep + 1} machine's parallel ceiling after {ceiling():.2f}x", flush=True)
    inline = median_of([r["search"] for r in runs["inline"]])
    search = median_of([r["search"] for r in runs["process"]])
    start = median_of([r["start"] for r in runs["process"]])
    whole = median_of([r["start"] + r["search"] for r in runs["process"]])
    speedup = inline / search
    print(f"  inline search            median {inline:6.2f} s", flush=True)
    print(f"  process pool, search     median {search:6.2f} s  -> {speedup:.2f}x", flush=True)
    print(f"  process pool, start-up   median {start:6.2f} s (cold forkserver)", flush=True)
    print(
        f"  process pool, start+search median {whole:6.2f} s  -> {inline / whole:.2f}x",
        flush=True,
    )
    print(f"  machine's parallel ceiling median {median_of(ceilings):.2f}x (2.0 when idle)")
    print(f"  target >= {TARGET}x (close to 2x) on the search: {verdict(speedup >= TARGET)}")


if __name__ == "__main__":
    print(json.dumps(child(sys.argv[1])))
