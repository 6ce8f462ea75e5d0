"""Debounce, cooldown, caps and the champion's minimum time: a burst or a flapping signal
yields one run, later; nothing is dropped, and a person's manual trigger is never held back."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pandas as pd

from evergreen import bootstrap
from evergreen.bootstrap import Context
from evergreen.core.clock import SimulatedClock
from evergreen.pipeline.project import Project
from evergreen.pipeline.triggers import Triggers
from evergreen.store.tables import TriggerEventRow


def finish(ctx: Context, event: TriggerEventRow, owner: str = "t") -> None:
    """Run an event's lease to completion without a pipeline (the guards read only the queue)."""
    claimed = ctx.events.claim(owner, ctx.clock.now(), timedelta(minutes=5))
    assert claimed is not None and claimed.id == event.id
    assert ctx.events.finish(event.id, owner, status="done", at=ctx.clock.now())


def test_cooldown_defers_automatic_signals_and_not_manual_ones(
    timed: Context, clock: SimulatedClock, project: Project
) -> None:
    project.triggers = Triggers(cooldown="6h")
    controller = bootstrap.controller(timed, {project.name: project})
    first, _ = controller.trigger(project.name, "drift", "drift 1")
    assert first.not_before is None
    finish(timed, first)

    clock.advance(timedelta(hours=1))
    burst = [controller.trigger(project.name, "drift", f"drift {i}") for i in range(5)]
    deferred, new = burst[0]
    assert new and all(event.id == deferred.id for event, _ in burst)  # one event for the burst
    assert deferred.not_before == first.created_at + timedelta(hours=6)
    assert "cooldown" in deferred.evidence["deferred"]["reasons"][0]
    assert timed.events.claim("c", clock.now(), timedelta(minutes=5)) is None  # not yet

    manual, new_manual = controller.trigger(project.name, "manual", "a person asks")
    assert (manual.id, new_manual) == (deferred.id, False)  # joins it, and makes it run now
    stored = timed.events.get(deferred.id)
    assert stored is not None and stored.not_before is None and "a person asks" in stored.reason
    assert timed.events.claim("c", clock.now(), timedelta(minutes=5)) is not None


def test_a_deferred_event_runs_once_the_cooldown_is_over(
    timed: Context, clock: SimulatedClock, project: Project
) -> None:
    project.triggers = Triggers(cooldown="30m")
    controller = bootstrap.controller(timed, {project.name: project})
    first, _ = controller.trigger(project.name, "new_data", "a")
    finish(timed, first)
    later, _ = controller.trigger(project.name, "drift", "b")
    assert later.not_before is not None
    clock.advance(timedelta(minutes=29))
    assert timed.events.claim("c", clock.now(), timedelta(minutes=5)) is None
    clock.advance(timedelta(minutes=2))
    claimed = timed.events.claim("c", clock.now(), timedelta(minutes=5))
    assert claimed is not None and claimed.id == later.id


def test_a_cap_on_runs_per_period(timed: Context, clock: SimulatedClock, project: Project) -> None:
    project.triggers = Triggers(max_runs=2, period="1d")
    controller = bootstrap.controller(timed, {project.name: project})
    started = []
    for hour in range(2):
        event, _ = controller.trigger(project.name, "drift", f"drift at +{hour}h")
        assert event.not_before is None
        finish(timed, event)
        started.append(event)
        clock.advance(timedelta(hours=1))
    third, _ = controller.trigger(project.name, "drift", "third in a day")
    assert third.not_before == started[0].created_at + timedelta(days=1)
    assert "max_runs 2" in third.evidence["deferred"]["reasons"][0]
    manual_project_events = controller.trigger(project.name, "manual", "override")[0]
    assert manual_project_events.id == third.id  # the manual signal releases the held event


def test_debounce_joins_a_signal_to_the_run_just_started(
    timed: Context, clock: SimulatedClock, project: Project
) -> None:
    project.triggers = Triggers(debounce="10m")
    controller = bootstrap.controller(timed, {project.name: project})
    first, _ = controller.trigger(project.name, "drift", "a")
    assert timed.events.claim("c", clock.now(), timedelta(minutes=5)) is not None
    clock.advance(timedelta(minutes=5))
    joined, new = controller.trigger(project.name, "new_data", "b")
    assert (joined.id, new) == (first.id, False)
    clock.advance(timedelta(minutes=6))
    separate, new_separate = controller.trigger(project.name, "new_data", "c")
    assert new_separate and separate.id != first.id


def test_a_young_champion_is_kept_for_its_minimum_time(
    timed: Context, clock: SimulatedClock, project: Project, hourly: pd.DataFrame, landing: Path
) -> None:
    hourly.iloc[:1000].to_csv(landing / "a.csv", index=False)
    project.triggers = Triggers(min_champion="2d")
    controller = bootstrap.controller(timed, {project.name: project})
    controller.trigger(project.name, "manual", "first model")
    ((_, result),) = controller.drain()
    assert result.promoted
    promoted_at = clock.now()

    clock.advance(timedelta(hours=3))
    held, _ = controller.trigger(project.name, "drift", "drift right after the promotion")
    assert held.not_before == promoted_at + timedelta(days=2)
    assert "min_champion" in held.evidence["deferred"]["reasons"][0]
    assert controller.drain() == []
    clock.advance(timedelta(days=2))
    ((ran, _),) = controller.drain()
    assert ran.id == held.id
