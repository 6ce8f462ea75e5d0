"""A monitor pass over 1,000,000 logged predictions x 20 features, against Evidently.

Setup (not timed): a regression project on 20 numeric features is trained by the real pipeline
(linear regression on 20,000 rows, so the version has its reference sample, features schema
and drift policy), then 1,000,000 requests of one row each are written as real prediction-log
segments of 10,000 rows (the writer's default ``max_rows``), in the gateway's format, 5 of the
features shifted; every request gets a label in the feedback table. Then, ``REPS`` times:

- evergreen: ``Monitor.check(project)`` with a window of all 1,000,000 rows: it reads the
  segments, joins the labels, tests input drift on the 20 features, prediction drift, checks the
  batch against the features schema, computes MAE/RMSE/R2, feeds Page-Hinkley and ADWIN the
  errors whose labels arrived since the last pass (all 1,000,000 in the first pass: each rep
  starts from an empty results table so every rep does the full work), and stores the series.
  A fresh ``Monitor`` each rep, so the model load for the reference predictions is timed too.
- Evidently: ``Report([DataDriftPreset(), RegressionPreset()])`` on the same window (inputs,
  label and prediction, as a pandas frame already in memory: reading the log is not timed for
  it) against a sample of the training rows as large as the version's reference sample,
  with the model's predictions (its regression metrics need the target on both sides).

The two alternate, rep by rep, so that both see the same load on a shared machine.
"""

from __future__ import annotations

import io
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa

from benchmarks import median_of, show, verdict, workdir

ROWS = int(os.environ.get("BENCH_MONITOR_ROWS", "1000000"))
FEATURES = 20
SEGMENT = 10_000
REPS = int(os.environ.get("BENCH_MONITOR_REPS", "3"))
TARGET_S = 5.0

PROJECT = """
import evergreen as eg
from sklearn.linear_model import LinearRegression

project = eg.Project(
    name="bench-monitor",
    source="landing",
    target="y",
    task="regression",
    model=LinearRegression,
    metric="rmse",
    monitors=eg.MonitorSpec(window_rows={rows}),
)
"""


def make_training(rng: np.random.Generator, rows: int) -> pd.DataFrame:
    frame = pd.DataFrame({f"f{k}": rng.normal(k, 1.0, rows) for k in range(FEATURES)})
    frame["y"] = frame.to_numpy() @ np.linspace(0.5, 2.0, FEATURES) + rng.normal(0, 1.0, rows)
    return frame


def setup(root: Path) -> tuple[object, object, pd.DataFrame, pd.DataFrame]:
    from evergreen import bootstrap
    from evergreen.pipeline.project import load_project
    from evergreen.settings import Settings
    from evergreen.store.tables import FeedbackRow, PredictionSegmentRow

    rng = np.random.default_rng(7)
    (root / "landing").mkdir()
    make_training(rng, 20_000).to_csv(root / "landing" / "train.csv", index=False)
    (root / "project.py").write_text(PROJECT.format(rows=ROWS))
    project = load_project(root / "project.py")
    ctx = bootstrap.build(Settings(home=root / "eg"))
    result = bootstrap.pipeline_runner(ctx).run(project)
    assert result.promoted and result.model_version, result.error
    version = result.model_version
    model = ctx.registry.load(project.name, version)

    live = make_training(rng, ROWS)
    for k in range(5):  # five features drift
        live[f"f{k}"] += 0.5
    inputs = live.drop(columns=["y"])
    predicted = model.predict(inputs)
    start = datetime.now(UTC) - timedelta(hours=2)
    ts = pd.date_range(start, periods=ROWS, freq="5ms", tz="UTC").as_unit("us")
    ids = np.array([f"req-{i:08d}" for i in range(ROWS)], dtype=object)
    for lo in range(0, ROWS, SEGMENT):
        hi = min(ROWS, lo + SEGMENT)
        n = hi - lo
        frame = pd.concat(
            [
                pd.DataFrame(
                    {
                        "request_id": pd.array(ids[lo:hi], "string"),
                        "ts": ts[lo:hi],
                        "endpoint": pd.array(["bench-monitor"] * n, "string"),
                        "variant": pd.array(["main"] * n, "string"),
                        "role": pd.array(["primary"] * n, "string"),
                        "error": pd.array([None] * n, "string"),
                        "latency_ms": np.full(n, 1.0),
                    }
                ),
                inputs.iloc[lo:hi].reset_index(drop=True),
                pd.DataFrame({"prediction": predicted[lo:hi]}),
            ],
            axis=1,
        )
        buffer = io.BytesIO()
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), buffer)
        blob = ctx.artifacts.put_bytes(buffer.getvalue())
        ctx.predictions.add_segment(
            PredictionSegmentRow(
                id=f"seg-{lo:08d}",
                model=project.name,
                version=version,
                first_at=ts[lo].to_pydatetime(),
                last_at=ts[hi - 1].to_pydatetime(),
                rows=n,
                artifact_sha256=blob.sha256,
                created_at=ts[hi - 1].to_pydatetime(),
                endpoint="bench-monitor",
            )
        )
    labelled_at = datetime.now(UTC)
    with ctx.db.engine.begin() as connection:
        connection.execute(
            sa.insert(FeedbackRow.__table__),
            [
                {"request_id": i, "label": float(y), "at": labelled_at}
                for i, y in zip(ids, live["y"], strict=True)
            ],
        )
    window = live.assign(prediction=predicted)
    # Evidently's regression metrics need the target in the reference too: the same number of
    # training rows as the version's reference sample, with the model's predictions
    sample = ctx.registry.reference_features(ctx.registry.get_version(project.name, version))
    training = pd.read_csv(root / "landing" / "train.csv").sample(len(sample), random_state=0)
    reference = training.assign(prediction=model.predict(training.drop(columns=["y"])))
    return ctx, project, window, reference


def run_evergreen(ctx: object, project: object) -> tuple[float, dict[str, object]]:
    from evergreen.bootstrap import Context
    from evergreen.monitoring.monitor import Monitor
    from evergreen.store.tables import MonitorResultRow

    assert isinstance(ctx, Context)
    with ctx.db.engine.begin() as connection:  # every rep does the full first-pass work
        connection.execute(sa.delete(MonitorResultRow.__table__))
    monitor = Monitor(ctx.registry, ctx.predictions, ctx.artifacts, ctx.events)
    started = time.perf_counter()
    outcome = monitor.check(project)  # type: ignore[arg-type]
    seconds = time.perf_counter() - started
    assert outcome is not None and outcome.drift is not None
    return seconds, {
        "rows": outcome.rows,
        "labelled": outcome.labelled,
        "drifted": sorted(outcome.drift.drifted_columns),
        "rmse": outcome.performance.get("rmse"),
        "series": len(outcome.results),
    }


def run_evidently(window: pd.DataFrame, reference: pd.DataFrame) -> tuple[float, dict[str, object]]:
    from evidently import DataDefinition, Dataset, Regression, Report
    from evidently.presets import DataDriftPreset, RegressionPreset

    started = time.perf_counter()
    columns = [f"f{k}" for k in range(FEATURES)]
    definition = DataDefinition(
        numerical_columns=columns,
        regression=[Regression(target="y", prediction="prediction")],
    )
    current = Dataset.from_pandas(window, data_definition=definition)
    base = Dataset.from_pandas(reference, data_definition=definition)
    snapshot = Report([DataDriftPreset(columns=columns), RegressionPreset()]).run(
        current_data=current, reference_data=base
    )
    seconds = time.perf_counter() - started
    metrics = snapshot.dict()["metrics"]
    drifted = []
    for metric in metrics:
        config, value = metric.get("config", {}), metric.get("value")
        column, threshold = config.get("column"), config.get("threshold")
        measured = column in columns and threshold is not None and isinstance(value, float)
        if measured and value >= threshold:
            drifted.append(column)
    return seconds, {"metrics": len(metrics), "drifted": sorted(drifted)}


def main() -> None:
    import platform

    print(
        f"  {ROWS:,} logged predictions x {FEATURES} features, {REPS} reps; "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}",
        flush=True,
    )
    with workdir("monitoring") as tmp:
        started = time.perf_counter()
        ctx, project, window, reference = setup(Path(tmp))
        print(f"  setup {time.perf_counter() - started:.1f} s", flush=True)
        ours, theirs = [], []
        for rep in range(REPS):  # alternated, so both see the same load on a shared machine
            seconds, found = run_evergreen(ctx, project)
            ours.append(seconds)
            print(f"  rep {rep + 1}: evergreen {seconds:.3f} s {found}", flush=True)
            seconds, seen = run_evidently(window, reference)
            theirs.append(seconds)
            print(f"  rep {rep + 1}: evidently {seconds:.3f} s {seen}", flush=True)
        show("evergreen Monitor.check", ours)
        show("evidently drift+regression", theirs)
        fast = median_of(ours)
        print(
            f"  evidently / evergreen = {median_of(theirs) / fast:.1f}x; "
            f"pass under {TARGET_S:g} s: {verdict(fast < TARGET_S)}",
            flush=True,
        )
        ctx.close()  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
