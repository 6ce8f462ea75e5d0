"""Composition: the only place that turns ``Settings`` into concrete stores and services."""

from __future__ import annotations

from dataclasses import dataclass, field

from evergreen.core.clock import Clock, SystemClock
from evergreen.data.snapshots import DatasetStore
from evergreen.registry import Registry
from evergreen.settings import Settings
from evergreen.store.artifacts import ArtifactStore
from evergreen.store.database import Database
from evergreen.store.datasets import DatasetRepository
from evergreen.store.events import EventRepository
from evergreen.store.models import ModelRepository
from evergreen.store.predictions import PredictionRepository
from evergreen.store.runs import RunRepository


@dataclass
class Context:
    """Everything a command, the gateway or the controller needs, wired once."""

    settings: Settings
    db: Database
    artifacts: ArtifactStore
    clock: Clock = field(default_factory=SystemClock)

    def __post_init__(self) -> None:
        self.datasets = DatasetStore(DatasetRepository(self.db), self.artifacts, self.clock)
        self.registry = Registry(ModelRepository(self.db), self.artifacts, self.clock)
        self.runs = RunRepository(self.db)
        self.events = EventRepository(self.db)
        self.predictions = PredictionRepository(self.db)

    def close(self) -> None:
        self.db.dispose()


def build(settings: Settings | None = None, clock: Clock | None = None) -> Context:
    settings = settings or Settings()
    settings.home.mkdir(parents=True, exist_ok=True)
    db = Database(settings.resolved_db_url)
    artifacts = ArtifactStore(settings.resolved_artifacts_url)
    return Context(settings, db, artifacts, clock or SystemClock())
