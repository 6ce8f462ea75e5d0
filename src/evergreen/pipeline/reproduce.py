"""``evergreen reproduce NAME VERSION``: train a registered version again, from the exact dataset
version and split its run recorded, and say whether the result is the same.

Compared: the holdout metric (exactly), the predictions on the holdout (exactly), and the
artifact's sha256 (the scikit-learn flavor writes byte-for-byte reproducible archives). The
report also shows what may explain a difference: the code version (git commit and uncommitted
changes) and the package versions, then and now. Nothing is registered.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from evergreen.data.snapshots import DatasetStore
from evergreen.data.splits import SplitSpec
from evergreen.errors import InvalidInput, InvalidState
from evergreen.flavors import get_flavor
from evergreen.pipeline.code_version import code_version
from evergreen.pipeline.fitting import fit_model, package_versions, predict, prepare_split
from evergreen.pipeline.project import Project
from evergreen.registry import Registry
from evergreen.store.runs import RunRepository
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


def reproduce(
    registry: Registry,
    datasets: DatasetStore,
    runs: RunRepository,
    project: Project,
    name: str,
    version: int,
) -> Reproduction:
    """Retrain version ``version`` of ``name`` with ``project``'s code; see the module."""
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
    split_spec = SplitSpec.model_validate(spec["split"]) if "split" in spec else None
    raw = datasets.load(row.dataset_version_id)
    features, train, holdout = prepare_split(project, raw, split_spec)
    model, _seconds = fit_model(project, train, features)
    y_true = holdout[project.target].to_numpy()
    mine = predict(model, holdout, features)
    theirs = registry.load(name, version).predict(holdout)
    flavor = get_flavor(row.flavor)
    reproduced_sha = _sha256(flavor.save(model))
    then = run.params.get("packages") or {}
    now = package_versions()
    changed = {k: [then.get(k), now.get(k)] for k in now if then and then.get(k) != now.get(k)}
    return Reproduction(
        model=name,
        version=version,
        dataset_version=row.dataset_version_id,
        metric=metric.name,
        recorded=float(row.metrics.get(metric.name, float("nan"))),
        reproduced=metric(y_true, mine),
        predictions_identical=bool(np.array_equal(mine, np.asarray(theirs))),
        artifact_identical=reproduced_sha == row.artifact_sha256,
        recorded_sha256=row.artifact_sha256,
        reproduced_sha256=reproduced_sha,
        code_then=dict(row.code_version),
        code_now=code_version(project.root),
        packages_changed=changed,
    )


def _sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()
