"""The hyper-parameter search: trials of every candidate on an executor, the best chosen on the
validation rows.

One Optuna study per candidate (a TPE sampler seeded with ``spec.seed`` plus the candidate's
index), driven through Optuna's ask/tell interface: the driver asks for parameters, sends the
trial to the executor, keeps ``executor.workers`` trials in flight across all candidates, and
tells each study its results as they come back. A candidate without a space gets one trial of
its ``fixed`` parameters.

A trial (:func:`run_trial`, in the worker) builds ``candidate.model(**fixed, **params)`` and, for
each budget ``b`` of ``spec.budgets``, fits it on the last ``ceil(b * n)`` rows of ``fit`` (the
newest ones when the rows are in time order) and scores it on ``validation``. With
``spec.pruning``, a trial whose score at a budget below 1.0 is worse than the median score of its
candidate's completed trials at that budget stops there (Optuna's median-pruner rule, once
``spec.startup_trials`` trials of the candidate have completed). The medians are computed by the
driver when it dispatches the trial and travel with it, so pruning needs no storage shared with
the workers and works on every executor.

A trial that raises is recorded as failed (``"TypeError: message (file.py:12)"``), one past
``spec.timeout_seconds`` as timed out, one whose worker died as failed saying so; the search
goes on. :class:`~evergreen.errors.TrainingFailed` is raised when no trial completes.

Reproducibility: with the same seed, the inline executor (one trial at a time) gives the same
parameters and the same best. In parallel, TPE's suggestions after its random start-up trials
(Optuna's default: 10 per study) and the pruning medians depend on the order in which trials
finish, which varies; with no more trials per candidate than that start-up, and pruning off, a
process pool or Ray reproduces the inline results exactly.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import optuna
import pandas as pd

from evergreen.errors import InvalidInput, TrainingFailed
from evergreen.training.candidates import Candidate, Choice, Float, Int, Param, SearchSpec
from evergreen.training.executors import Executor, Outcome, Shared
from evergreen.training.metrics import Metric

TrialState = Literal["complete", "pruned", "failed", "timeout"]


@dataclass(frozen=True)
class TrialResult:
    """One trial: its parameters, how it ended, its validation score (``value``, when complete)
    and its scores at each budget (``intermediate``: share of the fit rows -> score)."""

    candidate: str
    number: int
    params: dict[str, Any]
    state: TrialState
    value: float | None
    intermediate: dict[float, float] = field(default_factory=dict)
    seconds: float = 0.0
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "candidate": self.candidate,
            "number": self.number,
            "params": dict(self.params),
            "state": self.state,
            "value": self.value,
            "intermediate": {str(b): v for b, v in self.intermediate.items()},
            "seconds": round(self.seconds, 4),
            "error": self.error,
        }


@dataclass(frozen=True)
class SearchResult:
    """Every trial (in candidate order, then trial number) and the best complete one."""

    best: TrialResult
    trials: list[TrialResult]
    metric: Metric
    executor: str

    def best_by_candidate(self) -> dict[str, TrialResult]:
        """Each candidate's best complete trial (candidates with none are left out)."""
        best: dict[str, TrialResult] = {}
        for trial in self.trials:
            if trial.state == "complete" and trial.value is not None:
                current = best.get(trial.candidate)
                if current is None or self._better(trial, current):
                    best[trial.candidate] = trial
        return best

    def counts(self) -> dict[str, int]:
        """Trials per state."""
        states: tuple[TrialState, ...] = ("complete", "pruned", "failed", "timeout")
        return {s: sum(t.state == s for t in self.trials) for s in states}

    def _better(self, a: TrialResult, b: TrialResult) -> bool:
        return _better(self.metric, a, b)

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric.name,
            "executor": self.executor,
            "best": self.best.to_dict(),
            "best_by_candidate": {k: v.to_dict() for k, v in self.best_by_candidate().items()},
            "counts": self.counts(),
            "trials": [t.to_dict() for t in self.trials],
        }


def _better(metric: Metric, a: TrialResult, b: TrialResult) -> bool:
    """Whether complete trial ``a`` scored strictly better than ``b``."""
    return a.value is not None and (b.value is None or metric.better(a.value, b.value))


def run_trial(
    candidate: Candidate,
    params: dict[str, Any],
    fit: Shared[pd.DataFrame],
    validation: Shared[pd.DataFrame],
    features: list[str],
    target: str,
    metric: Metric,
    budgets: Sequence[float],
    thresholds: Sequence[float | None],
) -> dict[str, Any]:
    """One trial, in a worker: scores per budget, stopping at the first budget whose score is
    worse than its threshold. Returns ``{"state", "intermediate", "seconds"}``."""
    started = time.perf_counter()
    rows, held = fit.get(), validation.get()
    x_val, y_val = held[features], held[target].to_numpy()
    intermediate: list[float] = []
    for budget, threshold in zip(budgets, thresholds, strict=True):
        part = rows.iloc[len(rows) - math.ceil(budget * len(rows)) :]
        estimator = candidate.model(**candidate.fixed, **params)
        estimator.fit(part[features], part[target])
        score = metric(y_val, np.asarray(estimator.predict(x_val)))
        if not math.isfinite(score):
            raise ValueError(f"the {metric.name} score is {score} at budget {budget:g}")
        intermediate.append(score)
        if threshold is not None and metric.better(threshold, score):
            return {"state": "pruned", "intermediate": intermediate, "seconds": _since(started)}
    return {"state": "complete", "intermediate": intermediate, "seconds": _since(started)}


def _since(started: float) -> float:
    return time.perf_counter() - started


@dataclass
class _Dispatched:
    index: int  # the candidate's
    trial: optuna.trial.Trial
    params: dict[str, Any]


def run_search(
    candidates: Sequence[Candidate],
    fit: pd.DataFrame,
    validation: pd.DataFrame,
    features: list[str],
    target: str,
    metric: Metric,
    spec: SearchSpec,
    executor: Executor,
    progress: Callable[[TrialResult, int, int], None] | None = None,
) -> SearchResult:
    """Searches every candidate's space on ``executor``; ``progress(trial, done, total)`` is
    called as each trial ends. See the module's documentation."""
    _check(candidates, fit, validation, features, target)
    if executor.pending:
        raise InvalidInput(
            f"the executor still has {executor.pending} task(s) in flight; "
            "run one search at a time on an executor"
        )
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    direction: Literal["maximize", "minimize"] = (
        "maximize" if metric.greater_is_better else "minimize"
    )
    studies = [
        optuna.create_study(
            study_name=c.name,
            direction=direction,
            sampler=optuna.samplers.TPESampler(seed=spec.seed + i),
        )
        for i, c in enumerate(candidates)
    ]
    left = [c.n_trials(spec.trials) for c in candidates]
    total = sum(left)
    # scores[candidate][budget index]: the completed trials' scores, for the pruning medians
    scores: list[list[list[float]]] = [[[] for _ in spec.budgets] for _ in candidates]
    shared_fit, shared_validation = executor.share(fit), executor.share(validation)
    running: dict[int, _Dispatched] = {}
    results: list[TrialResult] = []
    turn = 0

    def dispatch() -> None:
        nonlocal turn
        while executor.pending < executor.workers and any(left):
            while not left[turn % len(candidates)]:  # round robin over candidates with trials left
                turn += 1
            index = turn % len(candidates)
            turn += 1
            left[index] -= 1
            candidate = candidates[index]
            trial = studies[index].ask()
            params = {key: _suggest(trial, key, param) for key, param in candidate.space.items()}
            task = executor.submit(
                run_trial,
                candidate,
                params,
                shared_fit,
                shared_validation,
                features,
                target,
                metric,
                spec.budgets,
                _thresholds(spec, scores[index]),
                timeout=spec.timeout_seconds,
            )
            running[task] = _Dispatched(index, trial, params)

    dispatch()
    for task, outcome in executor.as_completed():
        sent = running.pop(task)
        result = _tell(studies[sent.index], sent, candidates[sent.index].name, spec, outcome)
        if result.state == "complete":
            for i, score in enumerate(result.intermediate.values()):
                scores[sent.index][i].append(score)
        results.append(result)
        if progress is not None:
            progress(result, len(results), total)
        dispatch()

    order = {c.name: i for i, c in enumerate(candidates)}
    results.sort(key=lambda t: (order[t.candidate], t.number))
    complete = [t for t in results if t.state == "complete"]
    if not complete:
        raise TrainingFailed(_no_trial_message(results))
    best = complete[0]
    for trial in complete[1:]:
        if _better(metric, trial, best):
            best = trial
    return SearchResult(best, results, metric, executor.name)


def _thresholds(spec: SearchSpec, scores: list[list[float]]) -> list[float | None]:
    """Per budget: the median score of the completed trials, below which a trial is pruned
    (None at 1.0, without pruning and before ``startup_trials`` have completed)."""
    ready = spec.pruning and len(scores[-1]) >= spec.startup_trials
    return [
        statistics.median(s) if ready and budget < 1.0 else None
        for budget, s in zip(spec.budgets, scores, strict=True)
    ]


def _suggest(trial: optuna.trial.Trial, key: str, param: Param) -> Any:
    if isinstance(param, Int):
        return trial.suggest_int(key, param.low, param.high, step=param.step, log=param.log)
    if isinstance(param, Float):
        return trial.suggest_float(key, param.low, param.high, log=param.log)
    if isinstance(param, Choice):
        return trial.suggest_categorical(key, param.options)
    raise InvalidInput(f"parameter {key!r}: unknown kind {type(param).__name__}")


def _tell(
    study: optuna.Study, sent: _Dispatched, name: str, spec: SearchSpec, outcome: Outcome
) -> TrialResult:
    """Records the outcome on the Optuna trial and returns it as a :class:`TrialResult`."""
    trial, number = sent.trial, sent.trial.number
    if outcome.status != "ok":
        state: TrialState = "timeout" if outcome.status == "timeout" else "failed"
        trial.set_user_attr("error", outcome.error)
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        return TrialResult(
            name, number, sent.params, state, None, {}, outcome.seconds, outcome.error
        )
    done = outcome.value
    intermediate = dict(zip(spec.budgets, done["intermediate"], strict=False))
    for step, score in enumerate(done["intermediate"]):
        trial.report(score, step)
    if done["state"] == "pruned":
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        return TrialResult(name, number, sent.params, "pruned", None, intermediate, done["seconds"])
    value = float(done["intermediate"][-1])
    study.tell(trial, value)
    return TrialResult(name, number, sent.params, "complete", value, intermediate, done["seconds"])


def _no_trial_message(results: list[TrialResult]) -> str:
    counts: dict[str, int] = {}
    for t in results:
        counts[t.state] = counts.get(t.state, 0) + 1
    summary = ", ".join(f"{n} {state}" for state, n in counts.items())
    errors = [f"{t.candidate} #{t.number}: {t.error}" for t in results if t.error][:3]
    detail = "; first errors: " + "; ".join(errors) if errors else ""
    return (
        f"no trial completed ({summary}){detail}; fix the candidates or raise "
        "timeout_seconds (pruned trials only: lower startup_trials or turn pruning off)"
    )


def _check(
    candidates: Sequence[Candidate],
    fit: pd.DataFrame,
    validation: pd.DataFrame,
    features: list[str],
    target: str,
) -> None:
    if not candidates:
        raise InvalidInput("no candidates to search; list at least one")
    names = [c.name for c in candidates]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise InvalidInput(f"candidate names must be unique; repeated: {duplicates}")
    for label, frame in (("fit", fit), ("validation", validation)):
        if frame.empty:
            raise InvalidInput(f"the {label} rows are empty; the search needs data to score")
        missing = [c for c in [*features, target] if c not in frame.columns]
        if missing:
            raise InvalidInput(f"the {label} rows lack columns {missing}")
