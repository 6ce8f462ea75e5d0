"""The controller and the control loop, on the real pipeline, queue and monitor."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from evergreen import bootstrap
from evergreen.bootstrap import Context
from evergreen.controller.controller import Controller
from evergreen.errors import NotFound
from evergreen.pipeline.project import Project
from evergreen.pipeline.triggers import Triggers


def controller_for(context: Context, project: Project, **kwargs: object) -> Controller:
    built = bootstrap.controller(context, {project.name: project})
    for key, value in kwargs.items():
        setattr(built, key, value)
    return built


def test_manual_trigger_becomes_a_recorded_run(
    context: Context, project: Project, hourly: pd.DataFrame, landing: Path
) -> None:
    hourly.iloc[:1000].to_csv(landing / "a.csv", index=False)
    controller = controller_for(context, project)
    event, new = controller.trigger(project.name, "manual", "first model")
    assert new
    again, new_again = controller.trigger(project.name, "manual", "impatient user")
    assert (again.id, new_again) == (event.id, False)  # a burst of signals: one pending event

    done = controller.drain()
    assert len(done) == 1
    finished, result = done[0]
    assert finished.id == event.id and result.status == "succeeded"
    stored = context.events.get(event.id)
    assert stored is not None and (stored.status, stored.run_id) == ("done", result.run_id)
    run = context.runs.get_run(result.run_id)
    assert run is not None and run.trigger_event_id == event.id
    version = context.registry.get_version(project.name, 1)
    assert version.tags["trigger_event_id"] == event.id  # why was this model trained? this event
    assert controller.process_one() is None


def test_unknown_project_is_refused(context: Context, project: Project) -> None:
    with pytest.raises(NotFound, match="no project 'other'"):
        controller_for(context, project).trigger("other", "manual", "x")


def test_failed_run_marks_the_event_failed(
    context: Context, project: Project, landing: Path
) -> None:
    controller = controller_for(context, project)  # the landing folder is empty
    event, _ = controller.trigger(project.name, "manual", "no data yet")
    ((_, result),) = controller.drain()
    assert result.status == "failed"
    stored = context.events.get(event.id)
    assert stored is not None and stored.status == "failed"
    assert stored.error is not None and "landing" in stored.error


def test_new_data_trigger_fires_once_per_new_dataset_version(
    context: Context, project: Project, hourly: pd.DataFrame, landing: Path
) -> None:
    project.triggers = Triggers(drift=False, new_data=True)
    service = bootstrap.service(context, {project.name: project})
    hourly.iloc[:1000].to_csv(landing / "a.csv", index=False)

    first = service.tick()
    assert [e.kind for e in first.new_data] == ["new_data"]
    assert len(first.runs) == 1 and first.runs[0][1].status == "succeeded"
    assert service.tick().new_data == []  # the same data: nothing new

    hourly.iloc[1000:1500].to_csv(landing / "b.csv", index=False)
    third = service.tick()
    assert [e.kind for e in third.new_data] == ["new_data"]
    assert third.runs[0][1].dataset_version == third.new_data[0].evidence["dataset_version"]


def test_an_expired_lease_is_taken_over_by_another_controller(
    context: Context, project: Project, hourly: pd.DataFrame, landing: Path
) -> None:
    hourly.iloc[:1000].to_csv(landing / "a.csv", index=False)
    first = controller_for(context, project, lease=timedelta(seconds=-1), owner="dead")
    event, _ = first.trigger(project.name, "manual", "x")
    claimed = context.events.claim("dead", context.clock.now(), timedelta(seconds=-1))
    assert claimed is not None and claimed.id == event.id  # 'dead' holds it, already expired

    second = controller_for(context, project, owner="alive")
    ((taken, result),) = second.drain()
    assert taken.id == event.id and result.status == "succeeded"
    stored = context.events.get(event.id)
    assert stored is not None and (stored.lease_owner, stored.attempts) == ("alive", 2)
    # The dead controller cannot finish an event it lost.
    assert not context.events.finish(event.id, "dead", status="done", at=context.clock.now())
