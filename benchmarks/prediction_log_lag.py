"""What the prediction log costs a gateway's event loop: how late a 1 ms timer fires while the
loop records 4 one-row requests a tick (~3,400 a second, a busy gateway worker's rate), with the
writer storing in its own thread (``in_process=True``, the gateway before 8h), from a child
process (``in_process=False``, the gateway now), and with nothing logged (the floor).
``BENCH_LAG_ROWS`` (default 1) sets the rows a request and ``BENCH_LAG_PER_TICK`` (default 4)
the requests a tick: ``BENCH_LAG_ROWS=100 BENCH_LAG_PER_TICK=2`` logs ~170,000 rows a second,
what one client sending 100-row requests gives a gateway.

Every configuration runs in a fresh interpreter of its own, interleaved, ``BENCH_LAG_REPS``
times (default 3) for ``BENCH_LAG_SECONDS`` (default 8) each, on SQLite and a local artifact
store. Printed: medians over the repetitions of the timer's p50, p99, p99.9 and worst lateness,
the share of ticks late by over 1 ms (what a request arriving then waits on top of its own
work), and the writer thread's CPU per hand-over (the interpreter the log takes from requests).
Serving figures with wrk are in ``benchmarks.serving``.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import textwrap

from benchmarks import workdir

REPS = int(os.environ.get("BENCH_LAG_REPS", "3"))
SECONDS = float(os.environ.get("BENCH_LAG_SECONDS", "8"))
ROWS = int(os.environ.get("BENCH_LAG_ROWS", "1"))
PER_TICK = int(os.environ.get("BENCH_LAG_PER_TICK", "4"))
MODES = ("none", "in-process", "child process")

RUN = textwrap.dedent(
    """
    import asyncio, json, sys, time
    import numpy as np, pandas as pd
    from evergreen.bootstrap import build
    from evergreen.serving.prediction_log import PredictionLogWriter, Served
    from evergreen.settings import Settings

    mode, home, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    rows, per_tick = int(sys.argv[4]), int(sys.argv[5])
    ctx = build(Settings(home=home))
    writer = PredictionLogWriter(ctx.artifacts, ctx.predictions, in_process=mode != "child process")
    hand_overs = []
    hand_over = writer._hand_over

    def timed():  # the writer thread's CPU for each hand-over (a flush, in process)
        started = time.thread_time()
        hand_over()
        hand_overs.append(time.thread_time() - started)

    writer._hand_over = timed
    columns = [f"f{i}" for i in range(30)]
    rng = np.random.default_rng(0)
    served = Served("bench", "a", "primary", 0.3)

    async def main():
        lateness, sent = [], 0
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            started = time.perf_counter()
            await asyncio.sleep(0.001)
            lateness.append(time.perf_counter() - started - 0.001)
            for _ in range(per_tick):
                sent += 1
                if mode != "none":
                    frame = pd.DataFrame(rng.random((rows, 30)), columns=columns)
                    writer.record("m", 1, f"req-{sent}", frame, np.full(rows, 0.5), served)
        return np.array(lateness), sent

    lateness, sent = asyncio.run(main())
    writer.close()
    stored = sum(s.rows for s in ctx.predictions.segments("m"))
    assert mode == "none" or stored == sent * rows, (stored, sent, rows)
    q = np.quantile(lateness, [0.5, 0.99, 0.999]) * 1e3
    busy = sorted(hand_overs)[1:-1] or [0.0]  # the first and the closing one left out
    print(json.dumps({
        "p50": q[0], "p99": q[1], "p999": q[2], "max": lateness.max() * 1e3,
        "over_1ms": float(np.mean(lateness > 0.001) * 100), "requests": sent,
        "hand_over_ms": float(np.median(busy) * 1e3) if mode != "none" else 0.0,
    }))
    """
)


def run(mode: str, home: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", RUN, mode, home, str(SECONDS), str(ROWS), str(PER_TICK)],
        capture_output=True,
        text=True,
        check=True,
        timeout=SECONDS * 10 + 60,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    print(
        f"event loop lateness, {REPS} x {SECONDS:g} s per configuration, interleaved; "
        f"{PER_TICK} requests of {ROWS} rows a tick"
    )
    results: dict[str, list[dict[str, float]]] = {mode: [] for mode in MODES}
    with workdir("loglag") as tmp:
        for rep in range(REPS):
            for mode in MODES:
                results[mode].append(run(mode, f"{tmp}/{rep}-{mode.replace(' ', '-')}"))
    keys = ("p50", "p99", "p999", "max", "over_1ms", "hand_over_ms")
    print(
        "| writer | timer late p50 ms | p99 | p99.9 | max | ticks late > 1 ms, % "
        "| writer CPU a hand-over, ms | requests a second |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for mode in MODES:
        medians = [statistics.median(r[k] for r in results[mode]) for k in keys]
        rate = statistics.median(r["requests"] for r in results[mode]) / SECONDS
        cells = " | ".join(
            f"{v:.3f}" if k != "over_1ms" else f"{v:.2f}"
            for k, v in zip(keys, medians, strict=True)
        )
        print(f"| {mode} | {cells} | {rate:,.0f} |", flush=True)
    for mode in MODES:
        runs = ", ".join(f"{r['p999']:.2f}" for r in results[mode])
        print(f"  {mode}: p99.9 per run [{runs}]")


if __name__ == "__main__":
    main()
