"""From new data landing to the new version serving traffic, on the demo (issue 6).

The bike project (``examples/bike_project.py``) with the new-data trigger, run the way
``evergreen up`` runs it: the control loop in a thread (a pass every ``up``'s default interval)
and the gateway on loopback (polling the registry at ``serve``'s default interval). A week of
data is written to the landing folder; the clock stops when the gateway answers with the new
version. Training (the ``train`` step: search, refit) is subtracted, as the target excludes it.
Several landings in a row; medians. Target: under 10 s excluding training.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pandas as pd

from benchmarks import median_of, verdict, workdir
from evergreen import bootstrap
from evergreen.pipeline.project import load_project
from evergreen.pipeline.triggers import Triggers
from evergreen.serving.server import GatewayThread
from evergreen.settings import Settings
from evergreen.training.gate import GateSpec

REPS = int(os.environ.get("BENCH_LANDING_REPS", "3"))
REPO = Path(__file__).resolve().parent.parent
PROJECT = REPO / "examples" / "bike_project.py"
DATA = REPO / "examples" / "data" / "bike_sharing_hour.csv"
LOOP_INTERVAL = 2.0  # `evergreen up --interval` default
POLL = 1.0  # `evergreen serve --poll` default
TARGET_SECONDS = 10.0


def _weeks(frame: pd.DataFrame) -> list[pd.DataFrame]:
    days = pd.to_datetime(frame["dteday"])
    week = ((days - days.min()).dt.days // 7).to_numpy()
    return [frame[week == w] for w in range(int(week.max()) + 1)]


def _served_version(client: httpx.Client, name: str) -> int | None:
    response = client.get(f"/v2/models/{name}")
    if response.status_code != 200:
        return None
    return max(int(v) for v in response.json()["versions"])


def _step_seconds(ctx: Any, run_id: str, name: str) -> float:
    return sum(
        (s.finished_at - s.started_at).total_seconds()
        for s in ctx.runs.steps(run_id)
        if s.name == name and s.finished_at is not None
    )


def main() -> None:
    weeks = _weeks(pd.read_csv(DATA))
    with workdir("landing") as tmp:
        root = Path(tmp)
        landing = root / "landing"
        landing.mkdir()
        ctx = bootstrap.build(Settings(home=root / "home", executor="inline"))
        project = load_project(PROJECT)
        project.source = str(landing)
        project.triggers = Triggers(drift=False, new_data=True)
        # Every landing must end in a promotion to be timed: accept any candidate at the gate.
        project.gate = GateSpec(min_improvement=-1.0)
        for index in range(8):
            weeks[index].to_csv(landing / f"week-{index:03d}.csv", index=False)
        service = bootstrap.service(ctx, {project.name: project}, interval=LOOP_INTERVAL)
        first = service.tick()
        assert first.runs and first.runs[0][1].promoted, first.runs
        stop = threading.Event()
        loop = threading.Thread(target=service.run, args=(stop,), daemon=True)
        app = bootstrap.gateway_app(ctx, poll_interval=POLL)
        totals, excluding, trains, detections = [], [], [], []
        with GatewayThread(app) as gateway, httpx.Client(base_url=gateway.url) as client:
            while _served_version(client, project.name) != 1:
                time.sleep(0.05)
            loop.start()
            time.sleep(LOOP_INTERVAL * 1.5)  # the loop is idle: no new data
            for rep in range(REPS):
                current = _served_version(client, project.name)
                batch = pd.concat(weeks[8 + 4 * rep : 12 + 4 * rep])  # a month: retrain wins
                landed_at = time.time()
                started = time.perf_counter()
                batch.to_csv(landing / f"month-{rep}.csv", index=False)
                while _served_version(client, project.name) == current:
                    if time.perf_counter() - started > 120:
                        runs = ctx.runs.list_runs(project.name, limit=3)
                        raise SystemExit(
                            "the new version was not served within 120 s; last runs: "
                            + "; ".join(
                                f"{r.status} {r.error or r.outcome.get('gate')}" for r in runs
                            )
                        )
                    time.sleep(0.02)
                total = time.perf_counter() - started
                run = ctx.runs.list_runs(project.name, limit=1)[-1]
                event = ctx.events.get(run.trigger_event_id or "")
                train = _step_seconds(ctx, run.id, "train")
                detected = (event.created_at.timestamp() - landed_at) if event else float("nan")
                totals.append(total)
                trains.append(train)
                excluding.append(total - train)
                detections.append(detected)
                print(
                    f"landing {rep + 1}: served after {total:5.2f} s; train step {train:5.2f} s; "
                    f"excluding training {total - train:5.2f} s (new data noticed after "
                    f"{detected:4.2f} s)",
                    flush=True,
                )
        stop.set()
        loop.join(timeout=60)
        ctx.close()
    median = median_of(excluding)
    print(
        f"median over {REPS} landings: {median_of(totals):.2f} s in all, "
        f"{median_of(trains):.2f} s of it training; excluding training {median:.2f} s "
        f"(target < {TARGET_SECONDS:.0f} s: {verdict(median < TARGET_SECONDS)}); loop pass every "
        f"{LOOP_INTERVAL:g} s, gateway poll {POLL:g} s"
    )


if __name__ == "__main__":
    main()
