"""Runs a project's pipeline, a graph of steps (see :mod:`evergreen.pipeline.builtin` for the
built-in ones): ingest → validate → prepare → split → train → evaluate → gate → register
(→ promote, at automation level 1).

Every run and step is recorded. A step whose fingerprint (its inputs' fingerprints, its code,
its parameters, what else it depends on) matches one kept from an earlier run is not run again:
its outputs are reused, loaded only if a later step needs them. A failed run registers nothing
and leaves production untouched; ``resume`` reruns it on the same data version, and the steps
that had succeeded come from the cache.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from evergreen.core.clock import Clock, SystemClock
from evergreen.core.ids import new_id
from evergreen.data.snapshots import DatasetStore
from evergreen.errors import (
    EvergreenError,
    IntegrityFailure,
    InvalidInput,
    InvalidState,
    NotFound,
)
from evergreen.pipeline.artifacts import Lazy, decoder, encode, readable
from evergreen.pipeline.builtin import STEPS_VERSION, OnTrial, RunContext
from evergreen.pipeline.code_version import code_version
from evergreen.pipeline.packages import package_versions
from evergreen.pipeline.project import Project
from evergreen.pipeline.steps import Step, code_fingerprint, fingerprint
from evergreen.registry import Registry
from evergreen.store.artifacts import ArtifactStore
from evergreen.store.datasets import DatasetSchemaRepository
from evergreen.store.runs import RunRepository
from evergreen.store.tables import ModelVersionRow, PipelineRunRow, StepCacheRow, StepRunRow
from evergreen.training.gate import GateVerdict
from evergreen.validation import Schema, compute_statistics, infer_schema
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
    error: str | None = None
    failed_step: str | None = None
    cached_steps: list[str] = field(default_factory=list)
    resumed_from: str | None = None
    seconds: float = 0.0
    # the run's artifacts by name (not serialised): what `reproduce` compares
    artifacts: dict[str, Lazy] = field(default_factory=dict, repr=False)

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
            "failed_step": self.failed_step,
            "cached_steps": self.cached_steps,
            "resumed_from": self.resumed_from,
            "seconds": round(self.seconds, 3),
        }


class PipelineRunner:
    def __init__(
        self,
        datasets: DatasetStore,
        registry: Registry,
        runs: RunRepository,
        artifacts: ArtifactStore,
        clock: Clock | None = None,
        actor: str = "pipeline",
        executor: str | None = None,
        step_workers: int = 2,
    ) -> None:
        self.datasets, self.registry, self.runs = datasets, registry, runs
        self.step_workers = max(1, step_workers)  # independent steps at a time
        self.artifacts = artifacts
        self.clock = clock or SystemClock()
        self.actor = actor
        self.executor = executor  # overrides the project's search executor (EVERGREEN_EXECUTOR)
        self.schemas = SavedSchemas(
            datasets, DatasetSchemaRepository(datasets.repository.db), self.clock
        )

    def run(
        self,
        project: Project,
        *,
        source: str | None = None,
        trigger_event_id: str | None = None,
        reason: str = "manual run",
        progress: Progress | None = None,
        on_trial: OnTrial | None = None,
        resume: str | None = None,
        use_cache: bool = True,
        dataset_version: str | None = None,
        until: str | None = None,
    ) -> RunResult:
        """Run ``project``'s pipeline once (see the module); ``resume`` names a failed run to
        go on from: its data version and source are kept. ``dataset_version`` trains on that
        version instead of a new snapshot; ``until`` stops after the step of that name."""
        say = progress or (lambda _message: None)
        started = time.perf_counter()
        pinned = dataset_version
        if resume is not None:
            pinned, source = self._resumable(resume, project)
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
                    "source": source,
                    "reason": reason,
                    "packages": package_versions(),
                    "resumed_from": resume,
                    "cache": use_cache,
                },
                outcome={},
                error=None,
            )
        )
        result = RunResult(run_id=run_id, status="running", resumed_from=resume)
        context = RunContext(
            runner=self,
            project=project,
            run_id=run_id,
            production=self._production(project),
            say=say,
            source=source,
            dataset_version=pinned,
            trigger_event_id=trigger_event_id,
            reason=reason,
            executor=self.executor,
            on_trial=on_trial,
            use_cache=use_cache,
        )
        values: dict[str, Lazy] = result.artifacts
        try:
            self._execute(project, context, values, result, until)
            result.status = "succeeded"
        except EvergreenError as exc:
            result.status, result.error = "failed", str(exc)
        except Exception as exc:  # user code (prepare, model, steps) may raise anything
            result.status, result.error = "failed", _describe(exc)
        self._outcome(values, result)
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

    def _resumable(self, run_id: str, project: Project) -> tuple[str | None, str | None]:
        run = self.runs.get_run(run_id)
        if run is None:
            raise NotFound(f"no pipeline run {run_id!r}; see `evergreen runs list`")
        if run.project != project.name:
            raise InvalidState(
                f"run {run_id} belongs to project {run.project!r}, not {project.name!r}"
            )
        if run.status == "succeeded":
            raise InvalidState(f"run {run_id} succeeded; there is nothing to resume")
        if run.status == "running":
            raise InvalidState(f"run {run_id} is still running (or was killed mid-run)")
        return run.dataset_version_id, run.params.get("source")

    def _production(self, project: Project) -> ModelVersionRow | None:
        if not any(m.name == project.name for m in self.registry.list_models()):
            return None
        return self.registry.production(project.name)

    def _execute(
        self,
        project: Project,
        context: RunContext,
        values: dict[str, Lazy],
        result: RunResult,
        until: str | None = None,
    ) -> None:
        """Run the graph: each step as soon as the steps it reads from are done, up to
        ``step_workers`` at a time (threads), so validation runs beside preparation; after a
        failure no new step starts, the running ones finish and are recorded, and the failure
        of the earliest step (in the pipeline's order) is raised."""
        graph = project.graph()
        steps = list(graph.steps)
        if until is not None:
            if until not in graph.names:
                raise InvalidInput(f"no step {until!r} (steps: {', '.join(graph.names)})")
            steps = steps[: graph.names.index(until) + 1]
        writer = {(e.target, e.artifact): e.source for e in graph.edges}
        base = fingerprint({"packages": package_versions(), "steps": STEPS_VERSION})
        outputs_of: dict[str, dict[str, Lazy]] = {}
        fingerprints: dict[tuple[str, str], str] = {}
        pending = list(steps)
        running: dict[Future[tuple[dict[str, Any], str | None]], tuple[Step, str]] = {}
        failures: list[tuple[Step, BaseException]] = []
        cached: set[str] = set()
        with ThreadPoolExecutor(self.step_workers, thread_name_prefix="step") as pool:
            while pending or running:
                for current in list(pending) if not failures else []:
                    sources = {writer[(current.name, a)] for a in current.inputs}
                    if not sources <= outputs_of.keys() or len(running) >= self.step_workers:
                        continue
                    inputs = {
                        a: fingerprints[(writer[(current.name, a)], a)] for a in current.inputs
                    }
                    context.fingerprints.update(inputs)
                    step_fp = fingerprint(
                        {
                            "base": base,
                            "step": current.name,
                            "code": code_fingerprint(current.fn),
                            "params": {k: code_fingerprint(v) for k, v in current.params.items()},
                            "key": current.key(context) if current.key is not None else None,
                            "inputs": inputs,
                        }
                    )
                    reads = {a: outputs_of[writer[(current.name, a)]][a] for a in current.inputs}
                    future = pool.submit(self._step, current, step_fp, context, reads)
                    running[future] = (current, step_fp)
                    pending.remove(current)
                if not running:
                    break
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    current, step_fp = running.pop(future)
                    try:
                        produced, cached_from = future.result()
                    except BaseException as exc:
                        failures.append((current, exc))
                        continue
                    if cached_from is not None:
                        cached.add(current.name)
                    kept: dict[str, Lazy] = {}
                    for name, value in produced.items():
                        lazy = value if isinstance(value, Lazy) else Lazy(value)
                        kept[name] = lazy
                        identity = lazy.key if lazy.key is not None else step_fp
                        if not current.cache and lazy.key is None:
                            identity = f"{step_fp}:{context.run_id}"  # produced fresh each run
                        fingerprints[(current.name, name)] = fingerprint(
                            {"from": identity, "output": name}
                        )
                    outputs_of[current.name] = kept
                    if current.name == "ingest":
                        result.dataset_version = str(kept["dataset"].get())
        for current in steps:  # the run's artifacts: each name as its last writer left it
            for name, lazy in outputs_of.get(current.name, {}).items():
                values[name] = lazy
                context.fingerprints[name] = fingerprints[(current.name, name)]
        result.cached_steps = [s.name for s in steps if s.name in cached]
        if failures:  # the earliest in the pipeline's order: validation before what it guards
            failed, error = min(failures, key=lambda f: steps.index(f[0]))
            result.failed_step = failed.name
            raise error

    def _step(
        self, current: Step, step_fp: str, context: RunContext, values: dict[str, Lazy]
    ) -> tuple[dict[str, Any], str | None]:
        """Run one step (or take its outputs from the cache), recording it."""
        context.start_step()
        step_id = new_id("step")
        self.runs.add_step(
            StepRunRow(
                id=step_id,
                run_id=context.run_id,
                name=current.name,
                status="running",
                started_at=self.clock.now(),
                finished_at=None,
                outputs={},
                error=None,
            )
        )
        hit = self._cached(current, step_fp) if current.cache and context.use_cache else None
        if hit is not None:
            row, outputs = hit
            summary = {**row.summary, "fingerprint": step_fp, "cached_from": row.run_id}
            self.runs.finish_step(step_id, status="cached", at=self.clock.now(), outputs=summary)
            context.say(f"{current.name}: cached (from run {row.run_id})")
            return dict(outputs), row.run_id
        try:
            produced = current.call(context, {name: values[name].get() for name in current.inputs})
        except BaseException as exc:
            message = str(exc) if isinstance(exc, EvergreenError) else _describe(exc)
            self.runs.finish_step(
                step_id,
                status="failed",
                at=self.clock.now(),
                outputs={**context.notes, "fingerprint": step_fp},
                error=message,
            )
            raise
        if current.cache and context.use_cache:
            kept = {name: encode(_value(v), self.artifacts) for name, v in produced.items()}
            self.runs.cache_step(
                StepCacheRow(
                    fingerprint=step_fp,
                    step=current.name,
                    created_at=self.clock.now(),
                    run_id=context.run_id,
                    outputs=kept,
                    summary=_json_ready(context.notes),
                )
            )
        self.runs.finish_step(
            step_id,
            status="succeeded",
            at=self.clock.now(),
            outputs={**_json_ready(context.notes), "fingerprint": step_fp},
        )
        return produced, None

    def _cached(self, current: Step, step_fp: str) -> tuple[StepCacheRow, dict[str, Lazy]] | None:
        row = self.runs.cached_step(step_fp)
        if row is None or row.step != current.name:
            return None
        if not all(readable(kept, self.artifacts) for kept in row.outputs.values()):
            self.runs.forget_step(step_fp)  # its blobs are gone: compute it again
            return None

        def damaged(name: str) -> Callable[[IntegrityFailure], Exception]:
            def explain(failure: IntegrityFailure) -> Exception:
                self.runs.forget_step(step_fp)
                return IntegrityFailure(
                    f"the cached output {name!r} of step {current.name!r} (kept by run "
                    f"{row.run_id}) is damaged: {failure}; it is forgotten now, so running "
                    "again computes it afresh"
                )

            return explain

        return row, {
            name: decoder(kept, self.artifacts, damaged(name)) for name, kept in row.outputs.items()
        }

    @staticmethod
    def _outcome(values: dict[str, Lazy], result: RunResult) -> None:
        """What the run produced, from its artifacts (cached or not)."""
        if "metrics" in values:
            result.metrics = dict(values["metrics"].get())
        if "verdict" in values:
            result.gate = GateVerdict.model_validate(values["verdict"].get())
        if "model_version" in values:
            result.model_version = int(values["model_version"].get()["version"])
        if "promoted" in values:
            result.promoted = bool(values["promoted"].get())

    def choose_schema(
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


def _value(value: Any) -> Any:
    return value.get() if isinstance(value, Lazy) else value


def _json_ready(notes: dict[str, Any]) -> dict[str, Any]:
    """A step's record as JSON (numbers from NumPy as Python numbers, the rest by repr)."""
    import json

    return dict(json.loads(json.dumps(notes, default=_plain)))


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, tuple | set):
        return list(value)
    return repr(value)


def _describe(exc: BaseException) -> str:
    frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    where = f" ({frame.filename}:{frame.lineno})" if frame else ""
    return f"{type(exc).__name__}: {exc}{where}"
