"""Shared helpers of the registry tests: a ticking clock, the real bike data, a fitted model,
and versions registered with the evidence a pipeline run records."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from sklearn.linear_model import LinearRegression

from evergreen.flavors import Signature
from evergreen.registry import Registry
from evergreen.store.artifacts import ArtifactStore
from evergreen.store.database import Database
from evergreen.store.models import ModelRepository

DAY = Path(__file__).resolve().parents[2] / "examples" / "data" / "bike_sharing_day.csv"
FEATURES = ["temp", "atemp", "hum", "windspeed"]


class TickingClock:
    """A clock that moves one millisecond each time it is read: every event gets its own time."""

    def __init__(self, start: datetime = datetime(2026, 1, 1, tzinfo=UTC)) -> None:
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            self._now += timedelta(milliseconds=1)
            return self._now


def training_data() -> tuple[pd.DataFrame, pd.Series]:
    frame = pd.read_csv(DAY)
    return frame[FEATURES], frame["cnt"]


def fit(rows: slice = slice(None)) -> LinearRegression:
    features, target = training_data()
    return LinearRegression().fit(features.iloc[rows], target.iloc[rows])


def signature() -> Signature:
    features, target = training_data()
    return Signature.infer(features, target, "regression")


def make_registry(db: Database, artifacts: ArtifactStore) -> Registry:
    return Registry(ModelRepository(db), artifacts, TickingClock())


# What a pipeline run records for a version that may go to production.
EVIDENCE: dict[str, Any] = {
    "gate": {"passed": True, "reason": "no production version to beat"},
    "validation": {"passed": True, "report_id": "val-test", "errors": 0, "warnings": 0},
}


def stages(registry: Registry) -> dict[int, str]:
    return {row.version: row.stage for row in registry.versions("bikes")}
