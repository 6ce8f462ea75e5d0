"""Replay the UCI bike-sharing data (hourly, 2011-2012) week by week through the real loop.

Each week: the gateway answers real HTTP requests (Open Inference Protocol V2) for that week's
hours; the predictions are logged; the labels then land as a new file in the project's source;
one pass of the control loop (the same ``Service.tick`` that ``evergreen up`` runs) monitors the
logged inputs for drift, and a drift event becomes a pipeline run whose candidate, if it passes
the gate, is promoted and picked up by the gateway without a restart. Next to it, the first model
is kept frozen, to show what never retraining costs.
"""

from __future__ import annotations

import json
import shutil
import time
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd

from evergreen import bootstrap
from evergreen.core.clock import SimulatedClock
from evergreen.errors import InvalidInput, NotFound, Unavailable
from evergreen.pipeline.project import load_project
from evergreen.serving.app import create_app
from evergreen.serving.prediction_log import PredictionLogWriter
from evergreen.serving.server import GatewayThread
from evergreen.settings import Settings

Say = Callable[[str], None]
INITIAL_WEEKS = 4
V2_TYPES = {"int64": "INT64", "float64": "FP64", "bool": "BOOL", "string": "BYTES"}


def _weekly_batches(frame: pd.DataFrame) -> list[pd.DataFrame]:
    days = pd.to_datetime(frame["dteday"])
    week = ((days - days.min()).dt.days // 7).to_numpy()
    return [frame[week == w] for w in range(int(week.max()) + 1) if (week == w).any()]


def _infer(
    client: httpx.Client, model: str, features: pd.DataFrame, dtypes: Mapping[str, str]
) -> tuple[np.ndarray, int]:
    body = {
        "inputs": [
            {
                "name": column,
                "datatype": V2_TYPES[dtypes[column]],
                "shape": [len(features)],
                "data": features[column].tolist(),
            }
            for column in features.columns
        ]
    }
    response = client.post(f"/v2/models/{model}/infer", json=body)
    if response.status_code != 200:
        raise Unavailable(f"gateway answered {response.status_code}: {response.text}")
    answer = response.json()
    return np.asarray(answer["outputs"][0]["data"], dtype=float), int(answer["model_version"])


def _wait_served(client: httpx.Client, model: str, version: int, timeout: float = 30.0) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        response = client.get(f"/v2/models/{model}")
        if response.status_code == 200 and str(version) in response.json().get("versions", []):
            return time.perf_counter() - started
        time.sleep(0.02)
    raise Unavailable(f"the gateway did not pick up {model} v{version} within {timeout:.0f}s")


def _rmse(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.sqrt(np.mean((y.astype(float) - p) ** 2)))


def run_demo(
    *,
    home: Path = Path(".evergreen/demo"),
    data: Path = Path("examples/data/bike_sharing_hour.csv"),
    project_file: Path = Path("examples/bike_project.py"),
    summary_path: Path = Path(".evergreen/demo-summary.json"),
    batches: int | None = None,
    say: Say | None = None,
) -> dict[str, Any]:
    """Run the replay and return (and write) the summary."""
    out = say or (lambda _line: None)
    if not data.is_file():
        raise NotFound(f"{data}: demo data not found; run the demo from the repository root")
    started = time.perf_counter()
    raw = pd.read_csv(data)
    weeks = _weekly_batches(raw)
    if batches is not None:
        if batches < 1:
            raise InvalidInput("--batches must be at least 1")
        weeks = weeks[: INITIAL_WEEKS + batches]

    shutil.rmtree(home, ignore_errors=True)
    landing = home / "landing"
    landing.mkdir(parents=True)
    first_day = pd.Timestamp(raw["dteday"].min()).to_pydatetime().replace(tzinfo=UTC)
    clock = SimulatedClock(first_day + timedelta(days=7 * INITIAL_WEEKS))
    ctx = bootstrap.build(Settings(home=home / "state"), clock=clock)
    project = load_project(project_file)
    project.source = str(landing.resolve())
    service = bootstrap.service(ctx, {project.name: project})

    out(
        f"evergreen demo: {len(raw):,} hourly rows of Capital Bikeshare rentals, "
        f"{len(weeks)} weekly batches; state in {home}"
    )
    for index in range(INITIAL_WEEKS):
        weeks[index].to_csv(landing / f"week-{index:03d}.csv", index=False)
    service.controller.trigger(project.name, "manual", f"initial training on {INITIAL_WEEKS} weeks")
    first = service.tick()
    if not first.runs or not first.runs[0][1].promoted:
        error = first.runs[0][1].error if first.runs else "no run started"
        raise Unavailable(f"initial training failed: {error}")
    frozen = ctx.registry.load(project.name, first.runs[0][1].model_version or 1)
    dtypes = {c.name: c.dtype for c in frozen.signature.inputs}
    out(f"week {INITIAL_WEEKS - 1:3d}  initial model v{frozen.version} trained and promoted")

    writer = PredictionLogWriter(ctx.artifacts, ctx.predictions, clock=clock, flush_interval=0.5)
    app = create_app(ctx.registry, writer, poll_interval=0.1)
    per_batch: list[dict[str, Any]] = []
    retrains: list[dict[str, Any]] = []
    with GatewayThread(app) as gateway, httpx.Client(base_url=gateway.url, timeout=30) as client:
        _wait_served(client, project.name, frozen.version)
        out(f"gateway serving on {gateway.url} (Open Inference Protocol V2)")
        for index in range(INITIAL_WEEKS, len(weeks)):
            batch = weeks[index]
            clock.advance(timedelta(days=7))
            prepared = batch[[*frozen.signature.input_names, project.target]]
            features = prepared[frozen.signature.input_names]
            predictions, served = [], set()
            for _day, rows in features.groupby(batch["dteday"], sort=True):
                values, version = _infer(client, project.name, rows, dtypes)
                predictions.append(values)
                served.add(version)
            predicted = np.concatenate(predictions)
            truth = prepared[project.target].to_numpy()
            record = {
                "batch": index,
                "week_start": str(batch["dteday"].iloc[0]),
                "rows": len(batch),
                "served_versions": sorted(served),
                "continuous": _rmse(truth, predicted),
                "frozen": _rmse(truth, frozen.predict(features)),
            }
            per_batch.append(record)
            out(
                f"week {index:3d}  {record['week_start']}  served v{max(served)}  rmse "
                f"{record['continuous']:6.1f}   frozen v{frozen.version}: {record['frozen']:6.1f}"
            )
            batch.to_csv(landing / f"week-{index:03d}.csv", index=False)  # labels arrive
            writer.flush()
            tick = service.tick()
            for event, result in tick.runs:
                entry: dict[str, Any] = {
                    "batch": index,
                    "event_id": event.id,
                    "trigger": event.kind,
                    "reason": event.reason,
                    "run_id": result.run_id,
                    "status": result.status,
                    "version": result.model_version,
                    "promoted": result.promoted,
                    "gate": result.gate.reason if result.gate else result.error,
                }
                if result.promoted and result.model_version is not None:
                    entry["served_after_seconds"] = round(
                        _wait_served(client, project.name, result.model_version), 3
                    )
                retrains.append(entry)
                verdict = (
                    f"v{result.model_version} promoted, serving after "
                    f"{entry.get('served_after_seconds', 0):.2f}s"
                    if result.promoted
                    else f"kept production ({entry['gate']})"
                )
                out(f"          ⚡ {event.kind}: {event.reason} → {verdict}")
    events = ctx.events.list(project.name, limit=10_000)
    versions = ctx.registry.versions(project.name)
    promoted = [
        e.subject for e in ctx.registry.audit_log(project.name) if e.to_state == "production"
    ]
    summary: dict[str, Any] = {
        "dataset": "UCI Bike Sharing, hourly, Capital Bikeshare 2011-2012 (Fanaee-T & Gama 2013)",
        "project": project.name,
        "metric": project.metric_name,
        "lower_is_better": True,
        "batches": len(per_batch),
        "batch_period_days": 7,
        "trigger_events": dict(Counter(e.kind for e in events)),
        "versions_registered": [v.version for v in versions],
        "versions_promoted": [int(s.rsplit(":", 1)[1]) for s in promoted],
        "production_version": next((v.version for v in versions if v.stage == "production"), None),
        "retrains": retrains,
        "mean_metric": {
            "continuous": float(np.mean([b["continuous"] for b in per_batch]))
            if per_batch
            else None,
            "frozen": float(np.mean([b["frozen"] for b in per_batch])) if per_batch else None,
        },
        "per_batch": per_batch,
        "seconds": round(time.perf_counter() - started, 1),
        "finished_at": datetime.now(UTC).isoformat(),
    }
    summary_path.parent.mkdir(parents=True, exist_ok=True)
    summary_path.write_text(json.dumps(summary, indent=2))
    mean = summary["mean_metric"]
    out(
        f"done in {summary['seconds']}s: {len(per_batch)} weeks, "
        f"triggers {summary['trigger_events']}, {len(versions)} versions registered, "
        f"{len(promoted)} promoted; mean rmse "
        f"{mean['continuous']:.1f} continuously trained vs {mean['frozen']:.1f} frozen; "
        f"summary in {summary_path}"
    )
    ctx.close()
    return summary
