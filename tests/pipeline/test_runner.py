"""The pipeline on real data, a real SQLite store and real artifacts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evergreen import bootstrap
from evergreen.bootstrap import Context
from evergreen.pipeline.project import Project
from evergreen.pipeline.runner import PipelineRunner
from evergreen.validation.statistics import DatasetStatistics

STEPS = [
    "ingest",
    "validate",
    "prepare",
    "split",
    "train",
    "evaluate",
    "gate",
    "register",
    "promote",
]


@pytest.fixture
def runner(context: Context) -> PipelineRunner:
    return bootstrap.pipeline_runner(context)


def land(frame: pd.DataFrame, landing: Path, name: str) -> None:
    frame.to_csv(landing / f"{name}.csv", index=False)


def test_first_run_registers_and_promotes(
    runner: PipelineRunner, context: Context, project: Project, hourly: pd.DataFrame, landing: Path
) -> None:
    land(hourly.iloc[:2000], landing, "week-000")
    result = runner.run(project)

    assert result.status == "succeeded", result.error
    assert (result.model_version, result.promoted) == (1, True)
    assert result.gate is not None and result.gate.passed and result.gate.baseline is None
    steps = context.runs.steps(result.run_id)
    # validate and prepare run at the same time: either may be recorded first
    assert sorted(s.name for s in steps) == sorted(STEPS)
    assert [s.name for s in steps if s.name not in ("validate", "prepare")] == [
        s for s in STEPS if s not in ("validate", "prepare")
    ]
    assert all(s.status == "succeeded" for s in steps)
    version = context.registry.get_version(project.name, 1)
    assert version.stage == "production"
    assert version.dataset_version_id == result.dataset_version
    assert version.run_id == result.run_id
    assert set(version.baseline) >= {"schema", "features_schema", "reference_sha256", "drift"}
    statistics = DatasetStatistics.from_dict(version.baseline["statistics"])
    assert statistics.columns["temp"].mean is not None
    assert statistics.columns["temp"].sketch is None  # the summary only
    assert version.tags["split"] == project.split.model_dump()
    assert version.validation["passed"] is True
    assert version.runtime_metrics["train_seconds"] > 0
    expected = [c for c in project.prepared(hourly.iloc[:2000]).columns if c != "cnt"]
    assert [c["name"] for c in version.signature["inputs"]] == expected
    # The registered model predicts what a model trained on the same rows predicts.
    loaded = context.registry.load(project.name, 1)
    sample = project.prepared(hourly.iloc[:2000]).head(5)
    assert loaded.predict(sample).shape == (5,)
    reports = context.runs.validation_reports(result.run_id)
    assert len(reports) == 1 and reports[0].passed


def test_gate_compares_with_production_on_the_same_holdout(
    runner: PipelineRunner, context: Context, project: Project, hourly: pd.DataFrame, landing: Path
) -> None:
    land(hourly.iloc[:2000], landing, "week-000")
    assert runner.run(project).promoted
    land(hourly.iloc[2000:3500], landing, "week-001")
    second = runner.run(project)

    assert second.status == "succeeded", second.error
    assert second.gate is not None and second.gate.baseline_version == 1
    # Recompute the production score on the candidate's holdout independently.
    from evergreen.data.splits import split

    prepared = project.prepared(context.datasets.load(second.dataset_version or ""))
    _, holdout = split(prepared, project.split)
    production = context.registry.load(project.name, 1)
    rmse = float(np.sqrt(np.mean((production.predict(holdout) - holdout["cnt"]) ** 2)))
    assert second.gate.baseline == pytest.approx(rmse)
    assert second.gate.passed == (second.gate.candidate <= rmse)
    stage = context.registry.get_version(project.name, 2).stage
    assert stage == ("production" if second.gate.passed else "development")


def test_failing_gate_registers_but_leaves_production(
    runner: PipelineRunner, context: Context, project: Project, hourly: pd.DataFrame, landing: Path
) -> None:
    land(hourly.iloc[:2000], landing, "week-000")
    runner.run(project)
    project.gate = project.gate.model_copy(update={"min_improvement": 0.9})  # 90% better: no
    land(hourly.iloc[2000:2500], landing, "week-001")
    result = runner.run(project)

    assert result.status == "succeeded"
    assert result.gate is not None and not result.gate.passed
    assert "does not beat production v1" in result.gate.reason
    assert not result.promoted
    assert context.registry.production(project.name).version == 1  # type: ignore[union-attr]
    assert context.registry.get_version(project.name, 2).gate["passed"] is False


def test_validation_error_halts_the_run_and_registers_nothing(
    runner: PipelineRunner, context: Context, project: Project, hourly: pd.DataFrame, landing: Path
) -> None:
    land(hourly.iloc[:2000], landing, "week-000")
    runner.run(project)
    for old in landing.iterdir():
        old.unlink()
    land(hourly.iloc[2000:3000].drop(columns=["temp"]), landing, "broken")
    result = runner.run(project)

    assert result.status == "failed"
    assert result.error is not None and "temp" in result.error
    assert result.model_version is None
    assert [v.version for v in context.registry.versions(project.name)] == [1]
    assert context.registry.production(project.name).version == 1  # type: ignore[union-attr]
    assert result.failed_step == "validate"
    steps = {s.name: s.status for s in context.runs.steps(result.run_id)}
    assert (steps["ingest"], steps["validate"]) == ("succeeded", "failed")
    # Preparation runs beside validation (it may have started, and failed on the missing
    # column); nothing after it started.
    assert set(steps) <= {"ingest", "validate", "prepare"}
    assert context.runs.get_run(result.run_id).status == "failed"  # type: ignore[union-attr]
    report = context.runs.validation_reports(result.run_id)[0]
    assert not report.passed
    assert any(a["column"] == "temp" for a in report.report["anomalies"])


def test_a_schema_saved_with_the_data_is_what_validation_checks_and_keeps(
    runner: PipelineRunner, context: Context, project: Project, hourly: pd.DataFrame, landing: Path
) -> None:
    from evergreen.validation.saved_schemas import SavedSchemas
    from evergreen.validation.schema import ColumnSchema

    land(hourly.iloc[:2000], landing, "week-000")
    version = context.datasets.snapshot(landing)
    schemas = runner.schemas
    assert isinstance(schemas, SavedSchemas)
    inferred = schemas.of(version.id).schema
    strict = inferred.model_copy(
        update={
            "columns": [
                c.model_copy(update={"max": 0.5, "checks": {"out_of_range": "error"}})
                if c.name == "temp"
                else c
                for c in inferred.columns
            ]
        }
    )
    assert isinstance(strict.columns[0], ColumnSchema)
    saved = schemas.save(version.id, strict, "edited", note="no hot days")

    failed = runner.run(project)
    assert failed.status == "failed" and failed.error is not None
    assert "out_of_range" in failed.error and "temp" in failed.error
    validate = {s.name: s for s in context.runs.steps(failed.run_id)}["validate"]
    assert validate.outputs["schema"] == f"saved {saved.id} (edited)"

    schemas.save(version.id, inferred, "edited", note="hot days are fine after all")
    passed = runner.run(project)
    assert passed.status == "succeeded", passed.error
    kept = context.registry.get_version(project.name, passed.model_version or 0)
    assert kept.baseline["schema"] == inferred.to_dict()


def test_user_code_error_is_recorded_with_its_step(
    runner: PipelineRunner, context: Context, project: Project, hourly: pd.DataFrame, landing: Path
) -> None:
    def prepare(_raw: pd.DataFrame) -> pd.DataFrame:
        raise KeyError("no_such_column")

    project.prepare = prepare
    land(hourly.iloc[:500], landing, "week-000")
    result = runner.run(project)

    assert result.status == "failed"
    assert (
        result.error is not None and "KeyError" in result.error and "no_such_column" in result.error
    )
    steps = {s.name: (s.status, s.error) for s in context.runs.steps(result.run_id)}
    assert steps["prepare"][0] == "failed"
    assert context.registry.list_models() == []


def test_missing_source_fails_cleanly(
    runner: PipelineRunner, project: Project, tmp_path: Path
) -> None:
    result = runner.run(project, source=str(tmp_path / "nowhere"))
    assert result.status == "failed"
    assert result.error is not None and "nowhere" in result.error


def test_automation_level_zero_registers_without_promoting(
    runner: PipelineRunner, context: Context, project: Project, hourly: pd.DataFrame, landing: Path
) -> None:
    project.automation = 0
    land(hourly.iloc[:1000], landing, "week-000")
    result = runner.run(project)
    assert result.status == "succeeded" and result.model_version == 1
    assert not result.promoted
    assert context.registry.production(project.name) is None


def test_run_records_code_version_and_project_spec(
    runner: PipelineRunner, context: Context, project: Project, hourly: pd.DataFrame, landing: Path
) -> None:
    land(hourly.iloc[:1000], landing, "week-000")
    result = runner.run(project, reason="unit test")
    row = context.runs.get_run(result.run_id)
    assert row is not None
    assert row.params["project"]["target"] == "cnt"
    assert row.params["reason"] == "unit test"
    assert "git_commit" in row.code_version
    assert row.outcome["model_version"] == 1


def test_the_gate_judges_slices_and_records_them(
    runner: PipelineRunner, context: Context, project: Project, hourly: pd.DataFrame, landing: Path
) -> None:
    from evergreen.training.gate import GateSpec

    project.gate = GateSpec(slices=("workingday", "hr"), max_slice_regression=0.5)
    land(hourly.iloc[:2000], landing, "week-000")
    first = runner.run(project)
    assert first.status == "succeeded", first.error
    assert first.gate is not None
    assert {s["value"] for s in first.gate.slices if s["column"] == "workingday"} == {"0", "1"}
    assert all(s["baseline"] is None for s in first.gate.slices)

    land(hourly.iloc[2000:3000], landing, "week-001")
    second = runner.run(project)
    assert second.gate is not None and second.gate.baseline_version == 1
    slices = {(s["column"], s["value"]): s for s in second.gate.slices}
    assert all(s["baseline"] is not None and s["rows"] >= 30 for s in slices.values())
    stored = context.registry.get_version(project.name, second.model_version or 0).gate
    assert stored["slices"] == second.gate.slices

    project.gate = GateSpec(slices=("region",))
    failed = runner.run(project)
    assert failed.status == "failed" and failed.error is not None
    assert "the gate slices by ['region']" in failed.error
