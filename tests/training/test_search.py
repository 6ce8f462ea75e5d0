"""The hyper-parameter search: candidates, pruning, failures and timeouts, reproducibility, and
the same search on every executor."""

from __future__ import annotations

import json
import os
import runpy
import sys
import time
from pathlib import Path
from typing import Any

import cloudpickle
import numpy as np
import pandas as pd
import pytest
import ray.cloudpickle as ray_cloudpickle
from sklearn.dummy import DummyRegressor
from sklearn.linear_model import Ridge
from sklearn.tree import DecisionTreeRegressor

from evergreen.errors import InvalidInput, TrainingFailed
from evergreen.training.candidates import Candidate, Choice, Float, Int, SearchSpec
from evergreen.training.executors import Executor, make_executor
from evergreen.training.metrics import get_metric
from evergreen.training.search import SearchResult, TrialResult, run_search

# Candidates built here travel by value: workers need not import this test module.
cloudpickle.register_pickle_by_value(sys.modules[__name__])
ray_cloudpickle.register_pickle_by_value(sys.modules[__name__])

FEATURES = ["a", "b", "c"]
RMSE = get_metric("rmse")


def rows(n: int, seed: int = 0) -> pd.DataFrame:
    """A linear target with a little noise: Ridge fits it, a constant does not."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(n, 3)), columns=FEATURES)
    frame["y"] = frame @ np.array([1.0, 2.0, -1.0]) + rng.normal(scale=0.1, size=n)
    return frame


FIT, VALIDATION = rows(200), rows(80, seed=1)


def search(candidates: list[Candidate], executor: Executor, **spec: Any) -> SearchResult:
    spec = {"trials": 4, "pruning": False, "timeout_seconds": 30.0, **spec}
    return run_search(
        candidates, FIT, VALIDATION, FEATURES, "y", RMSE, SearchSpec(**spec), executor
    )


def ridge() -> Candidate:
    return Candidate("ridge", lambda **p: Ridge(**p), space={"alpha": Float(1e-3, 10, log=True)})


def tree() -> Candidate:
    return Candidate(
        "tree", DecisionTreeRegressor, space={"max_depth": Int(1, 6)}, fixed={"random_state": 0}
    )


def brief(trial: TrialResult) -> tuple[str, int, dict[str, Any], str, float | None]:
    return trial.candidate, trial.number, trial.params, trial.state, trial.value


def summary(result: SearchResult) -> list[tuple[str, int, dict[str, Any], str, float | None]]:
    return [brief(t) for t in result.trials]


def test_same_search_on_every_executor(executor: Executor) -> None:
    with make_executor("inline") as inline:
        expected = search([ridge(), tree()], inline, seed=3)
    result = search([ridge(), tree()], executor, seed=3)
    assert summary(result) == summary(expected)
    assert brief(result.best) == brief(expected.best)
    assert result.executor == executor.name
    assert result.counts() == {"complete": 8, "pruned": 0, "failed": 0, "timeout": 0}


def test_the_best_candidate_wins_on_validation() -> None:
    mean = Candidate("mean", DummyRegressor)
    with make_executor("inline") as ex:
        result = search([mean, ridge()], ex)
    assert result.best.candidate == "ridge"
    best = result.best_by_candidate()
    assert sorted(best) == ["mean", "ridge"]
    assert best["ridge"].value is not None and best["mean"].value is not None
    assert best["ridge"].value < best["mean"].value / 10
    assert [t.number for t in result.trials if t.candidate == "mean"] == [0]  # no space: 1 trial
    assert result.trials[0].params == {}


def test_same_seed_same_trials_and_best_another_seed_other_params() -> None:
    with make_executor("inline") as ex:
        first, again = search([ridge(), tree()], ex, seed=7), search([ridge(), tree()], ex, seed=7)
        other = search([ridge(), tree()], ex, seed=8)
    assert summary(first) == summary(again)
    assert brief(first.best) == brief(again.best)
    assert [t.params for t in first.trials] != [t.params for t in other.trials]


def test_pruning_stops_trials_worse_than_the_median_at_a_small_budget() -> None:
    # A constant prediction scores the same at every budget: a trial whose constant is further
    # from the target's mean than the median of the completed ones is clearly bad.
    constant = Candidate(
        "constant",
        lambda **p: DummyRegressor(strategy="constant", **p),
        space={"constant": Float(0.0, 100.0)},
    )
    with make_executor("inline") as ex:
        result = search(
            [constant], ex, trials=8, pruning=True, startup_trials=1, budgets=(0.25, 1.0)
        )
    pruned = [t for t in result.trials if t.state == "pruned"]
    complete = [t for t in result.trials if t.state == "complete"]
    assert pruned, summary(result)
    assert result.trials[0].state == "complete"  # before startup_trials completed, none is pruned
    for trial in pruned:
        assert trial.value is None and list(trial.intermediate) == [0.25]
        earlier = [t.value for t in complete if t.number < trial.number and t.value is not None]
        assert trial.intermediate[0.25] > float(np.median(earlier))
    assert all(list(t.intermediate) == [0.25, 1.0] for t in complete)
    assert result.best.state == "complete"


def test_budgets_fit_on_the_newest_rows() -> None:
    # A constant model of the mean: at budget 0.5 it sees only the last half of the fit rows.
    fit = pd.DataFrame({"a": 0.0, "b": 0.0, "c": 0.0, "y": [0.0] * 100 + [10.0] * 100})
    held = pd.DataFrame({"a": [0.0], "b": [0.0], "c": [0.0], "y": [10.0]})
    spec = SearchSpec(pruning=False, budgets=(0.5, 1.0))
    with make_executor("inline") as ex:
        result = run_search(
            [Candidate("mean", DummyRegressor)], fit, held, FEATURES, "y", RMSE, spec, ex
        )
    assert result.best.intermediate == {0.5: 0.0, 1.0: 5.0}


@pytest.mark.parametrize("executor", ["process"], indirect=True)
def test_a_failing_trial_is_recorded_and_the_search_goes_on(executor: Executor) -> None:
    broken = Candidate(
        "broken", lambda **p: Ridge(solver_typo=1, **p), space={"alpha": Float(1, 2)}
    )
    progress: list[tuple[str, int, int]] = []
    result = run_search(
        [broken, ridge()],
        FIT,
        VALIDATION,
        FEATURES,
        "y",
        RMSE,
        SearchSpec(trials=2, pruning=False),
        executor,
        progress=lambda t, done, total: progress.append((t.state, done, total)),
    )
    failed = [t for t in result.trials if t.candidate == "broken"]
    assert [t.state for t in failed] == ["failed", "failed"]
    assert failed[0].error is not None
    assert failed[0].error.startswith("TypeError: Ridge.__init__() got an unexpected keyword")
    assert "(in <lambda>, line" in failed[0].error
    assert result.best.candidate == "ridge"
    assert [(done, total) for _, done, total in progress] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    json.dumps(result.to_dict())  # JSON-ready, failures included


@pytest.mark.parametrize("executor", ["process", "ray"], indirect=True)
def test_a_hanging_trial_times_out_its_worker_is_killed_and_others_complete(
    executor: Executor, tmp_path: Path
) -> None:
    pid_file = tmp_path / "pid"

    def sleepy(**params: Any) -> Ridge:
        pid_file.write_text(str(os.getpid()))
        time.sleep(60)
        return Ridge(**params)

    slow = Candidate("slow", sleepy)
    # generous: a loaded CI machine must not time out the quick ridge trials too
    result = search([slow, ridge()], executor, trials=3, timeout_seconds=5)
    by_state = {t.candidate: t.state for t in result.trials}
    assert by_state == {"slow": "timeout", "ridge": "complete"}
    assert result.trials[0].error == "timed out after 5 s; its worker was killed"
    assert result.counts() == {"complete": 3, "pruned": 0, "failed": 0, "timeout": 1}
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"the worker of the hung trial (pid {pid}) is still running")


@pytest.mark.parametrize("executor", ["process"], indirect=True)
def test_a_trial_whose_worker_dies_is_recorded_failed(executor: Executor) -> None:
    dying = Candidate("dying", lambda **p: os._exit(1))
    result = search([dying, ridge()], executor, trials=2)
    assert result.trials[0].state == "failed"
    assert result.trials[0].error is not None
    assert result.trials[0].error.startswith("worker died (pid ")
    assert result.best.candidate == "ridge"


def test_no_trial_completing_is_training_failed() -> None:
    broken = Candidate("broken", lambda **p: Ridge(solver_typo=1), space={"alpha": Float(1, 2)})
    nan = Candidate("nan", lambda: DummyRegressor(strategy="constant", constant=float("nan")))
    with make_executor("inline") as ex, pytest.raises(TrainingFailed) as caught:
        search([broken, nan], ex, trials=2)
    message = str(caught.value)
    assert message.startswith("no trial completed (3 failed); first errors: broken #0: TypeError")
    assert "nan #0: " in message
    assert "raise timeout_seconds" in message


def test_a_project_file_lambda_runs_in_the_process_pool(tmp_path: Path) -> None:
    project = tmp_path / "project.py"
    project.write_text(
        "from sklearn.linear_model import Ridge\n"
        "from evergreen.training.candidates import Candidate, Float\n"
        "SCALE = 2.0\n"
        "CANDIDATES = [Candidate('ridge', lambda **p: Ridge(alpha=SCALE * p['alpha']),\n"
        "                        space={'alpha': Float(0.01, 1.0)})]\n"
    )
    candidates = runpy.run_path(str(project))["CANDIDATES"]
    with make_executor("process", workers=2) as ex:
        result = search(candidates, ex, trials=2)
    assert result.counts()["complete"] == 2
    assert result.best.value is not None and result.best.value < 0.2


def test_trial_results_serialize() -> None:
    trial = TrialResult("ridge", 0, {"alpha": 1.0}, "pruned", None, {0.3: 1.5}, 0.25)
    assert trial.to_dict() == {
        "candidate": "ridge",
        "number": 0,
        "params": {"alpha": 1.0},
        "state": "pruned",
        "value": None,
        "intermediate": {"0.3": 1.5},
        "seconds": 0.25,
        "error": None,
    }
    with make_executor("inline") as ex:
        result = search(
            [ridge(), Candidate("pick", Ridge, space={"fit_intercept": Choice([True, False])})],
            ex,
            trials=2,
        )
    data = json.loads(json.dumps(result.to_dict()))
    assert data["metric"] == "rmse" and data["executor"] == "inline"
    assert sorted(data["best_by_candidate"]) == ["pick", "ridge"]
    assert len(data["trials"]) == 4


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"candidates": []}, "no candidates"),
        ({"candidates": [Candidate("x", Ridge), Candidate("x", Ridge)]}, r"repeated: \['x'\]"),
        ({"features": ["a", "zzz"]}, r"the fit rows lack columns \['zzz'\]"),
        ({"validation": VALIDATION.iloc[:0]}, "validation rows are empty"),
    ],
    ids=["no-candidates", "duplicate-names", "missing-column", "empty-validation"],
)
def test_bad_input_is_refused(change: dict[str, Any], message: str) -> None:
    args: dict[str, Any] = {
        "candidates": [ridge()],
        "fit": FIT,
        "validation": VALIDATION,
        "features": FEATURES,
        "target": "y",
        "metric": RMSE,
        "spec": SearchSpec(),
        **change,
    }
    with make_executor("inline") as ex, pytest.raises(InvalidInput, match=message):
        run_search(executor=ex, **args)
