"""The performance trigger: the live metric of the serving version (the monitor's
``performance.<metric>`` series) against an absolute bound or the version's own holdout score."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from evergreen import bootstrap
from evergreen.bootstrap import Context
from evergreen.core.ids import new_id
from evergreen.pipeline.project import Project
from evergreen.pipeline.triggers import PerformanceTrigger, Triggers
from evergreen.store.tables import MonitorResultRow


def live_rmse(ctx: Context, project: Project, value: float, rows: int) -> MonitorResultRow:
    production = ctx.registry.production(project.name)
    assert production is not None
    row = MonitorResultRow(
        id=new_id("mon"),
        at=ctx.clock.now(),
        model=project.name,
        version=production.version,
        kind="performance.rmse",
        value=value,
        rows=rows,
        details={"labelled": rows},
        feature=None,
        window_start=ctx.clock.now(),
        window_end=ctx.clock.now(),
    )
    ctx.predictions.add_result(row)
    return row


@pytest.fixture
def served(context: Context, project: Project, hourly: pd.DataFrame, landing: Path) -> float:
    """Train and promote a first version; its holdout RMSE."""
    hourly.iloc[:2000].to_csv(landing / "a.csv", index=False)
    project.triggers = Triggers(drift=False)
    controller = bootstrap.controller(context, {project.name: project})
    controller.trigger(project.name, "manual", "first model")
    ((_, result),) = controller.drain()
    assert result.promoted
    return float(result.metrics["rmse"])


def test_worse_than_its_own_score_by_the_margin_retrains_with_the_evidence(
    context: Context, project: Project, served: float, hourly: pd.DataFrame, landing: Path
) -> None:
    project.triggers = Triggers(
        drift=False, performance=PerformanceTrigger(margin=0.2, min_labels=100)
    )
    service = bootstrap.service(context, {project.name: project})
    live_rmse(context, project, served * 1.1, rows=500)  # within the margin
    assert service.check_performance(project) is None

    result = live_rmse(context, project, served * 1.5, rows=500)
    event = service.check_performance(project)
    assert event is not None and event.kind == "performance"
    assert "more than 20% worse than its holdout score" in event.reason
    evidence = event.evidence
    assert evidence["monitor_result"] == result.id
    assert evidence["value"] == pytest.approx(served * 1.5)
    assert evidence["limit"] == pytest.approx(served * 1.2)
    assert evidence["labelled"] == 500

    hourly.iloc[2000:2500].to_csv(landing / "b.csv", index=False)  # the labels landed
    ((ran, run),) = service.controller.drain()
    assert ran.id == event.id and run.status == "succeeded"
    assert context.registry.get_version(project.name, 2).tags["trigger_event_id"] == event.id


def test_too_few_labels_is_no_evidence(context: Context, project: Project, served: float) -> None:
    project.triggers = Triggers(drift=False, performance=PerformanceTrigger(bound=1.0))
    service = bootstrap.service(context, {project.name: project})
    live_rmse(context, project, served * 3, rows=99)
    assert service.check_performance(project) is None
    live_rmse(context, project, served * 3, rows=100)
    assert service.check_performance(project) is not None


def test_an_absolute_bound(context: Context, project: Project, served: float) -> None:
    project.triggers = Triggers(
        drift=False, performance=PerformanceTrigger(bound=served * 2, min_labels=10)
    )
    service = bootstrap.service(context, {project.name: project})
    live_rmse(context, project, served * 1.9, rows=50)
    assert service.check_performance(project) is None
    live_rmse(context, project, served * 2.1, rows=50)
    event = service.check_performance(project)
    assert event is not None and "worse than the bound" in event.reason


def test_a_performance_trigger_needs_a_rule() -> None:
    with pytest.raises(ValueError, match=r"needs bound= .* or margin="):
        PerformanceTrigger()
