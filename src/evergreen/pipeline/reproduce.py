"""``evergreen reproduce NAME VERSION``: train a registered version again, from the exact dataset
version and split its run recorded, and say whether the result is the same.

The replay is a run of the project's own pipeline (its added steps included) up to
``evaluate``, with nothing taken from the cache, on the recorded data version, with the split
the run recorded and the candidate and parameters its search chose (so no search runs again);
it is recorded as a run whose reason says so. Compared: the holdout metric (exactly), the
predictions on the holdout (exactly), and the artifact's sha256 (the scikit-learn flavor
writes byte-for-byte reproducible archives). The report also shows what may explain a
difference: the code version (git commit and uncommitted changes) and the package versions,
then and now. Nothing is registered.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from evergreen.data.splits import SplitSpec
from evergreen.errors import InvalidInput, InvalidState
from evergreen.flavors import get_flavor
from evergreen.pipeline.code_version import code_version
from evergreen.pipeline.packages import package_versions
from evergreen.pipeline.project import Project
from evergreen.pipeline.runner import PipelineRunner
from evergreen.training.candidates import Candidate
from evergreen.training.metrics import get_metric


@dataclass(frozen=True)
class Reproduction:
    model: str
    version: int
    dataset_version: str
    metric: str
    recorded: float
    reproduced: float
    predictions_identical: bool
    artifact_identical: bool
    recorded_sha256: str
    reproduced_sha256: str
    code_then: dict[str, Any] = field(default_factory=dict)
    code_now: dict[str, Any] = field(default_factory=dict)
    packages_changed: dict[str, list[str | None]] = field(default_factory=dict)

    @property
    def metrics_identical(self) -> bool:
        return self.recorded == self.reproduced

    @property
    def identical(self) -> bool:
        return self.metrics_identical and self.predictions_identical

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "metrics_identical": self.metrics_identical,
            "identical": self.identical,
        }


def reproduce(runner: PipelineRunner, project: Project, name: str, version: int) -> Reproduction:
    """Retrain version ``version`` of ``name`` with ``project``'s code; see the module."""
    registry, runs = runner.registry, runner.runs
    row = registry.get_version(name, version)
    run = runs.get_run(row.run_id) if row.run_id else None
    if run is None or row.dataset_version_id is None:
        raise InvalidState(
            f"{name}:{version} was not trained by an evergreen run (imported?); "
            "there is nothing to reproduce"
        )
    spec = run.params.get("project", {})
    if spec.get("name") != project.name or spec.get("target") != project.target:
        raise InvalidInput(
            f"the project file defines {project.name!r} (target {project.target!r}), but "
            f"{name}:{version} was trained by {spec.get('name')!r} (target {spec.get('target')!r})"
        )
    metric = get_metric(spec.get("metric") or project.metric_name)
    pinned = _as_trained(project, spec, row.tags)
    replay = runner.run(
        pinned,
        dataset_version=row.dataset_version_id,
        until="evaluate",
        use_cache=False,
        reason=f"reproduce {name}:{version}",
    )
    if replay.status != "succeeded":
        raise InvalidState(f"the reproduction run {replay.run_id} failed: {replay.error}")
    model = replay.artifacts["model"].get()
    holdout = replay.artifacts["holdout"].get()
    mine = np.asarray(replay.artifacts["predictions"].get())
    theirs = registry.load(name, version).predict(holdout)
    flavor = get_flavor(row.flavor)
    reproduced_sha = _sha256(flavor.save(model))
    then = run.params.get("packages") or {}
    now = package_versions()
    changed = {k: [then[k], now[k]] for k in now if k in then and then[k] != now[k]}
    return Reproduction(
        model=name,
        version=version,
        dataset_version=row.dataset_version_id,
        metric=metric.name,
        recorded=float(row.metrics.get(metric.name, float("nan"))),
        reproduced=float(replay.metrics.get(metric.name, float("nan"))),
        predictions_identical=bool(np.array_equal(mine, np.asarray(theirs))),
        artifact_identical=reproduced_sha == row.artifact_sha256,
        recorded_sha256=row.artifact_sha256,
        reproduced_sha256=reproduced_sha,
        code_then=dict(row.code_version),
        code_now=code_version(project.root),
        packages_changed=changed,
    )


def _as_trained(project: Project, spec: dict[str, Any], tags: dict[str, Any]) -> Project:
    """``project`` with the split the run recorded and the candidate and parameters its search
    chose, so the replay trains that one configuration (no search)."""
    changes: dict[str, Any] = {}
    if "split" in spec:
        changes["split"] = SplitSpec.model_validate(spec["split"])
    chosen = tags.get("candidate")
    if chosen is not None and project.candidates:
        found = next((c for c in project.candidates if c.name == chosen), None)
        if found is None:
            names = [c.name for c in project.candidates]
            raise InvalidInput(f"the project has no candidate {chosen!r} any more ({names})")
        params = dict(tags.get("search_params") or {})
        changes["candidates"] = [
            Candidate(found.name, found.model, fixed={**found.fixed, **params})
        ]
    return dataclasses.replace(project, **changes) if changes else project


def _sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()
