"""Candidates and their search inside the pipeline: the best on validation rows is refitted on
all training rows, judged on the holdout, registered with what chose it; failing trials are
recorded, a search where every trial fails registers nothing; reproduce pins the choice."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sklearn.dummy import DummyRegressor
from sklearn.ensemble import HistGradientBoostingRegressor

import evergreen as eg
from evergreen import bootstrap
from evergreen.bootstrap import Context
from evergreen.pipeline.project import Project
from evergreen.pipeline.reproduce import reproduce
from evergreen.pipeline.runner import PipelineRunner
from evergreen.training.search import TrialResult


@pytest.fixture
def runner(context: Context) -> PipelineRunner:
    runner = bootstrap.pipeline_runner(context)
    runner.executor = "inline"  # the executors have their own tests; this is the pipeline's
    return runner


@pytest.fixture
def landed(hourly: pd.DataFrame, landing: Path) -> Path:
    hourly.iloc[:1500].to_csv(landing / "week-000.csv", index=False)
    return landing


def boom(**params: Any) -> Any:
    raise RuntimeError("this estimator cannot be built")


def searched(project: Project, *candidates: eg.Candidate, trials: int = 3) -> Project:
    return dataclasses.replace(
        project,
        model=None,
        candidates=list(candidates),
        search=eg.SearchSpec(trials=trials, pruning=False),
    )


BOOSTING = eg.Candidate(
    "boosting",
    lambda **p: HistGradientBoostingRegressor(random_state=0, **p),
    space={"max_iter": eg.Int(20, 60), "learning_rate": eg.Float(0.05, 0.2, log=True)},
)
DUMMY = eg.Candidate("dummy", lambda **p: DummyRegressor(**p))


def test_the_best_candidate_wins_and_its_choice_is_recorded(
    runner: PipelineRunner, context: Context, project: Project, landed: Path
) -> None:
    seen: list[tuple[str, int, int]] = []

    def on_trial(trial: TrialResult, done: int, total: int) -> None:
        seen.append((trial.candidate, done, total))

    result = runner.run(searched(project, BOOSTING, DUMMY), on_trial=on_trial)
    assert result.status == "succeeded", result.error
    assert len(seen) == 4 and [d for _, d, _ in seen] == [1, 2, 3, 4]
    assert {c for c, _, _ in seen} == {"boosting", "dummy"}

    version = context.registry.get_version(project.name, 1)
    assert version.tags["candidate"] == "boosting"  # a constant predictor loses
    params = version.tags["search_params"]
    assert set(params) == {"max_iter", "learning_rate"}
    assert version.params["max_iter"] == params["max_iter"]  # the refitted estimator's
    train = next(s for s in context.runs.steps(result.run_id) if s.name == "train")
    assert train.outputs["candidate"] == "boosting"

    # The search's full record travels with the run's cached train outputs.
    kept = context.runs.cached_step(train.outputs["fingerprint"])
    assert kept is not None and kept.outputs["search"]["codec"] == "json"
    search = kept.outputs["search"]["value"]["search"]
    assert len(search["trials"]) == 4
    assert search["best"]["candidate"] == "boosting"

    again = reproduce(runner, searched(project, BOOSTING, DUMMY), project.name, 1)
    assert again.identical and again.artifact_identical


def test_failing_trials_are_recorded_and_the_search_goes_on(
    runner: PipelineRunner, context: Context, project: Project, landed: Path
) -> None:
    broken = eg.Candidate("broken", boom)
    result = runner.run(searched(project, broken, DUMMY))
    assert result.status == "succeeded", result.error
    assert context.registry.get_version(project.name, 1).tags["candidate"] == "dummy"


def test_a_search_where_every_trial_fails_registers_nothing(
    runner: PipelineRunner, context: Context, project: Project, landed: Path
) -> None:
    result = runner.run(searched(project, eg.Candidate("broken", boom)))
    assert result.status == "failed"
    assert result.failed_step == "train"
    assert result.error is not None and "this estimator cannot be built" in result.error
    assert context.registry.list_models() == []
