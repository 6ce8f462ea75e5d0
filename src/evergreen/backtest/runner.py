"""Run a backtest: every policy replayed on the same stream, side by side.

Policies are independent (each has its own state), so they run in worker processes, at most
``workers`` at a time; each worker then limits the numerical libraries' threads to its share of
the CPUs so that two workers on two cores do not fight over them.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from evergreen.backtest.models import model_factory
from evergreen.backtest.policies import Policy
from evergreen.backtest.replay import Options, PolicyResult, replay_policy
from evergreen.backtest.stream import Stream
from evergreen.errors import InvalidInput
from evergreen.training.metrics import DEFAULT_METRIC, get_metric

Say = Callable[[str], None]


@dataclass
class BacktestResult:
    """Every policy's result on one stream, and what the backtest was."""

    metric: str
    greater_is_better: bool
    task: str
    options: Options
    rows: int
    batches: int
    batch_times: list[str]
    policies: dict[str, PolicyResult] = field(default_factory=dict)
    seconds: float = 0.0
    workers: int = 1

    def to_dict(self) -> dict[str, Any]:
        """The JSON report: ``metric``, ``greater_is_better`` and, per policy, ``mean_metric``,
        ``retrains``, ``per_batch`` and ``seconds`` (with more keys beside them)."""
        return {
            "metric": self.metric,
            "greater_is_better": self.greater_is_better,
            "policies": {name: result.to_dict() for name, result in self.policies.items()},
            "task": self.task,
            "model": self.options.model,
            "rows": self.rows,
            "batches": self.batches,
            "predicted_batches": self.batches - 1,
            "label_delay": self.options.label_delay,
            "train_window_batches": self.options.train_window,
            "margin": self.options.margin,
            "reset_on_signal": self.options.reset_on_signal,
            "batch_times": self.batch_times,
            "workers": self.workers,
            "seconds": round(self.seconds, 3),
        }

    def best(self) -> str:
        """The policy with the best mean metric."""
        metric = get_metric(self.metric)
        ranked = sorted(
            self.policies.values(),
            key=lambda r: -r.mean_metric if metric.greater_is_better else r.mean_metric,
        )
        return ranked[0].policy


def _folder(policy: str) -> str:
    return re.sub(r"[^A-Za-z0-9+_.-]", "-", policy)


def _replay(
    stream: Stream, policy: Policy, options: Options, home: Path, threads: int
) -> PolicyResult:
    """:func:`replay_policy` in a worker process, its OpenMP threads (gradient boosting) limited
    to ``threads``: on a busy machine, OpenMP threads that outnumber the free cores slow
    training down tenfold. The pipeline trains in a thread of its own, which a limit set here
    with threadpoolctl would not reach, so the limit goes where OpenMP reads it when it loads."""
    os.environ["OMP_NUM_THREADS"] = str(threads)
    return replay_policy(stream, policy, options, home)


def default_workers(policies: int) -> int:
    return max(1, min(policies, os.cpu_count() or 1))


def run_backtest(
    stream: Stream,
    policies: list[Policy],
    options: Options | None = None,
    *,
    workers: int | None = None,
    state: Path | None = None,
    say: Say | None = None,
) -> BacktestResult:
    """Replay ``stream`` under each policy (see :mod:`evergreen.backtest.replay`). Each
    policy's evergreen home is a folder of ``state`` (kept) or of a temporary folder
    (removed)."""
    options = options or Options()
    out = say or (lambda _line: None)
    workers = default_workers(len(policies)) if workers is None else max(1, workers)
    metric = get_metric(options.metric or DEFAULT_METRIC[stream.task])
    if metric.task != stream.task:
        raise InvalidInput(f"metric {metric.name!r} is for {metric.task}, not {stream.task}")
    model_factory(options.model, stream.task)  # a bad --model fails now, not in a worker
    started = time.perf_counter()
    root = state if state is not None else Path(tempfile.mkdtemp(prefix="evergreen-backtest-"))
    results: dict[str, PolicyResult] = {}
    try:
        homes = {p.name: root / _folder(p.name) for p in policies}
        for home in homes.values():
            shutil.rmtree(home, ignore_errors=True)
        threads = max(1, (os.cpu_count() or 1) // workers)
        if workers == 1:  # here, with the threads OpenMP already has
            for policy in policies:
                home = homes[policy.name]
                results[policy.name] = replay_policy(stream, policy, options, home)
                out(_line(results[policy.name], metric.name))
        else:
            with ProcessPoolExecutor(workers, mp_context=get_context("forkserver")) as pool:
                futures: dict[Future[PolicyResult], str] = {
                    pool.submit(_replay, stream, p, options, homes[p.name], threads): p.name
                    for p in policies
                }
                for future in as_completed(futures):
                    results[futures[future]] = future.result()
                    out(_line(results[futures[future]], metric.name))
    finally:
        if state is None:
            shutil.rmtree(root, ignore_errors=True)
    return BacktestResult(
        metric=metric.name,
        greater_is_better=metric.greater_is_better,
        task=stream.task,
        options=options,
        rows=len(stream.frame),
        batches=len(stream),
        batch_times=[t.isoformat() for t in stream.times],
        policies={p.name: results[p.name] for p in policies},
        seconds=time.perf_counter() - started,
        workers=workers,
    )


def _line(result: PolicyResult, metric: str) -> str:
    return (
        f"{result.policy}: mean {metric} {result.mean_metric:.4g}, {result.retrains} retrains, "
        f"{result.seconds:.1f}s"
    )
