"""Step caching and resume, on the real bike data, a real SQLite store and real artifacts."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import evergreen as eg
from evergreen import bootstrap
from evergreen.bootstrap import Context
from evergreen.errors import IntegrityFailure, InvalidState, NotFound
from evergreen.pipeline.project import Project
from evergreen.pipeline.runner import PipelineRunner

COMPUTED = ["validate", "prepare", "split", "train", "evaluate"]


@pytest.fixture
def runner(context: Context) -> PipelineRunner:
    return bootstrap.pipeline_runner(context)


@pytest.fixture
def landed(hourly: pd.DataFrame, landing: Path) -> Path:
    hourly.iloc[:1500].to_csv(landing / "week-000.csv", index=False)
    return landing


class CountingLoads:
    """Counts how often a dataset version's rows are read (the real store underneath)."""

    def __init__(self, context: Context, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        original = context.datasets.load

        def load(*args: Any, **kwargs: Any) -> pd.DataFrame:
            self.calls += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(context.datasets, "load", load)


def test_a_rerun_with_nothing_changed_reuses_every_step_and_the_version(
    runner: PipelineRunner,
    context: Context,
    project: Project,
    landed: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = runner.run(project)
    assert first.status == "succeeded", first.error
    assert first.cached_steps == []
    # Production changed (none → v1), so the data is checked against its schema and the
    # candidate against it again; the model is the same one.
    second = runner.run(project)
    assert second.cached_steps == ["prepare", "split", "train", "evaluate"]
    assert (second.model_version, second.promoted) == (1, False)

    loads = CountingLoads(context, monkeypatch)
    third = runner.run(project)
    assert third.status == "succeeded", third.error
    assert third.cached_steps == [*COMPUTED, "gate"]
    assert loads.calls == 0  # nothing was read: every value came from the cache, unloaded
    assert third.model_version == 1 and third.metrics == first.metrics
    assert third.gate is not None and third.gate.passed
    assert [v.version for v in context.registry.versions(project.name)] == [1]
    steps = {s.name: s for s in context.runs.steps(third.run_id)}
    assert steps["train"].status == "cached"
    assert steps["train"].outputs["cached_from"] == first.run_id
    assert steps["register"].outputs["reused"] is True


def test_changed_code_reruns_that_step_and_what_depends_on_it(
    runner: PipelineRunner, context: Context, project: Project, landed: Path
) -> None:
    assert runner.run(project).status == "succeeded"
    assert runner.run(project).status == "succeeded"  # the same production from here on
    assert project.prepare is not None
    original = project.prepare

    def prepare(raw: pd.DataFrame) -> pd.DataFrame:
        frame = original(raw)
        return frame.assign(temp_x_hum=frame["temp"] * frame["hum"])

    changed = dataclasses.replace(project, prepare=prepare)
    result = runner.run(changed)
    assert result.status == "succeeded", result.error
    assert result.cached_steps == ["validate"]  # the data and its checks did not change
    assert result.model_version == 2
    inputs = context.registry.get_version(project.name, 2).signature["inputs"]
    assert "temp_x_hum" in [c["name"] for c in inputs]


def test_no_cache_runs_every_step_and_registers_a_new_version(
    runner: PipelineRunner, context: Context, project: Project, landed: Path
) -> None:
    assert runner.run(project).status == "succeeded"
    again = runner.run(project, use_cache=False)
    assert again.status == "succeeded", again.error
    assert again.cached_steps == []
    assert again.model_version == 2


def test_a_failed_step_resumes_on_the_same_data_reusing_what_succeeded(
    runner: PipelineRunner,
    context: Context,
    project: Project,
    landed: Path,
    hourly: pd.DataFrame,
    tmp_path: Path,
) -> None:
    broken = tmp_path / "broken"
    broken.touch()

    @eg.step(after="split", outputs=["train"])
    def check_rows(train: pd.DataFrame) -> pd.DataFrame:
        if broken.exists():
            raise RuntimeError("the feature store is down")
        return train

    flaky = dataclasses.replace(project, steps=[check_rows])
    failed = runner.run(flaky)
    assert failed.status == "failed"
    assert failed.failed_step == "check_rows"
    assert failed.error is not None and "RuntimeError: the feature store is down" in failed.error
    assert failed.model_version is None
    assert context.registry.list_models() == []  # nothing registered, nothing half-written
    steps = {s.name: s.status for s in context.runs.steps(failed.run_id)}
    assert steps == {
        "ingest": "succeeded",
        "validate": "succeeded",
        "prepare": "succeeded",
        "split": "succeeded",
        "check_rows": "failed",
    }

    # New data lands meanwhile; the resumed run keeps the failed run's data version.
    hourly.iloc[1500:2500].to_csv(landed / "week-001.csv", index=False)
    broken.unlink()
    resumed = runner.run(flaky, resume=failed.run_id)
    assert resumed.status == "succeeded", resumed.error
    assert resumed.resumed_from == failed.run_id
    assert resumed.dataset_version == failed.dataset_version
    assert resumed.cached_steps == ["validate", "prepare", "split"]
    assert resumed.model_version == 1

    with pytest.raises(InvalidState, match="succeeded; there is nothing to resume"):
        runner.run(flaky, resume=resumed.run_id)
    with pytest.raises(NotFound, match="no pipeline run"):
        runner.run(flaky, resume="run-absent")


def test_a_custom_evaluation_step_adds_metrics_to_the_version(
    runner: PipelineRunner, context: Context, project: Project, landed: Path
) -> None:
    @eg.step(after="evaluate", outputs=["metrics"])
    def with_mae(
        metrics: dict[str, float], predictions: np.ndarray, holdout: pd.DataFrame
    ) -> dict[str, float]:
        error = np.abs(holdout["cnt"].to_numpy() - predictions)
        return {**metrics, "mae": float(error.mean())}

    result = runner.run(dataclasses.replace(project, steps=[with_mae]))
    assert result.status == "succeeded", result.error
    assert set(result.metrics) == {"rmse", "mae"}
    stored = context.registry.get_version(project.name, 1).metrics
    assert stored["mae"] == pytest.approx(result.metrics["mae"])
    assert stored["mae"] < stored["rmse"]


def test_a_missing_cached_blob_is_computed_again(
    runner: PipelineRunner, context: Context, project: Project, landed: Path
) -> None:
    first = runner.run(project)
    train = next(s for s in context.runs.steps(first.run_id) if s.name == "train")
    kept = context.runs.cached_step(train.outputs["fingerprint"])
    assert kept is not None
    model_blob = kept.outputs["model"]["sha256"]
    Path(context.artifacts.uri(model_blob)).unlink()

    again = runner.run(project, use_cache=True)
    assert again.status == "succeeded", again.error
    assert "train" not in again.cached_steps
    assert "split" in again.cached_steps


def test_a_damaged_cached_blob_fails_the_run_clearly(
    runner: PipelineRunner, context: Context, project: Project, landed: Path
) -> None:
    first = runner.run(project)
    split = next(s for s in context.runs.steps(first.run_id) if s.name == "split")
    kept = context.runs.cached_step(split.outputs["fingerprint"])
    assert kept is not None
    path = Path(context.artifacts.uri(kept.outputs["train"]["sha256"]))
    path.write_bytes(path.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(IntegrityFailure):
        context.artifacts.get_bytes(kept.outputs["train"]["sha256"])

    # Production changed since, so the gate reads the holdout (fine) and register reuses the
    # version; a step that must read the damaged training rows fails with the store's error.
    changed = dataclasses.replace(project, model=lambda: _small_model())
    result = runner.run(changed)
    assert result.status == "failed"
    assert result.failed_step == "train"
    assert result.error is not None
    assert "cached output 'train' of step 'split'" in result.error
    assert "is damaged" in result.error and "running again computes it" in result.error
    assert context.registry.production(project.name).version == 1  # production untouched

    again = runner.run(changed)  # the damaged entry was forgotten: computed afresh
    assert again.status == "succeeded", again.error
    assert "split" not in again.cached_steps


def _small_model() -> Any:
    from sklearn.ensemble import HistGradientBoostingRegressor

    return HistGradientBoostingRegressor(max_iter=20, random_state=0)


def test_independent_steps_run_at_the_same_time(
    runner: PipelineRunner, project: Project, landed: Path
) -> None:
    """Two steps that read nothing from each other overlap: each waits for the other to have
    started, which only works when they run at once."""
    started = {"left": threading.Event(), "right": threading.Event()}

    def meet(me: str, other: str) -> Callable[[pd.DataFrame], int]:
        def work(prepared: pd.DataFrame) -> int:
            started[me].set()
            if not started[other].wait(timeout=20):
                raise RuntimeError(f"{other} never ran beside {me}")
            return len(prepared)

        return work

    left = eg.step("left", after="prepare", outputs=["left_rows"], cache=False)(
        meet("left", "right")
    )
    right = eg.step("right", after="prepare", outputs=["right_rows"], cache=False)(
        meet("right", "left")
    )
    result = runner.run(dataclasses.replace(project, steps=[left, right]))
    assert result.status == "succeeded", result.error
    assert result.artifacts["left_rows"].get() == result.artifacts["right_rows"].get() > 0
