"""One policy's replay: the stream, batch by batch, through evergreen's own loop.

The policy gets its own state (an evergreen home: SQLite and an artifact store) on a
:class:`~evergreen.core.clock.SimulatedClock`, and a :class:`~evergreen.pipeline.project.Project`
whose source is a landing folder. Batch 0 lands and trains the first model. Then, for each
batch ``t``, test-then-train:

1. the clock moves to the time batch ``t`` is complete;
2. the production version predicts it (loaded once per version, verified, from the registry);
   the metric of those predictions is the batch's score;
3. the monitors look: input drift of batch ``t`` against the serving version's reference sample
   (the drift engine and the version's stored :class:`DriftPolicy`, as the drift monitor does);
4. the labels of batch ``t - K`` arrive: the batch is written to the landing folder (only the
   newest ``train_window`` batches are kept there), and the performance check judges the serving
   version on its newest labelled predictions against its own holdout score;
5. each signal the policy listens to (``every:N`` counts as a schedule) becomes a trigger event
   in the controller's queue, and the controller runs the pipeline for it: snapshot, validation,
   training, the gate against production, registration and, when the gate passes, promotion.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from evergreen import bootstrap
from evergreen.backtest.models import model_factory
from evergreen.backtest.policies import Policy
from evergreen.backtest.stream import Stream
from evergreen.core.clock import SimulatedClock
from evergreen.data.splits import SplitSpec
from evergreen.errors import InvalidState
from evergreen.pipeline.project import DriftPolicy, Project
from evergreen.pipeline.triggers import PerformanceTrigger, Triggers
from evergreen.settings import Settings
from evergreen.training.metrics import Metric, get_metric
from evergreen.validation import detect_drift

if TYPE_CHECKING:
    from evergreen.controller.controller import Controller
    from evergreen.flavors import LoadedModel
    from evergreen.store.tables import ModelVersionRow

PROJECT = "backtest"


@dataclass(frozen=True)
class Options:
    """How every policy of one backtest is replayed."""

    model: str = "hgb"
    metric: str | None = None  # default: the task's (accuracy, rmse)
    label_delay: int = 0  # K: batch t's labels arrive with batch t + K
    train_window: int | None = 5  # labelled batches kept in the landing folder; None: all
    margin: float = 0.1  # the performance trigger: this much worse than the holdout score
    holdout: float = 0.2  # the share of the training window the gate judges on
    split: str = "random"  # random: any rows of the window; time: the newest rows
    reset_on_signal: bool = True  # a drift or performance signal drops the batches before it


@dataclass
class PolicyResult:
    """What one policy did: its score per predicted batch, its retrains and its cost."""

    policy: str
    per_batch: list[float] = field(default_factory=list)
    served_versions: list[int] = field(default_factory=list)
    retrain_batches: list[int] = field(default_factory=list)  # the batch after which each ran
    promoted_batches: list[int] = field(default_factory=list)
    triggers: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    initial_seconds: float = 0.0

    @property
    def retrains(self) -> int:
        return len(self.retrain_batches)

    @property
    def mean_metric(self) -> float:
        return float(np.mean(self.per_batch)) if self.per_batch else float("nan")

    def to_dict(self) -> dict[str, Any]:
        return {
            "mean_metric": self.mean_metric,
            "retrains": self.retrains,
            "per_batch": self.per_batch,
            "seconds": round(self.seconds, 3),
            "promotions": len(self.promoted_batches),
            "retrain_batches": self.retrain_batches,
            "promoted_batches": self.promoted_batches,
            "served_versions": self.served_versions,
            "triggers": self.triggers,
            "initial_seconds": round(self.initial_seconds, 3),
        }


def backtest_project(stream: Stream, policy: Policy, options: Options, landing: Path) -> Project:
    """The project a policy retrains: the stream's features and target, a time split (the gate
    judges candidate and production on the newest rows, which production never saw), the
    policy's triggers, automation level 1."""
    rows = int(np.median([stop - start for start, stop in stream.bounds]))
    window = max(10, rows)
    performance = None
    if policy.performance:
        performance = PerformanceTrigger(
            margin=options.margin, window_rows=window, min_labels=min(100, window)
        )
    return Project(
        name=PROJECT,
        source=str(landing),
        target=stream.target,
        task="classification" if stream.task == "classification" else "regression",
        model=model_factory(options.model, stream.task),
        features=list(stream.features),
        metric=options.metric,
        split=SplitSpec(method=options.split, holdout=options.holdout),
        drift=DriftPolicy(window_rows=window, min_rows=min(100, window)),
        triggers=Triggers(drift=policy.drift, performance=performance),
        automation=1,
        root=landing.parent,
    )


class PolicyReplay:
    """The replay loop of one policy (see the module)."""

    def __init__(self, stream: Stream, policy: Policy, options: Options, home: Path) -> None:
        self.stream, self.policy, self.options = stream, policy, options
        self.landing = home / "landing"
        self.landing.mkdir(parents=True, exist_ok=True)
        self.clock = SimulatedClock(stream.times[0])
        self.ctx = bootstrap.build(Settings(home=home / "state", executor="inline"), self.clock)
        self.project = backtest_project(stream, policy, options, self.landing)
        self.metric: Metric = get_metric(self.project.metric_name)
        self.controller: Controller = bootstrap.controller(self.ctx, {PROJECT: self.project})
        self.result = PolicyResult(policy.name)
        self._loaded: dict[int, tuple[ModelVersionRow, LoadedModel, pd.DataFrame]] = {}
        # what each version predicted, per batch: (batch, version, predictions)
        self._predicted: list[tuple[int, int, np.ndarray]] = []
        self._window_start = 0  # the oldest batch the landing folder may keep

    def close(self) -> None:
        self.ctx.close()

    # -- the loop ---------------------------------------------------------------------------

    def run(self) -> PolicyResult:
        started = time.perf_counter()
        self._land(0)
        self._signal(0, "manual", "initial training on batch 0")
        if self.ctx.registry.production(PROJECT) is None:
            raise InvalidState("the initial training on the first batch promoted no model")
        self.result.retrain_batches.clear()  # the initial run is not a retrain
        self.result.promoted_batches.clear()
        self.result.triggers.clear()
        self.result.initial_seconds = time.perf_counter() - started
        for index in range(1, len(self.stream)):
            self.step(index)
        self.result.seconds = time.perf_counter() - started
        return self.result

    def step(self, index: int) -> None:
        """Test batch ``index``, then reveal what is due and retrain if the policy says so."""
        self._advance_to(index)
        row, model, reference = self._serving()
        batch = self.stream.batch(index)
        predictions = np.asarray(model.predict(batch[self.stream.features]))
        truth = batch[self.stream.target].to_numpy()
        self.result.per_batch.append(self.metric(truth, predictions))
        self.result.served_versions.append(row.version)
        self._predicted.append((index, row.version, predictions))
        if self.policy.drift:
            self._check_drift(index, row, reference, batch)
        revealed = index - self.options.label_delay
        if revealed >= 1:
            self._land(revealed)
            if self.policy.performance:
                self._check_performance(index, revealed, row)
        if self.policy.every is not None and index % self.policy.every == 0:
            self._signal(index, "schedule", f"every {self.policy.every} batch(es): batch {index}")
        self._run_pending(index)

    # -- the pieces -------------------------------------------------------------------------

    def _advance_to(self, index: int) -> None:
        delta = self.stream.times[index] - self.clock.now()
        if delta.total_seconds() > 0:
            self.clock.advance(delta)

    def _serving(self) -> tuple[ModelVersionRow, LoadedModel, pd.DataFrame]:
        """The production version, its model (a verified load from the registry, once per
        version) and its reference sample of training features."""
        registry = self.ctx.registry
        row = registry.production(PROJECT)
        if row is None:
            raise InvalidState("the backtest project has no production version")
        if row.version not in self._loaded:
            self._loaded = {
                row.version: (
                    row,
                    registry.load(PROJECT, row.version),
                    registry.reference_features(row),
                )
            }
        return self._loaded[row.version]

    def _land(self, index: int) -> None:
        """Batch ``index``'s labels arrive: write it to the landing folder."""
        self.stream.batch(index).to_parquet(self.landing / f"batch-{index:06d}.parquet")
        self._trim()

    def _trim(self) -> None:
        """Keep the newest ``train_window`` batches in the landing folder, none older than the
        last change signal, and always the newest one."""
        files = sorted(self.landing.glob("batch-*.parquet"))
        window = self.options.train_window
        keep = files[-window:] if window is not None else files
        keep = [f for f in keep if int(f.stem.removeprefix("batch-")) >= self._window_start]
        for old in set(files) - set(keep or files[-1:]):
            old.unlink()

    def _check_drift(
        self, index: int, row: ModelVersionRow, reference: pd.DataFrame, batch: pd.DataFrame
    ) -> None:
        """Input drift of the batch against the serving version's training data, judged as the
        drift monitor judges it: the version's own drift policy and reference sample."""
        policy = DriftPolicy.model_validate(row.baseline.get("drift", {}))
        live = batch.tail(policy.window_rows)
        if len(live) < policy.min_rows:
            return
        columns = list(policy.columns or reference.columns)
        report = detect_drift(reference, live[columns], columns=columns, spec=policy.spec)
        if report.dataset_drift:
            self._signal(
                index,
                "drift",
                f"input drift on batch {index} against v{row.version}: "
                f"{report.drift_share:.0%} of columns drifted "
                f"({', '.join(report.drifted_columns)})",
                {"drift": report.to_dict(), "rows": len(live)},
                since=index,
            )

    def _check_performance(self, index: int, revealed: int, row: ModelVersionRow) -> None:
        """The serving version's metric on its newest labelled predictions (those of batches up
        to ``revealed``), against its own holdout score."""
        rule = self.project.triggers.performance
        holdout = row.metrics.get(self.metric.name)
        if rule is None or holdout is None:
            return
        truths, predictions, rows = [], [], 0
        for batch_index, version, predicted in reversed(self._predicted):
            if batch_index > revealed or version != row.version:
                continue
            truths.append(self.stream.batch(batch_index)[self.stream.target].to_numpy())
            predictions.append(predicted)
            rows += len(predicted)
            if rows >= rule.window_rows:
                break
        if rows < rule.min_labels:
            return
        live = self.metric(np.concatenate(truths), np.concatenate(predictions))
        worse = rule.breached(self.metric, live, float(holdout))
        if worse is not None:
            self._signal(
                index,
                "performance",
                f"{self.metric.name} {live:.4g} of v{row.version} on {rows} labelled rows "
                f"(to batch {revealed}) {worse}",
                {"metric": self.metric.name, "live": live, "holdout": holdout, "rows": rows},
                since=revealed,
            )

    def _signal(
        self,
        index: int,
        kind: str,
        reason: str,
        evidence: dict[str, Any] | None = None,
        since: int | None = None,
    ) -> None:
        if since is not None and self.options.reset_on_signal:
            self._window_start = since  # what came before the change misleads: train on after
            self._trim()
        self.controller.trigger(PROJECT, kind, reason, evidence)
        self.result.triggers[kind] = self.result.triggers.get(kind, 0) + 1
        if kind == "manual":
            self._run_pending(index)

    def _run_pending(self, index: int) -> None:
        for _event, run in self.controller.drain():
            self.result.retrain_batches.append(index)
            if run.promoted:
                self.result.promoted_batches.append(index)


def replay_policy(stream: Stream, policy: Policy, options: Options, home: Path) -> PolicyResult:
    """Replay ``stream`` under ``policy`` with its state in ``home`` (see the module)."""
    replay = PolicyReplay(stream, policy, options, home)
    try:
        return replay.run()
    finally:
        replay.close()
