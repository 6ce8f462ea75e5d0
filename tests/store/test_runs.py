"""Pipeline runs, step runs and validation reports, on every backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from evergreen.store.database import Database
from evergreen.store.datasets import DatasetRepository
from evergreen.store.runs import RunRepository
from evergreen.store.tables import (
    DatasetVersionRow,
    PipelineRunRow,
    StepRunRow,
    ValidationReportRow,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def run_row(
    run_id: str, project: str = "bikes", started_at: datetime = T0, **fields: object
) -> PipelineRunRow:
    values: dict[str, object] = {
        "status": "running",
        "code_version": {"git": "abc123"},
        "params": {"alpha": 0.1},
        "outcome": {},
    }
    values.update(fields)
    return PipelineRunRow(id=run_id, project=project, started_at=started_at, **values)


def step_row(step_id: str, run_id: str, name: str, started_at: datetime) -> StepRunRow:
    return StepRunRow(
        id=step_id, run_id=run_id, name=name, status="running", started_at=started_at, outputs={}
    )


def dataset_row(dataset_id: str) -> DatasetVersionRow:
    return DatasetVersionRow(
        id=dataset_id,
        created_at=T0,
        source="/data/day.csv",
        format="csv",
        rows=3,
        columns=["a"],
        files=[],
        schema_json={"a": "int64"},
        tags={},
    )


@pytest.fixture
def runs(db: Database) -> RunRepository:
    return RunRepository(db)


def test_run_round_trips_and_finishes(db: Database, runs: RunRepository) -> None:
    DatasetRepository(db).add_if_absent(dataset_row("ds-1"))
    runs.add_run(run_row("run-1"))
    finished_at = T0 + timedelta(minutes=3)

    runs.finish_run(
        "run-1",
        status="succeeded",
        at=finished_at,
        outcome={"promoted": 2, "metrics": {"rmse": 1.25}},
        dataset_version_id="ds-1",
    )

    row = runs.get_run("run-1")
    assert row is not None
    assert (row.status, row.started_at, row.finished_at) == ("succeeded", T0, finished_at)
    assert row.outcome == {"promoted": 2, "metrics": {"rmse": 1.25}}
    assert (row.code_version, row.params, row.error) == ({"git": "abc123"}, {"alpha": 0.1}, None)
    assert row.dataset_version_id == "ds-1"


def test_failed_run_keeps_its_error(runs: RunRepository) -> None:
    runs.add_run(run_row("run-1"))
    runs.finish_run("run-1", status="failed", at=T0, outcome={}, error="validation failed")
    row = runs.get_run("run-1")
    assert row is not None
    assert (row.status, row.error, row.dataset_version_id) == ("failed", "validation failed", None)


def test_unknown_run_is_none(runs: RunRepository) -> None:
    assert runs.get_run("run-missing") is None


def test_run_must_reference_a_recorded_dataset(db: Database, runs: RunRepository) -> None:
    with pytest.raises(sa.exc.IntegrityError):
        runs.add_run(run_row("run-1", dataset_version_id="ds-missing"))
    assert runs.get_run("run-1") is None


def test_steps_come_back_in_start_order(runs: RunRepository) -> None:
    runs.add_run(run_row("run-1"))
    runs.add_step(step_row("step-2", "run-1", "train", T0 + timedelta(seconds=2)))
    runs.add_step(step_row("step-1", "run-1", "validate", T0 + timedelta(seconds=1)))

    runs.finish_step("step-1", status="succeeded", at=T0 + timedelta(seconds=3), outputs={"ok": 1})

    steps = runs.steps("run-1")
    assert [s.name for s in steps] == ["validate", "train"]
    assert (steps[0].status, steps[0].outputs) == ("succeeded", {"ok": 1})
    assert steps[0].finished_at == T0 + timedelta(seconds=3)
    assert (steps[1].status, steps[1].finished_at) == ("running", None)
    assert runs.steps("run-other") == []


def test_list_runs_is_newest_first_per_project(runs: RunRepository) -> None:
    for i in range(4):
        runs.add_run(run_row(f"run-{i}", started_at=T0 + timedelta(hours=i)))
    runs.add_run(run_row("run-x", project="other", started_at=T0 + timedelta(hours=9)))

    assert [r.id for r in runs.list_runs("bikes")] == ["run-3", "run-2", "run-1", "run-0"]
    assert [r.id for r in runs.list_runs("bikes", limit=2)] == ["run-3", "run-2"]
    assert [r.id for r in runs.list_runs(limit=1)] == ["run-x"]


def test_validation_reports_belong_to_their_run(db: Database, runs: RunRepository) -> None:
    DatasetRepository(db).add_if_absent(dataset_row("ds-1"))
    runs.add_run(run_row("run-1"))
    report = {"anomalies": [{"column": "temp", "kind": "missing", "severity": "error"}]}
    runs.add_validation_report(
        ValidationReportRow(
            id="val-1",
            created_at=T0,
            run_id="run-1",
            dataset_version_id="ds-1",
            reference_dataset_version_id=None,
            passed=False,
            report=report,
        )
    )

    [stored] = runs.validation_reports("run-1")
    assert (stored.passed, stored.report, stored.dataset_version_id) == (False, report, "ds-1")
    assert runs.validation_reports("run-other") == []
