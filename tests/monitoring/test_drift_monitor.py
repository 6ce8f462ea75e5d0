"""The drift monitor over a real prediction log written by the gateway's writer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evergreen import bootstrap
from evergreen.bootstrap import Context
from evergreen.monitoring.drift_monitor import DriftMonitor
from evergreen.pipeline.project import Project
from evergreen.serving import PredictionLogWriter


@pytest.fixture
def trained(context: Context, project: Project, hourly: pd.DataFrame, landing: Path) -> int:
    """Version 1 in production, trained on the first eight weeks (winter)."""
    hourly.iloc[: 24 * 7 * 8].to_csv(landing / "week-000.csv", index=False)
    result = bootstrap.pipeline_runner(context).run(project)
    assert result.promoted, result.error
    return result.model_version or 0


def log_inputs(context: Context, project: Project, rows: pd.DataFrame, version: int) -> None:
    writer = PredictionLogWriter(context.artifacts, context.predictions, flush_interval=60)
    features = project.prepared(rows).drop(columns=["cnt"])
    for start in range(0, len(features), 24):
        chunk = features.iloc[start : start + 24].reset_index(drop=True)
        writer.record(project.name, version, f"req-{start}", chunk, np.zeros(len(chunk)))
    writer.close()


@pytest.fixture
def monitor(context: Context) -> DriftMonitor:
    return bootstrap.drift_monitor(context)


def test_no_production_version_means_nothing_to_check(monitor: DriftMonitor) -> None:
    assert monitor.check("bike-demand") is None


def test_waits_for_enough_rows(
    monitor: DriftMonitor, context: Context, project: Project, hourly: pd.DataFrame, trained: int
) -> None:
    log_inputs(context, project, hourly.iloc[1344 : 1344 + 100], trained)
    outcome = monitor.check(project.name)
    assert outcome is not None and outcome.drift is None
    assert "waiting for 672" in outcome.note
    assert context.events.list(project.name) == []


def test_summer_inputs_drift_from_winter_training_and_raise_one_event(
    monitor: DriftMonitor, context: Context, project: Project, hourly: pd.DataFrame, trained: int
) -> None:
    summer = hourly[hourly["mnth"] == 7].iloc[:700]
    log_inputs(context, project, summer, trained)

    outcome = monitor.check(project.name)
    assert outcome is not None and outcome.drift is not None
    assert outcome.rows == 672  # the policy's window
    assert outcome.drift.dataset_drift
    assert {"temp", "atemp"} <= set(outcome.drift.drifted_columns)
    assert outcome.event is not None and outcome.event.kind == "drift"
    assert "drifted" in outcome.event.reason
    assert outcome.event.evidence["drift"]["drift_share"] == outcome.drift.drift_share
    # A second pass on the same drifted window does not queue a second event (debounce).
    again = monitor.check(project.name)
    assert again is not None and again.event is not None and again.event.id == outcome.event.id
    assert len(context.events.list(project.name)) == 1
    results = context.predictions.results(project.name)
    assert [r.kind for r in results] == ["input_drift", "input_drift"]
    assert results[0].value == pytest.approx(outcome.drift.drift_share)
    assert results[0].window_start is not None and results[0].window_end is not None
    assert results[0].window_start < results[0].window_end


def test_inputs_like_the_training_data_do_not_drift(
    monitor: DriftMonitor, context: Context, project: Project, hourly: pd.DataFrame, trained: int
) -> None:
    # The same weeks the model was trained on: no drift, no event.
    log_inputs(context, project, hourly.iloc[: 24 * 7 * 8].sample(700, random_state=1), trained)
    outcome = monitor.check(project.name)
    assert outcome is not None and outcome.drift is not None
    assert not outcome.drift.dataset_drift
    assert outcome.event is None
    assert context.events.list(project.name) == []


@pytest.fixture
def persistent(project: Project) -> Project:
    """The example project, its drift alarm waiting for two drifted windows in a row."""
    policy = project.drift
    project.drift = policy.model_copy(
        update={"spec": policy.spec.model_copy(update={"persistence": 2})}
    )
    return project


def test_persistence_waits_for_consecutive_drifted_windows(
    persistent: Project, context: Context, hourly: pd.DataFrame, landing: Path
) -> None:
    hourly.iloc[: 24 * 7 * 8].to_csv(landing / "week-000.csv", index=False)
    version = bootstrap.pipeline_runner(context).run(persistent).model_version or 0
    monitor = bootstrap.drift_monitor(context)
    log_inputs(context, persistent, hourly[hourly["mnth"] == 7].iloc[:700], version)

    first = monitor.check(persistent.name)
    assert first is not None and first.drift is not None
    assert not first.drift.dataset_drift and first.event is None
    temp = {c.column: c for c in first.drift.columns}["temp"]
    assert not temp.drifted and "1 consecutive window(s); 2 are required" in (temp.note or "")
    assert first.tracker is not None and first.tracker["runs"]["temp"] == 1

    second = monitor.check(persistent.name)  # the state came back from the stored result
    assert second is not None and second.drift is not None and second.drift.dataset_drift
    assert second.event is not None and second.event.kind == "drift"
    assert second.tracker is not None and second.tracker["runs"]["temp"] == 2
