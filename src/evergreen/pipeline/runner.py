"""Runs a project's pipeline: ingest → validate → prepare → train → evaluate → gate → register
(→ promote, at automation level 1). Every run and step is recorded; a failed run registers
nothing and leaves production untouched."""

from __future__ import annotations

import io
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from evergreen.core.clock import Clock, SystemClock
from evergreen.core.ids import new_id
from evergreen.data.snapshots import DatasetStore
from evergreen.data.splits import describe
from evergreen.errors import DataValidationFailed, EvergreenError, PromotionRefused
from evergreen.flavors import Signature
from evergreen.pipeline.code_version import code_version
from evergreen.pipeline.fitting import fit_model, package_versions, predict, prepare_split
from evergreen.pipeline.project import Project
from evergreen.registry import Registry
from evergreen.store.artifacts import ArtifactStore
from evergreen.store.datasets import DatasetSchemaRepository
from evergreen.store.runs import RunRepository
from evergreen.store.tables import (
    ModelVersionRow,
    PipelineRunRow,
    StepRunRow,
    ValidationReportRow,
)
from evergreen.training.gate import GateVerdict, judge
from evergreen.training.metrics import get_metric
from evergreen.training.slices import slice_scores
from evergreen.validation import (
    Schema,
    ValidationReport,
    check_batch,
    compute_statistics,
    infer_schema,
)
from evergreen.validation.saved_schemas import SavedSchemas

Progress = Callable[[str], None]


@dataclass
class RunResult:
    run_id: str
    status: str
    dataset_version: str | None = None
    model_version: int | None = None
    promoted: bool = False
    metrics: dict[str, float] = field(default_factory=dict)
    gate: GateVerdict | None = None
    validation: ValidationReport | None = None
    error: str | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "status": self.status,
            "dataset_version": self.dataset_version,
            "model_version": self.model_version,
            "promoted": self.promoted,
            "metrics": self.metrics,
            "gate": self.gate.to_dict() if self.gate else None,
            "error": self.error,
            "seconds": round(self.seconds, 3),
        }


def _json_params(params: dict[str, Any]) -> dict[str, Any]:
    safe: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, (bool, int, float, str)) or value is None:
            safe[key] = value
        else:
            safe[key] = repr(value)
    return safe


class PipelineRunner:
    def __init__(
        self,
        datasets: DatasetStore,
        registry: Registry,
        runs: RunRepository,
        artifacts: ArtifactStore,
        clock: Clock | None = None,
        actor: str = "pipeline",
    ) -> None:
        self.datasets, self.registry, self.runs = datasets, registry, runs
        self.artifacts = artifacts
        self.clock = clock or SystemClock()
        self.actor = actor
        self.schemas = SavedSchemas(
            datasets, DatasetSchemaRepository(datasets.repository.db), self.clock
        )

    @contextmanager
    def _step(self, run_id: str, name: str, outputs: dict[str, Any]) -> Iterator[None]:
        step_id = new_id("step")
        self.runs.add_step(
            StepRunRow(
                id=step_id,
                run_id=run_id,
                name=name,
                status="running",
                started_at=self.clock.now(),
                finished_at=None,
                outputs={},
                error=None,
            )
        )
        try:
            yield
        except BaseException as exc:
            message = str(exc) if isinstance(exc, EvergreenError) else _describe(exc)
            self.runs.finish_step(
                step_id, status="failed", at=self.clock.now(), outputs=outputs, error=message
            )
            raise
        self.runs.finish_step(step_id, status="succeeded", at=self.clock.now(), outputs=outputs)

    def run(
        self,
        project: Project,
        *,
        source: str | None = None,
        trigger_event_id: str | None = None,
        reason: str = "manual run",
        progress: Progress | None = None,
    ) -> RunResult:
        say = progress or (lambda _message: None)
        started = time.perf_counter()
        run_id = new_id("run")
        self.runs.add_run(
            PipelineRunRow(
                id=run_id,
                project=project.name,
                status="running",
                started_at=self.clock.now(),
                finished_at=None,
                dataset_version_id=None,
                trigger_event_id=trigger_event_id,
                code_version=code_version(project.root),
                params={
                    "project": project.spec(),
                    "project_file": str(project.file) if project.file else None,
                    "reason": reason,
                    "packages": package_versions(),
                },
                outcome={},
                error=None,
            )
        )
        result = RunResult(run_id=run_id, status="running")
        try:
            self._run_steps(project, source, result, trigger_event_id, reason, say)
            result.status = "succeeded"
        except EvergreenError as exc:
            result.status, result.error = "failed", str(exc)
        except Exception as exc:  # user code (prepare, model) may raise anything
            result.status, result.error = "failed", _describe(exc)
        result.seconds = time.perf_counter() - started
        self.runs.finish_run(
            run_id,
            status=result.status,
            at=self.clock.now(),
            outcome=result.to_dict(),
            error=result.error,
            dataset_version_id=result.dataset_version,
        )
        say(f"run {run_id} {result.status}" + (f": {result.error}" if result.error else ""))
        return result

    def _run_steps(
        self,
        project: Project,
        source: str | None,
        result: RunResult,
        trigger_event_id: str | None,
        reason: str,
        say: Progress,
    ) -> None:
        run_id = result.run_id
        production = self.registry.production(project.name) if self._has_model(project) else None

        out: dict[str, Any] = {}
        with self._step(run_id, "ingest", out):
            version = self.datasets.snapshot(project.source_path(source))
            raw = self.datasets.load(version.id)
            result.dataset_version = version.id
            out.update(dataset_version=version.id, rows=version.rows)
        say(f"ingest: dataset {version.id} ({version.rows} rows)")

        out = {}
        with self._step(run_id, "validate", out):
            schema, kept_schema, schema_source = self._schema(raw, version.id, production)
            out.update(schema=schema_source)
            report = ValidationReport(anomalies=check_batch(raw, schema), drift=None)
            result.validation = report
            validation_id = new_id("val")
            self.runs.add_validation_report(
                ValidationReportRow(
                    id=validation_id,
                    created_at=self.clock.now(),
                    run_id=run_id,
                    dataset_version_id=version.id,
                    reference_dataset_version_id=(
                        production.dataset_version_id if production is not None else None
                    ),
                    passed=report.passed,
                    report=report.to_dict(),
                )
            )
            out.update(
                passed=report.passed, errors=len(report.errors), warnings=len(report.warnings)
            )
            if not report.passed:
                raise DataValidationFailed(
                    f"data validation found {len(report.errors)} error(s) in {version.id}:\n"
                    + report.summary()
                )
        say(f"validate: {len(report.errors)} errors, {len(report.warnings)} warnings")

        out = {}
        with self._step(run_id, "prepare", out):
            features, train, holdout = prepare_split(project, raw)
            out.update(features=features, **describe(project.split, train, holdout))

        out = {}
        with self._step(run_id, "train", out):
            model, train_seconds = fit_model(project, train, features)
            out.update(estimator=type(model).__name__, seconds=train_seconds)
        say(f"train: {type(model).__name__} on {len(train)} rows")

        metric = get_metric(project.metric_name)
        out = {}
        with self._step(run_id, "evaluate", out):
            candidate_pred = predict(model, holdout, features)
            score = metric(holdout[project.target].to_numpy(), candidate_pred)
            result.metrics = {metric.name: score}
            out.update(metric=metric.name, score=score, holdout_rows=len(holdout))
        say(f"evaluate: {metric.name} = {score:.4g} on {len(holdout)} holdout rows")

        out = {}
        with self._step(run_id, "gate", out):
            baseline_score: float | None = None
            baseline_pred: np.ndarray | None = None
            y_true = holdout[project.target].to_numpy()
            if production is not None:
                loaded = self.registry.load(project.name, production.version)
                if set(loaded.signature.input_names) <= set(holdout.columns):
                    baseline_pred = np.asarray(loaded.predict(holdout))
                    baseline_score = metric(y_true, baseline_pred)
            slices = slice_scores(
                holdout,
                project.gate.slices,
                y_true,
                candidate_pred,
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
            result.gate = verdict
            out.update(verdict.to_dict())
        say(f"gate: {'passed' if verdict.passed else 'failed'} ({verdict.reason})")

        out = {}
        with self._step(run_id, "register", out):
            self.registry.ensure_model(
                project.name, task=project.task, target=project.target, actor=self.actor
            )
            feature_frame = train[features]
            baseline = self._baseline(project, kept_schema, feature_frame)
            row = self.registry.register(
                project.name,
                model,
                flavor="sklearn",
                signature=Signature.infer(feature_frame, train[project.target], project.task),
                actor=self.actor,
                params=_json_params(model.get_params()),
                metrics={**result.metrics, "holdout_rows": len(holdout), "train_rows": len(train)},
                dataset_version_id=version.id,
                run_id=run_id,
                baseline=baseline,
                gate=verdict.to_dict(),
                code_version=code_version(project.root),
                tags={
                    "trigger_event_id": trigger_event_id,
                    "reason": reason,
                    # training and validation data: the version's rows, split so
                    "split": project.split.model_dump(),
                },
                validation={
                    "passed": report.passed,
                    "report_id": validation_id,
                    "errors": len(report.errors),
                    "warnings": len(report.warnings),
                },
                runtime_metrics={"train_seconds": train_seconds},
            )
            result.model_version = row.version
            out.update(model=project.name, version=row.version)
        say(f"register: {project.name} version {row.version}")

        if project.automation >= 1 and verdict.passed:
            out = {}
            with self._step(run_id, "promote", out):
                try:
                    self.registry.promote(
                        project.name,
                        row.version,
                        "production",
                        actor=self.actor,
                        reason=f"{reason}; gate: {verdict.reason}",
                    )
                except PromotionRefused as refused:  # e.g. approvals are still to come
                    out.update(stage=row.stage, awaiting=refused.missing)
                    say(f"promote: {project.name} version {row.version} waits: {refused}")
                    return
                result.promoted = True
                out.update(stage="production")
            say(f"promote: {project.name} version {row.version} is now in production")

    def _schema(
        self, raw: pd.DataFrame, dataset_version: str, production: ModelVersionRow | None
    ) -> tuple[Schema, Schema, str]:
        """The schema this run's data is checked against, the one its model version keeps for
        the next run, and where the first came from.

        A schema saved with the ingested data version wins (a person reviewed it for this
        data), then one saved with the production version's training data (both are kept as
        they are); else the data is checked against the schema production keeps and the new
        version keeps one inferred from this data; a first model has only the inferred one.
        """
        inferred = infer_schema(compute_statistics(raw))
        saved = self.schemas.saved(dataset_version)
        if saved is None and production is not None and production.dataset_version_id:
            saved = self.schemas.saved(production.dataset_version_id)
        if saved is not None and saved.saved is not None:
            return saved.schema, saved.schema, f"saved {saved.saved.id} ({saved.origin})"
        if production is not None and production.baseline.get("schema"):
            stored = Schema.from_dict(production.baseline["schema"])
            return stored, inferred, f"production v{production.version}"
        return inferred, inferred, "inferred from this data"

    def _has_model(self, project: Project) -> bool:
        return any(m.name == project.name for m in self.registry.list_models())

    def _baseline(self, project: Project, schema: Schema, features: pd.DataFrame) -> dict[str, Any]:
        """What monitoring needs once this version serves: schemas and a reference sample."""
        sample = features
        if len(sample) > project.drift.reference_rows:
            sample = sample.sample(project.drift.reference_rows, random_state=0)
        buffer = io.BytesIO()
        sample.reset_index(drop=True).to_parquet(buffer, index=False)
        blob = self.artifacts.put_bytes(buffer.getvalue())
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


def _describe(exc: BaseException) -> str:
    frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    where = f" ({frame.filename}:{frame.lineno})" if frame else ""
    return f"{type(exc).__name__}: {exc}{where}"
