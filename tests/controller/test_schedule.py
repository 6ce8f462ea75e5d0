"""Schedule triggers: cron expressions read in a time zone, fired once per due time, missed
fire times collapsed into one, malformed expressions refused with a clear error."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from evergreen import bootstrap
from evergreen.bootstrap import Context
from evergreen.core.clock import SimulatedClock
from evergreen.errors import InvalidInput
from evergreen.pipeline.project import Project, load_project
from evergreen.pipeline.triggers import Triggers, next_cron_time

from .test_guards import finish


def test_cron_is_read_in_the_time_zone_across_daylight_saving() -> None:
    # 03:00 in Paris is 02:00 UTC in winter and 01:00 UTC from 29 March 2026 (summer time).
    winter = next_cron_time("0 3 * * *", "Europe/Paris", datetime(2026, 3, 27, 12, tzinfo=UTC))
    summer = next_cron_time("0 3 * * *", "Europe/Paris", datetime(2026, 3, 29, 12, tzinfo=UTC))
    assert winter == datetime(2026, 3, 28, 2, 0, tzinfo=UTC)
    assert summer == datetime(2026, 3, 30, 1, 0, tzinfo=UTC)


def test_a_schedule_fires_once_per_due_time(
    timed: Context, clock: SimulatedClock, project: Project
) -> None:
    project.triggers = Triggers(drift=False, schedule="0 3 * * *", timezone="Europe/Paris")
    controller = bootstrap.controller(timed, {project.name: project})
    other = bootstrap.controller(timed, {project.name: project})  # a second controller process
    assert controller.check_schedule(project.name) is None  # 2026-03-28 12:00 UTC: not due

    clock.advance(timedelta(hours=14))  # 2026-03-29 02:00 UTC, past 03:00 Paris (01:00 UTC)
    event = controller.check_schedule(project.name)
    assert event is not None and event.kind == "schedule"
    assert event.evidence["scheduled_for"] == "2026-03-29T01:00:00+00:00"
    finish(timed, event)
    assert controller.check_schedule(project.name) is None  # that fire time is spent

    # The other controller, started as early, knows it too: from the stored event.
    assert other.check_schedule(project.name) is None
    clock.advance(timedelta(days=1))
    assert other.check_schedule(project.name) is not None  # the next day's 03:00


def test_missed_fire_times_collapse_into_one_event(
    timed: Context, clock: SimulatedClock, project: Project
) -> None:
    project.triggers = Triggers(drift=False, schedule="*/15 * * * *")
    controller = bootstrap.controller(timed, {project.name: project})
    clock.advance(timedelta(hours=5, minutes=7))  # 20 fire times passed while it was down
    event = controller.check_schedule(project.name)
    assert event is not None
    assert event.evidence["scheduled_for"] == "2026-03-28T17:00:00+00:00"  # the latest only
    assert len(timed.events.list(project.name)) == 1


@pytest.mark.parametrize(
    ("expression", "expected"),
    [("0 3 * *", "has 4 fields"), ("61 * * * *", "is not valid"), ("0 3 * * funday", "not valid")],
    ids=["too-few-fields", "minute-out-of-range", "bad-weekday"],
)
def test_a_malformed_cron_expression_is_refused(expression: str, expected: str) -> None:
    with pytest.raises(ValidationError, match=expected):
        Triggers(schedule=expression)


def test_a_project_file_with_a_bad_schedule_fails_to_load_naming_it(tmp_path: Path) -> None:
    file = tmp_path / "project.py"
    file.write_text(
        "import evergreen as eg\n"
        "project = eg.Project(name='p', source='data', target='y',\n"
        "    triggers=eg.Triggers(schedule='0 25 * * *', timezone='Europe/Paris'))\n"
    )
    with pytest.raises(InvalidInput, match=r"project.py: .*cron expression '0 25 \* \* \*'"):
        load_project(file)


def test_an_unknown_time_zone_is_refused() -> None:
    with pytest.raises(ValidationError, match="unknown time zone 'Mars/Olympus'"):
        Triggers(schedule="0 3 * * *", timezone="Mars/Olympus")
