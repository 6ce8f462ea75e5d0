"""Faults of the control loop: the metadata database unreachable for a while (through a real
TCP proxy to PostgreSQL that cuts the line) loses no event and runs none twice."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pandas as pd

from evergreen import bootstrap
from evergreen.pipeline.project import Project
from evergreen.pipeline.triggers import Triggers
from evergreen.settings import Settings
from fixtures.proxy import proxied


def test_a_database_outage_delays_the_loop_and_loses_nothing(
    postgres_url: str, tmp_path: Path, project: Project, hourly: pd.DataFrame, landing: Path
) -> None:
    hourly.iloc[:800].to_csv(landing / "a.csv", index=False)
    project.triggers = Triggers(drift=False)
    with proxied(postgres_url) as (proxy, url):
        ctx = bootstrap.build(Settings(home=tmp_path / "eg", db_url=url, executor="inline"))
        ctx.db.upgrade()
        service = bootstrap.service(ctx, {project.name: project}, interval=0.2)
        event, _ = service.controller.trigger(project.name, "manual", "before the outage")
        proxy.down()
        stop = threading.Event()
        loop = threading.Thread(target=service.run, args=(stop,), daemon=True)
        loop.start()
        try:
            time.sleep(2.0)  # several passes fail while the database is unreachable
            assert loop.is_alive()  # the loop logs each failed pass and goes on
            proxy.up()
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                stored = ctx.events.get(event.id)
                if stored is not None and stored.status == "done":
                    break
                time.sleep(0.2)
        finally:
            stop.set()
            loop.join(timeout=60)
        stored = ctx.events.get(event.id)
        assert stored is not None and stored.status == "done", stored.error if stored else None
        runs = ctx.runs.list_runs(project.name)
        assert [r.status for r in runs] == ["succeeded"]  # once, not twice
        assert ctx.registry.production(project.name) is not None
        ctx.close()
