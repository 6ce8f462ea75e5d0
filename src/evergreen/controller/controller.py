"""The controller: turns trigger events into pipeline runs.

It takes events from the durable queue in the metadata store with a lease, so several
controllers never run the same event, and a dead controller's event is taken over once its lease
expires. It also watches each project's source for new data when the project asks for it.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from evergreen.core.clock import Clock, SystemClock
from evergreen.core.ids import new_id
from evergreen.data.snapshots import DatasetStore
from evergreen.errors import EvergreenError, NotFound
from evergreen.pipeline.project import Project
from evergreen.pipeline.runner import PipelineRunner, Progress, RunResult
from evergreen.store.events import EventRepository, new_event
from evergreen.store.runs import RunRepository
from evergreen.store.tables import TriggerEventRow

log = logging.getLogger(__name__)


class Controller:
    def __init__(
        self,
        projects: dict[str, Project],
        runner: PipelineRunner,
        events: EventRepository,
        datasets: DatasetStore,
        runs: RunRepository,
        clock: Clock | None = None,
        *,
        lease: timedelta = timedelta(minutes=30),
        owner: str | None = None,
    ) -> None:
        self.projects, self.runner, self.events = projects, runner, events
        self.datasets, self.runs = datasets, runs
        self.clock = clock or SystemClock()
        self.lease = lease
        self.owner = owner or new_id("controller")

    def trigger(
        self, project: str, kind: str, reason: str, evidence: dict[str, Any] | None = None
    ) -> tuple[TriggerEventRow, bool]:
        """Enqueue an event (a burst of signals collapses into the one pending event)."""
        if project not in self.projects:
            raise NotFound(f"no project {project!r} is loaded; known: {sorted(self.projects)}")
        return self.events.enqueue(
            new_event(project, kind, reason, evidence or {}, self.clock.now())
        )

    def check_new_data(self, name: str) -> TriggerEventRow | None:
        """Snapshot the project's source; a version never trained on raises a new_data event."""
        project = self.projects[name]
        if not project.triggers.new_data:
            return None
        try:
            version = self.datasets.snapshot(project.source_path())
        except EvergreenError as exc:
            log.warning("new-data check of %s failed: %s", name, exc)
            return None
        trained = {r.dataset_version_id for r in self.runs.list_runs(name, limit=20)}
        if version.id in trained:
            return None
        event, _new = self.trigger(
            name,
            "new_data",
            f"new data in {project.source}: dataset {version.id} ({version.rows} rows)",
            {"dataset_version": version.id, "rows": version.rows},
        )
        return event

    def process_one(
        self, progress: Progress | None = None
    ) -> tuple[TriggerEventRow, RunResult] | None:
        """Lease the oldest event and run its project's pipeline; None when the queue is empty."""
        event = self.events.claim(self.owner, self.clock.now(), self.lease)
        if event is None:
            return None
        project = self.projects.get(event.project)
        if project is None:
            self.events.finish(
                event.id,
                self.owner,
                status="failed",
                at=self.clock.now(),
                error=f"no project {event.project!r} is loaded by this controller",
            )
            raise NotFound(f"event {event.id} names unknown project {event.project!r}")
        result = self.runner.run(
            project,
            trigger_event_id=event.id,
            reason=f"{event.kind}: {event.reason}",
            progress=progress,
        )
        finished = self.events.finish(
            event.id,
            self.owner,
            status="done" if result.status == "succeeded" else "failed",
            at=self.clock.now(),
            run_id=result.run_id,
            error=result.error,
        )
        if not finished:
            log.warning("lease on %s was lost while running %s", event.id, result.run_id)
        return event, result

    def drain(self, progress: Progress | None = None) -> list[tuple[TriggerEventRow, RunResult]]:
        """Process events until none is runnable."""
        done = []
        while (item := self.process_one(progress)) is not None:
            done.append(item)
        return done
