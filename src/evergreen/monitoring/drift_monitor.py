"""The input-drift monitor: live inputs of the serving version against its own baseline.

Each check reads the newest window of logged inputs of a model's production version, compares
them with the reference sample stored on that version, records the result as a time series, and
raises a ``drift`` trigger event (unless one is already pending) when the dataset drifts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from evergreen.core.clock import Clock, SystemClock
from evergreen.core.ids import new_id
from evergreen.errors import InvalidInput
from evergreen.pipeline.project import DriftPolicy
from evergreen.registry import Registry
from evergreen.store.artifacts import ArtifactStore
from evergreen.store.events import EventRepository, new_event
from evergreen.store.predictions import PredictionRepository, read_predictions
from evergreen.store.tables import MonitorResultRow, TriggerEventRow
from evergreen.validation import (
    Anomaly,
    DriftReport,
    DriftTracker,
    Schema,
    check_batch,
    detect_drift,
)

RESULT_KIND = "input_drift"


@dataclass
class MonitorOutcome:
    model: str
    version: int
    rows: int
    drift: DriftReport | None = None
    anomalies: list[Anomaly] | None = None
    event: TriggerEventRow | None = None
    note: str = ""
    tracker: dict[str, Any] | None = None  # persistence state, read back by the next check

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version,
            "rows": self.rows,
            "drift": self.drift.to_dict() if self.drift else None,
            "anomalies": [a.model_dump() for a in self.anomalies or []],
            "event_id": self.event.id if self.event else None,
            "note": self.note,
            "tracker": self.tracker,
        }


class DriftMonitor:
    def __init__(
        self,
        registry: Registry,
        predictions: PredictionRepository,
        artifacts: ArtifactStore,
        events: EventRepository,
        clock: Clock | None = None,
    ) -> None:
        self.registry, self.predictions = registry, predictions
        self.artifacts, self.events = artifacts, events
        self.clock = clock or SystemClock()

    def check(self, model: str, *, raise_events: bool = True) -> MonitorOutcome | None:
        """One pass over the newest window; None when the model has no production version."""
        production = self.registry.production(model)
        if production is None:
            return None
        policy = DriftPolicy.model_validate(production.baseline.get("drift", {}))
        live = read_predictions(
            self.predictions,
            self.artifacts,
            model,
            version=production.version,
            last_rows=policy.window_rows,
        )
        outcome = MonitorOutcome(model, production.version, len(live))
        if len(live) < policy.min_rows:
            outcome.note = f"waiting for {policy.min_rows} logged rows (have {len(live)})"
            return outcome
        reference = self.registry.reference_features(production)
        columns = monitored_columns(model, production.version, policy, reference, live)
        report, outcome.tracker = input_drift(
            self.predictions, model, production.version, policy, reference, live, columns
        )
        outcome.drift = report
        schema = production.baseline.get("features_schema")
        if schema:
            outcome.anomalies = check_batch(live[columns], Schema.from_dict(schema))
        now = self.clock.now()
        self.predictions.add_result(
            MonitorResultRow(
                id=new_id("mon"),
                at=now,
                model=model,
                version=production.version,
                kind=RESULT_KIND,
                value=report.drift_share,
                rows=len(live),
                details=outcome.to_dict(),
                window_start=live["ts"].iloc[0].to_pydatetime(),
                window_end=live["ts"].iloc[-1].to_pydatetime(),
            )
        )
        if report.dataset_drift and raise_events:
            outcome.event = drift_event(
                self.events, model, production.version, report, len(live), now
            )
        return outcome


def monitored_columns(
    model: str, version: int, policy: DriftPolicy, reference: pd.DataFrame, live: pd.DataFrame
) -> list[str]:
    """The input columns the drift policy watches, checked against the logged ones."""
    columns = list(policy.columns or reference.columns)
    missing = [c for c in columns if c not in live.columns]
    if missing:
        raise InvalidInput(
            f"logged inputs of {model} v{version} lack column(s) "
            f"{missing} that its drift policy monitors"
        )
    return columns


def input_drift(
    predictions: PredictionRepository,
    model: str,
    version: int,
    policy: DriftPolicy,
    reference: pd.DataFrame,
    live: pd.DataFrame,
    columns: list[str],
) -> tuple[DriftReport, dict[str, Any] | None]:
    """Drift of ``live`` from ``reference`` under ``policy``, with its persistence applied
    (from the state the previous ``input_drift`` result of this version left); the report and
    the state to store (None without persistence)."""
    report = detect_drift(reference, live, columns=columns, spec=policy.spec)
    if policy.spec.persistence <= 1:
        return report, None
    tracker = _tracker(predictions, model, version, policy.spec.persistence)
    return tracker.update(report), tracker.to_dict()


def _tracker(
    predictions: PredictionRepository, model: str, version: int, persistence: int
) -> DriftTracker:
    """The persistence state the previous check of this version left (a fresh one when there
    is none, or when the policy's persistence differs)."""
    previous = predictions.latest_result(model, version, RESULT_KIND)
    if previous is None:
        return DriftTracker(persistence)
    state = previous.details.get("tracker")
    if state and state.get("persistence") == persistence:
        return DriftTracker.from_dict(state, source=f"monitor result {previous.id}")
    return DriftTracker(persistence)


def drift_signal(
    model: str, version: int, report: DriftReport, rows: int
) -> tuple[str, dict[str, Any]]:
    """The reason and the evidence of a ``drift`` trigger event for a drifted window."""
    drifted = ", ".join(report.drifted_columns)
    reason = (
        f"input drift on {model} v{version}: "
        f"{report.drift_share:.0%} of columns drifted ({drifted})"
    )
    return reason, {"drift": report.to_dict(), "rows": rows}


def drift_event(
    events: EventRepository,
    model: str,
    version: int,
    report: DriftReport,
    rows: int,
    now: datetime,
) -> TriggerEventRow:
    """Queue a ``drift`` trigger event (or return the one already pending for the model)."""
    reason, evidence = drift_signal(model, version, report, rows)
    event, _new = events.enqueue(new_event(model, "drift", reason, evidence, now))
    return event
