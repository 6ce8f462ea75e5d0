"""The built-in steps of every pipeline:

    ingest → validate → prepare → split → train → evaluate → gate → register → promote

Each reads and writes named artifacts (see :mod:`evergreen.pipeline.steps`); a project may
insert its own steps between them or replace one by name. ``key`` functions add what a step
depends on besides its inputs and code (the production version, saved schemas, the project's
settings) to its fingerprint.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from evergreen.core.ids import new_id
from evergreen.data.splits import describe, split
from evergreen.errors import DataValidationFailed, PromotionRefused
from evergreen.pipeline.artifacts import Lazy
from evergreen.pipeline.code_version import code_version
from evergreen.pipeline.project import Project
from evergreen.pipeline.steps import Step, code_fingerprint, fingerprint
from evergreen.store.tables import ModelVersionRow, ValidationReportRow
from evergreen.training.candidates import Candidate
from evergreen.training.gate import judge
from evergreen.training.metrics import get_metric
from evergreen.training.slices import slice_scores
from evergreen.validation import (
    Schema,
    ValidationReport,
    check_batch,
    compute_statistics,
    infer_schema,
)

if TYPE_CHECKING:
    from evergreen.pipeline.runner import PipelineRunner
    from evergreen.training.search import TrialResult

EXPORT_SAMPLE_ROWS = 500  # holdout rows an ONNX export must predict as the model does

Say = Callable[[str], None]
OnTrial = Callable[["TrialResult", int, int], None]


@dataclass
class RunContext:
    """What built-in steps share within one run."""

    runner: PipelineRunner
    project: Project
    run_id: str
    production: ModelVersionRow | None
    say: Say
    source: str | None = None
    dataset_version: str | None = None  # pinned (a resumed run keeps its data)
    trigger_event_id: str | None = None
    reason: str = "manual run"
    executor: str | None = None
    on_trial: OnTrial | None = None
    use_cache: bool = True
    fingerprints: dict[str, str] = field(default_factory=dict)  # artifact → fingerprint
    _local: threading.local = field(default_factory=threading.local, repr=False)

    def start_step(self) -> None:
        """A fresh record for the step this thread runs now."""
        self._local.notes = {}

    @property
    def notes(self) -> dict[str, Any]:
        """The record of the step this thread runs (steps may run at the same time)."""
        notes: dict[str, Any] = getattr(self._local, "notes", {})
        return notes

    def note(self, **values: Any) -> None:
        self.notes.update(values)


def ingest(ctx: RunContext) -> dict[str, Any]:
    datasets = ctx.runner.datasets
    if ctx.dataset_version is not None:
        version = datasets.get(ctx.dataset_version)
    else:
        version = datasets.snapshot(ctx.project.source_path(ctx.source))
    ctx.dataset_version = version.id
    ctx.note(dataset_version=version.id, rows=version.rows)
    ctx.say(f"ingest: dataset {version.id} ({version.rows} rows)")
    raw = Lazy(loader=lambda: datasets.load(version.id), key=version.id)
    return {"dataset": Lazy(version.id, key=version.id), "raw": raw}


def _validate_key(ctx: RunContext) -> dict[str, Any]:
    """The schemas validation may use: saved with the data or production's, production's."""
    saved = ctx.runner.schemas.repository
    production = ctx.production
    versions = [ctx.dataset_version]
    if production is not None:
        versions.append(production.dataset_version_id)
    rows = [saved.current(v) if v else None for v in versions]
    return {
        "production": production.id if production is not None else None,
        "saved": [row.sha256 if row is not None else None for row in rows],
    }


def validate(ctx: RunContext, raw: pd.DataFrame, dataset: str) -> dict[str, Any]:
    runner, production = ctx.runner, ctx.production
    schema, kept_schema, schema_source = runner.choose_schema(raw, dataset, production)
    report = ValidationReport(anomalies=check_batch(raw, schema), drift=None)
    report_id = new_id("val")
    runner.runs.add_validation_report(
        ValidationReportRow(
            id=report_id,
            created_at=runner.clock.now(),
            run_id=ctx.run_id,
            dataset_version_id=dataset,
            reference_dataset_version_id=(
                production.dataset_version_id if production is not None else None
            ),
            passed=report.passed,
            report=report.to_dict(),
        )
    )
    summary = {
        "passed": report.passed,
        "report_id": report_id,
        "errors": len(report.errors),
        "warnings": len(report.warnings),
    }
    ctx.note(schema=schema_source, **summary)
    if not report.passed:
        raise DataValidationFailed(
            f"data validation found {len(report.errors)} error(s) in {dataset}:\n"
            + report.summary()
        )
    ctx.say(f"validate: {len(report.errors)} errors, {len(report.warnings)} warnings")
    return {"validation": summary, "schema": kept_schema.to_dict()}


def prepare(ctx: RunContext, raw: pd.DataFrame) -> dict[str, Any]:
    prepared = ctx.project.prepared(raw)
    ctx.note(rows=len(prepared), columns=len(prepared.columns))
    return {"prepared": prepared}


def _split_key(ctx: RunContext) -> dict[str, Any]:
    project = ctx.project
    return {
        "split": project.split.model_dump(),
        "target": project.target,
        "features": project.features,
    }


def split_rows(ctx: RunContext, prepared: pd.DataFrame) -> dict[str, Any]:
    project = ctx.project
    features = project.feature_columns(prepared)
    prepared = prepared.dropna(subset=[project.target])
    train, holdout = split(prepared, project.split)
    ctx.note(features=features, **describe(project.split, train, holdout))
    return {"train": train, "holdout": holdout, "features": features}


def candidates_of(project: Project) -> list[Candidate]:
    """The project's candidates; a project without any trains its one ``model``."""
    if project.candidates:
        return list(project.candidates)
    return [Candidate("model", _DefaultModel(project))]


class _DefaultModel:
    """``project.model()`` (or the default estimator) as a candidate factory."""

    def __init__(self, project: Project) -> None:
        self.project = project

    def __call__(self, **params: Any) -> Any:
        model = self.project.build_model()
        return model.set_params(**params) if params else model


def _train_key(ctx: RunContext) -> dict[str, Any]:
    project = ctx.project
    search = project.search.model_dump(exclude={"executor", "workers"})
    return {
        "task": project.task,
        "target": project.target,
        "metric": project.metric_name,
        "search": search,
        "validation_split": project.split.model_dump(),
        "candidates": [
            {**c.spec(), "code": code_fingerprint(c.model)} for c in project.candidates or []
        ],
        "model": code_fingerprint(project.model) if project.model is not None else None,
    }


def train(ctx: RunContext, train: pd.DataFrame, features: list[str]) -> dict[str, Any]:
    project = ctx.project
    candidates = candidates_of(project)
    total = sum(c.n_trials(project.search.trials) for c in candidates)
    search_summary: dict[str, Any] | None = None
    if total == 1:  # one configuration: nothing to choose, no validation rows held back
        chosen, params = candidates[0], {}
    else:
        from evergreen.training.executors import make_executor
        from evergreen.training.search import run_search

        fit_rows, validation_rows = split(
            train, project.split.model_copy(update={"holdout": project.search.validation})
        )
        metric = get_metric(project.metric_name)
        ctx.say(f"train: searching {len(candidates)} candidate(s), {total} trials")
        with make_executor(
            ctx.executor or project.search.executor, project.search.workers
        ) as executor:
            found = run_search(
                candidates,
                fit_rows,
                validation_rows,
                features,
                project.target,
                metric,
                project.search,
                executor,
                progress=ctx.on_trial,
            )
        search_summary = found.to_dict()
        chosen = next(c for c in candidates if c.name == found.best.candidate)
        params = dict(found.best.params)
        ctx.say(
            f"train: best {chosen.name} {params} ({metric.name} {found.best.value:.4g} "
            f"on {len(validation_rows)} validation rows)"
        )
    model = chosen.model(**chosen.fixed, **params)
    started = time.perf_counter()
    model.fit(train[features], train[project.target])
    seconds = round(time.perf_counter() - started, 3)
    ctx.note(estimator=type(model).__name__, candidate=chosen.name, params=params, seconds=seconds)
    ctx.say(f"train: {type(model).__name__} on {len(train)} rows")
    chosen_summary = {"candidate": chosen.name, "params": params, "search": search_summary}
    return {"model": model, "search": chosen_summary, "train_seconds": seconds}


def evaluate(
    ctx: RunContext, model: Any, holdout: pd.DataFrame, features: list[str]
) -> dict[str, Any]:
    project = ctx.project
    metric = get_metric(project.metric_name)
    predictions = np.asarray(model.predict(holdout[features]))
    score = metric(holdout[project.target].to_numpy(), predictions)
    ctx.note(metric=metric.name, score=score, holdout_rows=len(holdout))
    ctx.say(f"evaluate: {metric.name} = {score:.4g} on {len(holdout)} holdout rows")
    return {"metrics": {metric.name: score}, "predictions": predictions}


def _evaluate_key(ctx: RunContext) -> dict[str, Any]:
    return {"metric": ctx.project.metric_name, "target": ctx.project.target}


def _gate_key(ctx: RunContext) -> dict[str, Any]:
    production = ctx.production
    return {
        "production": production.id if production is not None else None,
        "gate": ctx.project.gate.model_dump(),
        "metric": ctx.project.metric_name,
    }


def gate(
    ctx: RunContext,
    metrics: dict[str, float],
    predictions: np.ndarray,
    holdout: pd.DataFrame,
) -> dict[str, Any]:
    project, production = ctx.project, ctx.production
    metric = get_metric(project.metric_name)
    score = float(metrics[metric.name])
    baseline_score: float | None = None
    baseline_pred: np.ndarray | None = None
    y_true = holdout[project.target].to_numpy()
    if production is not None:
        loaded = ctx.runner.registry.load(project.name, production.version)
        if set(loaded.signature.input_names) <= set(holdout.columns):
            baseline_pred = np.asarray(loaded.predict(holdout))
            baseline_score = metric(y_true, baseline_pred)
    slices = slice_scores(
        holdout,
        project.gate.slices,
        y_true,
        predictions,
        baseline_pred,
        metric,
        min_rows=project.gate.min_slice_rows,
    )
    verdict = judge(
        project.gate,
        metric.name,
        score,
        baseline_score,
        production.version if production is not None else None,
        slices,
    )
    if production is not None and baseline_score is None:
        verdict = verdict.model_copy(
            update={
                "passed": False,
                "reason": f"production v{production.version} takes other input columns; "
                "promote by hand if the change of features is intended",
            }
        )
    ctx.note(**verdict.to_dict())
    ctx.say(f"gate: {'passed' if verdict.passed else 'failed'} ({verdict.reason})")
    return {"verdict": verdict.to_dict()}


def register(
    ctx: RunContext,
    model: Any,
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    features: list[str],
    metrics: dict[str, float],
    verdict: dict[str, Any],
    validation: dict[str, Any],
    schema: dict[str, Any],
    dataset: str,
    search: dict[str, Any],
    train_seconds: float,
) -> dict[str, Any]:
    """Register the model, or reuse the version an earlier run registered from the very same
    trained model (same fingerprint), so a rerun with nothing changed adds no duplicate."""
    runner, project = ctx.runner, ctx.project
    registry = runner.registry
    same = ctx.fingerprints["model"]
    reuse_key = fingerprint({"register": same, "model": project.name})
    if ctx.use_cache:
        earlier = runner.runs.cached_step(reuse_key)
        if earlier is not None:
            version = int(earlier.summary["version"])
            registry.get_version(project.name, version)  # still there (NotFound otherwise)
            ctx.note(model=project.name, version=version, reused=True, registered_by=earlier.run_id)
            ctx.say(f"register: nothing new; {project.name} version {version} has this model")
            return {"model_version": {"name": project.name, "version": version, "reused": True}}
    registry.ensure_model(
        project.name, task=project.task, target=project.target, actor=runner.actor
    )
    from evergreen.flavors import Signature, flavor_for

    feature_frame = train[features]
    flavor = flavor_for(model)
    signature = Signature.infer(feature_frame, train[project.target], project.task)
    # An ONNX export for fast serving, kept only when ONNX Runtime gives the same outputs.
    onnx = flavor.export_onnx(model, signature, holdout[features].head(EXPORT_SAMPLE_ROWS))
    reason = " ".join(onnx.reason.split())
    reason = reason if len(reason) <= 300 else reason[:297] + "..."
    ctx.note(flavor=flavor.name, onnx=reason if onnx.data is None else "exported")
    row = registry.register(
        project.name,
        model,
        flavor=flavor.name,
        signature=signature,
        actor=runner.actor,
        params=flavor.params(model),
        metrics={**metrics, "holdout_rows": len(holdout), "train_rows": len(train)},
        dataset_version_id=dataset,
        run_id=ctx.run_id,
        baseline=_baseline(ctx, Schema.from_dict(schema), feature_frame),
        gate=verdict,
        code_version=code_version(project.root),
        tags={
            "trigger_event_id": ctx.trigger_event_id,
            "reason": ctx.reason,
            # training and validation data: the version's rows, split so
            "split": project.split.model_dump(),
            "candidate": search.get("candidate"),
            "search_params": search.get("params") or {},
            "model_fingerprint": same,
        },
        validation=validation,
        exports={"onnx": onnx.data if onnx.data is not None else reason},
        runtime_metrics={"train_seconds": train_seconds},
    )
    from evergreen.store.tables import StepCacheRow

    runner.runs.cache_step(
        StepCacheRow(
            fingerprint=reuse_key,
            step="register",
            created_at=runner.clock.now(),
            run_id=ctx.run_id,
            outputs={},
            summary={"name": project.name, "version": row.version},
        )
    )
    ctx.note(model=project.name, version=row.version)
    ctx.say(f"register: {project.name} version {row.version}")
    return {"model_version": {"name": project.name, "version": row.version, "reused": False}}


def promote(
    ctx: RunContext, model_version: dict[str, Any], verdict: dict[str, Any]
) -> dict[str, Any]:
    runner, project = ctx.runner, ctx.project
    version = int(model_version["version"])
    current = runner.registry.get_version(project.name, version)
    if current.stage == "production":
        ctx.note(stage="production", unchanged=True)
        return {"promoted": False}
    if project.automation < 1 or not verdict.get("passed"):
        why = "automation level 0" if project.automation < 1 else "the gate failed"
        ctx.note(stage=current.stage, skipped=why)
        return {"promoted": False}
    if project.automation >= 2 and runner.registry.production(project.name) is not None:
        # level 2: the controller delivers it through shadow and canary (controller/delivery.py)
        runner.registry.promote(
            project.name,
            version,
            "staging",
            actor=runner.actor,
            reason=f"{ctx.reason}; gate: {verdict.get('reason')}; level 2 rollout follows",
        )
        ctx.note(stage="staging", rollout="pending")
        ctx.say(f"promote: {project.name} version {version} is staged for a level-2 rollout")
        return {"promoted": False}
    try:
        runner.registry.promote(
            project.name,
            version,
            "production",
            actor=runner.actor,
            reason=f"{ctx.reason}; gate: {verdict.get('reason')}",
        )
    except PromotionRefused as refused:  # e.g. approvals are still to come
        ctx.note(stage=current.stage, awaiting=refused.missing)
        ctx.say(f"promote: {project.name} version {version} waits: {refused}")
        return {"promoted": False}
    ctx.note(stage="production")
    ctx.say(f"promote: {project.name} version {version} is now in production")
    return {"promoted": True}


def _baseline(ctx: RunContext, schema: Schema, features: pd.DataFrame) -> dict[str, Any]:
    """What monitoring needs once this version serves: schemas and a reference sample."""
    project = ctx.project
    sample = features
    if len(sample) > project.drift.reference_rows:
        sample = sample.sample(project.drift.reference_rows, random_state=0)
    buffer = io.BytesIO()
    sample.reset_index(drop=True).to_parquet(buffer, index=False)
    blob = ctx.runner.artifacts.put_bytes(buffer.getvalue())
    statistics = compute_statistics(features)
    return {
        "schema": schema.to_dict(),
        "features_schema": infer_schema(statistics).to_dict(),
        # the summary of the training features, without the merge sketches
        "statistics": statistics.model_dump(
            mode="json", exclude={"columns": {"__all__": {"sketch"}}}
        ),
        "reference_sha256": blob.sha256,
        "reference_rows": len(sample),
        "drift": project.drift.model_dump(),
    }


def _prepare_key(ctx: RunContext) -> str | None:
    """The project's ``prepare`` function, by its code fingerprint."""
    prepare_fn = ctx.project.prepare
    return code_fingerprint(prepare_fn) if prepare_fn is not None else None


STEPS_VERSION = "1"  # bump when a built-in step computes something different


def builtin_steps() -> list[Step]:
    """The default pipeline, in order."""

    def make(
        name: str,
        fn: Callable[..., dict[str, Any]],
        inputs: tuple[str, ...],
        outputs: tuple[str, ...],
        key: Callable[[RunContext], Any] | None = None,
        cache: bool = True,
    ) -> Step:
        return Step(name, fn, inputs, outputs, cache=cache, builtin=True, key=key)

    return [
        make("ingest", ingest, (), ("dataset", "raw"), cache=False),
        make("validate", validate, ("raw", "dataset"), ("validation", "schema"), _validate_key),
        make("prepare", prepare, ("raw",), ("prepared",), _prepare_key),
        make("split", split_rows, ("prepared",), ("train", "holdout", "features"), _split_key),
        make(
            "train", train, ("train", "features"), ("model", "search", "train_seconds"), _train_key
        ),
        make(
            "evaluate",
            evaluate,
            ("model", "holdout", "features"),
            ("metrics", "predictions"),
            _evaluate_key,
        ),
        make("gate", gate, ("metrics", "predictions", "holdout"), ("verdict",), _gate_key),
        make(
            "register",
            register,
            (
                "model",
                "train",
                "holdout",
                "features",
                "metrics",
                "verdict",
                "validation",
                "schema",
                "dataset",
                "search",
                "train_seconds",
            ),
            ("model_version",),
            cache=False,
        ),
        make("promote", promote, ("model_version", "verdict"), ("promoted",), cache=False),
    ]
