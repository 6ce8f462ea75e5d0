"""The retraining backtester (issue 6): the literature's shape on drifting data, and its speed.

1. Shape: on river's SEA and Agrawal streams with abrupt concept changes at known points and on
   a rotating Hyperplane, and on the real bike-sharing data (weekly batches, demand that grows
   and follows the seasons), every policy is replayed side by side; triggered retraining should
   beat never retraining with far fewer retrains than retraining every batch.
2. Speed: 50,000 rows of SEA in 50 batches with four policies (never, every:1, drift,
   performance) on the defaults, ``REPS`` times (the issue's target: under 2 minutes).

``BENCH_BACKTEST_REPS`` (default 3) sets the repetitions of the timed case;
``BENCH_BACKTEST_SKIP`` (comma-separated: shape, bike, speed) leaves parts out.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pandas as pd

from benchmarks import median_of, show, verdict, workdir
from evergreen.backtest.policies import parse_policies
from evergreen.backtest.replay import Options
from evergreen.backtest.runner import BacktestResult, run_backtest
from evergreen.backtest.stream import make_stream
from evergreen.backtest.synthetic import synthetic_stream

REPS = int(os.environ.get("BENCH_BACKTEST_REPS", "3"))
SKIP = set(filter(None, os.environ.get("BENCH_BACKTEST_SKIP", "").split(",")))
BIKE = Path(__file__).resolve().parent.parent / "examples/data/bike_sharing_hour.csv"
ALL = "never,every:1,drift,performance,drift+performance"
TARGET_SECONDS = 120.0


def _print(title: str, result: BacktestResult) -> None:
    direction = "higher" if result.greater_is_better else "lower"
    print(f"  {title} ({result.metric}, {direction} is better; {result.seconds:.1f} s)")
    for name, policy in result.policies.items():
        print(
            f"    {name:<18} mean {policy.mean_metric:8.4g}  retrains {policy.retrains:3d}  "
            f"promoted {len(policy.promoted_batches):3d}  {policy.seconds:6.1f} s",
            flush=True,
        )


def _shape(title: str, frame: pd.DataFrame, options: Options, **cut: object) -> BacktestResult:
    stream = make_stream(frame, **cut)  # type: ignore[arg-type]
    result = run_backtest(stream, parse_policies(ALL), options)
    _print(title, result)
    never = result.policies["never"]
    triggered = [result.policies[p] for p in ("drift", "performance", "drift+performance")]
    best = max(triggered, key=lambda r: r.mean_metric * (1 if result.greater_is_better else -1))
    beats = best.mean_metric != never.mean_metric and (
        (best.mean_metric > never.mean_metric) == result.greater_is_better
    )
    fewer = best.retrains <= result.policies["every:1"].retrains / 3
    print(
        f"    best triggered policy {best.policy}: beats never: {verdict(beats)}; "
        f"at most a third of every:1's retrains: {verdict(fewer)}"
    )
    return result


def shapes() -> None:
    synthetic = {
        "SEA, 12,000 rows, concept 7 -> 9.5 -> 7 at rows 4,000 and 8,000": synthetic_stream(
            "sea", 12_000, drift_at=[4_000, 8_000], concepts=(2, 3, 2)
        ),
        "Agrawal, 12,000 rows, function 0 -> 2 -> 4 at rows 4,000 and 8,000": synthetic_stream(
            "agrawal", 12_000, drift_at=[4_000, 8_000], concepts=(0, 2, 4)
        ),
        "Hyperplane, 12,000 rows, a new hyperplane at rows 4,000 and 8,000": synthetic_stream(
            "hyperplane", 12_000, drift_at=[4_000, 8_000], concepts=(0, 1, 2)
        ),
        "Hyperplane, 12,000 rows, rotating (mag_change 0.001)": synthetic_stream(
            "hyperplane", 12_000
        ),
    }
    for title, frame in synthetic.items():
        _shape(title, frame, Options(), target="y", batch_size=500)


def bike() -> None:
    frame = pd.read_csv(BIKE)
    _shape(
        "bike sharing, hourly, weekly batches (cnt; casual/registered/instant dropped)",
        frame,
        Options(),
        target="cnt",
        time_column="dteday",
        batch_period="7d",
        drop=("instant", "casual", "registered"),
    )


def speed() -> None:
    frame = synthetic_stream("sea", 50_000, drift_at=[16_667, 33_333], concepts=(2, 3, 2))
    policies = parse_policies("never,every:1,drift,performance")
    print(f"  50,000 rows, 50 batches of 1,000, policies {[p.name for p in policies]}")
    times, results = [], []
    with workdir("backtest") as folder:
        path = Path(folder) / "sea.parquet"
        frame.to_parquet(path, index=False)
        for _ in range(REPS):
            started = time.perf_counter()
            stream = make_stream(pd.read_parquet(path), target="y", batch_size=1_000)
            results.append(run_backtest(stream, policies, Options()))
            times.append(time.perf_counter() - started)
    show("backtest 50k/50/4", times)
    _print("last repetition", results[-1])
    print(f"  target < {TARGET_SECONDS:.0f} s: {verdict(median_of(times) < TARGET_SECONDS)}")


def main() -> None:
    if "shape" not in SKIP:
        shapes()
    if "bike" not in SKIP:
        bike()
    if "speed" not in SKIP:
        speed()


if __name__ == "__main__":
    main()
