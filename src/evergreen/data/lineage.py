"""Lineage of a dataset version: the pipeline runs and model versions that used it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from evergreen.store.datasets import DatasetRepository
from evergreen.store.tables import DatasetVersionRow


@dataclass(frozen=True)
class RunUse:
    run_id: str
    project: str
    status: str
    started_at: str


@dataclass(frozen=True)
class ModelUse:
    model: str
    version: int
    stage: str
    run_id: str | None


@dataclass(frozen=True)
class Lineage:
    dataset_version: str
    runs: list[RunUse] = field(default_factory=list)
    model_versions: list[ModelUse] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def lineage_of(repository: DatasetRepository, row: DatasetVersionRow) -> Lineage:
    runs = [
        RunUse(r.id, r.project, r.status, r.started_at.isoformat())
        for r in repository.runs_using(row.id)
    ]
    models = [
        ModelUse(name, v.version, v.stage, v.run_id)
        for name, v in repository.model_versions_using(row.id)
    ]
    return Lineage(row.id, runs, models)
