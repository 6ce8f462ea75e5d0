"""Drift of 500k vs 500k rows x 20 mixed columns: evergreen vs Evidently vs plain scipy.

Columns: 12 numeric (4 shifted), 6 categorical with 5-50 string categories (2 re-weighted),
2 binary string columns (1 re-weighted). Every contender runs the same tests: normed
Wasserstein (distance / reference std, drifted at >= 0.1) for numeric columns and
Jensen-Shannon on value shares (>= 0.1) for categorical and binary ones, which is Evidently's
default rule for samples over 1,000 rows; Evidently gets the column types declared through a
``DataDefinition``. Each contender runs in its own child process, which loads the two frames
from Parquet, runs ``REPS`` times and reports its times and its own peak RSS (``VmHWM``,
as measured, nothing subtracted). A ``load only`` child shows what the imports and the data
alone cost. Each runner also returns its per-column statistics, so the report shows how far
evergreen's and Evidently's distances are from the plain scipy ones (they should agree to
rounding: same tests, different code).
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks import median_of, peak_rss_mib, show, verdict, workdir

ROWS = int(os.environ.get("BENCH_DRIFT_ROWS", "500000"))
REPS = int(os.environ.get("BENCH_DRIFT_REPS", "3"))
NUMERIC, CATEGORICAL, BINARY = 12, 6, 2
CONTENDERS = ("load only", "evergreen", "evidently", "scipy")


def make_frames(rows: int = ROWS) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(11)
    ref, cur = {}, {}
    for k in range(NUMERIC):
        shift = 0.5 if k < 4 else 0.0
        ref[f"num{k}"] = rng.normal(k, 1 + k / 10, rows)
        cur[f"num{k}"] = rng.normal(k + shift * (1 + k / 10), 1 + k / 10, rows)
    for k in range(CATEGORICAL):
        n = (5, 10, 20, 30, 40, 50)[k]
        values = np.array([f"c{k}_{v}" for v in range(n)])
        p = rng.dirichlet(np.ones(n))
        q = rng.dirichlet(np.ones(n)) if k < 2 else p
        ref[f"cat{k}"] = rng.choice(values, rows, p=p)
        cur[f"cat{k}"] = rng.choice(values, rows, p=q)
    for k in range(BINARY):
        ref[f"bin{k}"] = rng.choice(np.array(["no", "yes"]), rows, p=[0.7, 0.3])
        cur[f"bin{k}"] = rng.choice(
            np.array(["no", "yes"]), rows, p=[0.3, 0.7] if k == 0 else [0.7, 0.3]
        )
    return pd.DataFrame(ref), pd.DataFrame(cur)


def _numeric(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c.startswith("num")]


def _categorical(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if not c.startswith("num")]


Outcome = tuple[list[str], dict[str, float]]
"""The drifted columns (sorted) and each column's statistic."""


def run_evergreen(ref: pd.DataFrame, cur: pd.DataFrame) -> Outcome:
    from evergreen.validation import detect_drift

    report = detect_drift(ref, cur)
    statistics = {c.column: float(c.statistic) for c in report.columns if c.statistic is not None}
    return sorted(c.column for c in report.columns if c.drifted), statistics


def run_evidently(ref: pd.DataFrame, cur: pd.DataFrame) -> Outcome:
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(
        numerical_columns=_numeric(ref), categorical_columns=_categorical(ref)
    )
    reference = Dataset.from_pandas(ref, data_definition=definition)
    current = Dataset.from_pandas(cur, data_definition=definition)
    snapshot = Report([DataDriftPreset()]).run(current_data=current, reference_data=reference)
    drifted, statistics = [], {}
    for metric in snapshot.dict()["metrics"]:
        config = metric.get("config", {})
        column = config.get("column")
        threshold = config.get("threshold")
        value = metric["value"]
        measured = column is not None and threshold is not None and isinstance(value, float)
        if measured:
            statistics[column] = value
        if measured and value >= threshold:
            drifted.append(column)
    return sorted(drifted), statistics


def run_scipy(ref: pd.DataFrame, cur: pd.DataFrame) -> Outcome:
    from scipy.spatial.distance import jensenshannon
    from scipy.stats import wasserstein_distance

    statistics = {}
    for column in _numeric(ref):
        r, c = ref[column].dropna().to_numpy(), cur[column].dropna().to_numpy()
        statistics[column] = float(wasserstein_distance(r, c) / np.std(r))
    for column in _categorical(ref):
        r = ref[column].value_counts(normalize=True)
        c = cur[column].value_counts(normalize=True)
        keys = r.index.union(c.index)
        p, q = r.reindex(keys, fill_value=0.0), c.reindex(keys, fill_value=0.0)
        statistics[column] = float(jensenshannon(p.to_numpy(), q.to_numpy()))
    return sorted(column for column, value in statistics.items() if value >= 0.1), statistics


RUNNERS = {"evergreen": run_evergreen, "evidently": run_evidently, "scipy": run_scipy}
IMPORTS = {
    "evergreen": ["evergreen.validation"],
    "evidently": ["evidently", "evidently.presets"],
    "scipy": ["scipy.stats", "scipy.spatial.distance"],
}


def child(name: str, folder: str, reps: int) -> None:
    import pyarrow.parquet as pq

    # self_destruct frees each Arrow column once converted, so loading peaks lower
    ref = pq.read_table(Path(folder) / "ref.parquet").to_pandas(self_destruct=True)
    cur = pq.read_table(Path(folder) / "cur.parquet").to_pandas(self_destruct=True)
    times: list[float] = []
    drifted: list[str] = []
    statistics: dict[str, float] = {}
    if name != "load only":
        for module in IMPORTS[name]:  # imported before the clock starts
            importlib.import_module(module)
        runner = RUNNERS[name]
        for _ in range(reps):
            started = time.perf_counter()
            drifted, statistics = runner(ref, cur)
            times.append(time.perf_counter() - started)
    peak = peak_rss_mib()
    print(json.dumps({"times": times, "peak_mib": peak, "drifted": drifted, "stats": statistics}))


def largest_gap(ours: dict[str, float], plain: dict[str, float]) -> str:
    """The largest relative difference between two contenders' statistics, and where."""
    if set(ours) != set(plain):
        return f"different columns: {sorted(set(ours) ^ set(plain))}"
    gaps = {c: abs(ours[c] - plain[c]) / max(abs(plain[c]), 1e-300) for c in plain}
    column = max(gaps, key=gaps.__getitem__)
    return f"{gaps[column]:.1e} ({column})"


def main() -> None:
    with workdir("drift") as tmp:
        ref, cur = make_frames()
        ref.to_parquet(Path(tmp) / "ref.parquet")
        cur.to_parquet(Path(tmp) / "cur.parquet")
        del ref, cur
        started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        print(
            f"  {ROWS:,} vs {ROWS:,} rows x {NUMERIC + CATEGORICAL + BINARY} columns; "
            f"reps {REPS}; {os.cpu_count()} CPUs; started {started}"
        )
        results = {}
        for name in CONTENDERS:
            out = subprocess.run(
                [sys.executable, "-m", "benchmarks.drift", "--child", name, tmp, str(REPS)],
                capture_output=True,
                text=True,
                check=True,
            )
            results[name] = json.loads(out.stdout.strip().splitlines()[-1])
        for name in CONTENDERS:
            r = results[name]
            if r["times"]:
                show(name, r["times"])
            label = "" if r["times"] else name
            print(f"  {label:<28} peak RSS {r['peak_mib']:8.0f} MiB   drifted {r['drifted']}")
        ours = median_of(results["evergreen"]["times"])
        evidently = median_of(results["evidently"]["times"])
        plain = median_of(results["scipy"]["times"])
        speedup = evidently / ours
        lower = results["evergreen"]["peak_mib"] < results["evidently"]["peak_mib"]
        print(f"  evidently / evergreen = {speedup:.2f}x (target >= 10x: {verdict(speedup >= 10)})")
        print(f"  peak RSS lower than Evidently's: {verdict(lower)}")
        print(f"  evergreen / scipy = {ours / plain:.2f}x (target <= 1x: {verdict(ours <= plain)})")
        same = (
            results["evergreen"]["drifted"]
            == results["evidently"]["drifted"]
            == results["scipy"]["drifted"]
        )
        print(f"  same drifted columns in all three: {same}")
        for name in ("evergreen", "evidently"):
            gap = largest_gap(results[name]["stats"], results["scipy"]["stats"])
            print(f"  largest relative gap of {name}'s statistics from scipy's: {gap}")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        main()
