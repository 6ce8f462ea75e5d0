"""The controller: turns trigger events into pipeline runs.

It takes events from the durable queue in the metadata store with a lease, renewed while the run
goes on, so several controllers never run the same event, and a dead controller's event is taken
over once its lease expires (its abandoned run is marked failed). Signals pass the project's
guards first (:mod:`evergreen.controller.guards`): a guarded one is deferred, not lost. The
controller also watches each project's source for new data and its cron schedule, and at
automation level 2 hands a staged candidate to the delivery (:mod:`.delivery`).
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from typing import Any

from evergreen.controller.delivery import Delivery
from evergreen.controller.guards import deferral
from evergreen.core.clock import Clock, SystemClock
from evergreen.core.ids import new_id
from evergreen.data.snapshots import DatasetStore
from evergreen.errors import EvergreenError, InvalidInput, NotFound
from evergreen.pipeline.project import Project
from evergreen.pipeline.runner import PipelineRunner, Progress, RunResult
from evergreen.pipeline.triggers import TRIGGER_KINDS
from evergreen.store.events import EventRepository, new_event
from evergreen.store.runs import RunRepository
from evergreen.store.tables import TriggerEventRow

log = logging.getLogger(__name__)
CATCH_UP_LIMIT = 100_000  # schedule fire times skipped at most when catching up after downtime


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
        lease: timedelta = timedelta(minutes=5),
        owner: str | None = None,
        delivery: Delivery | None = None,
    ) -> None:
        self.projects, self.runner, self.events = projects, runner, events
        self.datasets, self.runs = datasets, runs
        self.clock = clock or SystemClock()
        self.lease = lease
        self.owner = owner or new_id("controller")
        self.delivery = delivery
        self._started_at = self.clock.now()
        self._scheduled: dict[str, datetime] = {}  # the last fire time signalled, per project

    # -- signals -------------------------------------------------------------------------
    def trigger(
        self, project: str, kind: str, reason: str, evidence: dict[str, Any] | None = None
    ) -> tuple[TriggerEventRow, bool]:
        """Enqueue an event for a signal. A burst of signals collapses into the one pending
        event; a signal the project's guards hold back is deferred, with the reasons in its
        evidence. Returns the event standing for the signal and whether it is new."""
        if project not in self.projects:
            raise NotFound(f"no project {project!r} is loaded; known: {sorted(self.projects)}")
        if kind not in TRIGGER_KINDS:
            raise InvalidInput(f"unknown trigger kind {kind!r}; use one of {TRIGGER_KINDS}")
        triggers = self.projects[project].triggers
        now = self.clock.now()
        held = deferral(triggers, project, kind, now, self.events, self.runner.registry)
        evidence = dict(evidence or {})
        if held.until is not None:
            evidence["deferred"] = {"until": held.until.isoformat(), "reasons": held.reasons}
        event, new = self.events.enqueue(
            new_event(project, kind, reason, evidence, now, not_before=held.until),
            debounce=triggers.debounce,
        )
        if new and held.until is not None:
            log.info("%s: %s signal deferred until %s: %s", project, kind, held.until, held.reasons)
        return event, new

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

    def check_schedule(self, name: str) -> TriggerEventRow | None:
        """Raise a schedule event when the project's cron schedule has fired since the last
        one (fire times missed while no controller ran collapse into one)."""
        triggers = self.projects[name].triggers
        if triggers.schedule is None:
            return None
        now = self.clock.now()
        anchor = self._schedule_anchor(name)
        due = triggers.next_fire(anchor)
        if due is None or due > now:
            return None
        for _ in range(CATCH_UP_LIMIT):
            following = triggers.next_fire(due)
            if following is None or following > now:
                break
            due = following
        self._scheduled[name] = due
        event, _new = self.trigger(
            name,
            "schedule",
            f"schedule '{triggers.schedule}' ({triggers.timezone}) fired at {due.isoformat()}",
            {"scheduled_for": due.isoformat(), "schedule": triggers.schedule},
        )
        return event

    def _schedule_anchor(self, name: str) -> datetime:
        anchor = self._scheduled.get(name, self._started_at)
        last = self.events.last_of_kind(name, "schedule")
        if last is not None and "scheduled_for" in last.evidence:
            anchor = max(anchor, datetime.fromisoformat(last.evidence["scheduled_for"]))
        return anchor

    # -- runs ----------------------------------------------------------------------------
    def process_one(
        self, progress: Progress | None = None
    ) -> tuple[TriggerEventRow, RunResult] | None:
        """Lease the oldest runnable event and run its project's pipeline, renewing the lease
        while it runs; None when nothing is runnable."""
        event = self.events.claim(self.owner, self.clock.now(), self.lease)
        if event is None:
            return None
        if event.attempts > 1:  # taken over: the run its last controller started is dead
            abandoned = self.runs.abandon_runs(
                event.id,
                at=self.clock.now(),
                error=f"its controller stopped (lease expired); {self.owner} took the event over",
            )
            log.warning(
                "took over %s (attempt %d); abandoned %s", event.id, event.attempts, abandoned
            )
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
        stop = threading.Event()
        heartbeat = threading.Thread(
            target=self._renew, args=(event.id, stop), name=f"lease-{event.id}", daemon=True
        )
        heartbeat.start()
        try:
            result = self.runner.run(
                project,
                trigger_event_id=event.id,
                reason=f"{event.kind}: {event.reason}",
                progress=progress,
            )
        finally:
            stop.set()
            heartbeat.join()
        if result.status == "succeeded":
            self._deliver(project, event, result)
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

    def _renew(self, event_id: str, stop: threading.Event) -> None:
        """Keep the lease alive: renew it every third of its length until the run ends."""
        every = max(0.05, self.lease.total_seconds() / 3)
        while not stop.wait(every):
            try:
                if not self.events.renew(event_id, self.owner, self.clock.now() + self.lease):
                    log.warning("lost the lease on %s to another controller", event_id)
                    return
            except Exception:  # the database may be briefly unreachable: try again next beat
                log.exception("renewing the lease on %s failed; retrying", event_id)

    def _deliver(self, project: Project, event: TriggerEventRow, result: RunResult) -> None:
        """At level 2, a staged candidate starts its rollout."""
        if project.automation < 2 or result.model_version is None or result.promoted:
            return
        version = self.runner.registry.get_version(project.name, result.model_version)
        if version.stage != "staging" or self.delivery is None:
            return
        self.delivery.start(project, result.model_version, run_id=result.run_id, event_id=event.id)

    def drain(self, progress: Progress | None = None) -> list[tuple[TriggerEventRow, RunResult]]:
        """Process events until none is runnable."""
        done = []
        while (item := self.process_one(progress)) is not None:
            done.append(item)
        return done
