"""One monitor pass over a project's production model: every series from one read of its window.

``Monitor.check(project)`` reads the window the project's ``MonitorSpec`` sets (the newest
``window_rows`` primary-role rows of the production version's prediction log, or those of the
last ``window`` of time; see ``monitoring.windows``), joins the labels that have arrived, and
writes one ``MonitorResultRow`` per series below, each with ``window_start``/``window_end``:

=========================  =======  ==========================================================
kind                       feature  value
=========================  =======  ==========================================================
``input_drift``            None     share of the monitored input columns that drifted from the
                                    version's reference sample (the drift policy stored with
                                    the version: tests, thresholds, persistence); a dataset
                                    drift also queues a ``drift`` trigger event
``input_drift.feature``    column   that column's test result: the p-value for a hypothesis
                                    test (KS, chi-square, z: low means drift), the distance for
                                    a distance test (Wasserstein, Jensen-Shannon, PSI: high
                                    means drift); ``details.value_is`` says which
``prediction_drift``       None     the same, for the logged predictions against the version's
                                    own predictions on its reference sample
``data_quality``           None     how many anomalies ``check_batch`` finds in the window's
                                    inputs against the version's stored features schema
``performance.<metric>``   None     the metric on the window's labelled rows (``rows`` is how
                                    many); only once ``min_labels`` rows are labelled
``detector.page_hinkley``  None     1.0 when the detector alarmed on the errors whose labels
``detector.adwin``                  arrived since the previous pass, else 0.0; ``details``
                                    say where, and carry the detector's state
=========================  =======  ==========================================================

Input series wait for the drift policy's ``min_rows`` rows in the window; performance waits
for ``min_labels`` labelled rows (``roc_auc``/``log_loss`` of a classifier are never computed:
the log holds predicted classes, not scores; they are listed in ``unavailable`` with why).

The outcome is a :class:`MonitorPass`: ``model``, ``version``, ``rows`` (in the window),
``labelled`` (rows with a label and an answer), ``window_start``/``window_end``, ``results``
(the ``MonitorResultRow`` s written, in order), ``drift`` (the input ``DriftReport``, None while
waiting for rows), ``anomalies``, ``event`` (the ``drift`` trigger event queued or already
pending, when the inputs drifted), ``unavailable`` and ``note`` (what the pass waited for); and
the helpers ``value(kind, feature)``, ``performance`` ({metric: value}) and ``alarms`` (the
detectors that alarmed). Whether a metric value should trigger retraining is not decided here.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from evergreen.core.clock import Clock, SystemClock
from evergreen.core.ids import new_id
from evergreen.errors import InvalidInput
from evergreen.flavors import LoadedModel
from evergreen.monitoring.detectors import Adwin, Detector, PageHinkley
from evergreen.monitoring.drift_monitor import (
    RESULT_KIND,
    drift_event,
    input_drift,
    monitored_columns,
)
from evergreen.monitoring.performance import Scores, errors, performance
from evergreen.monitoring.windows import Window, read_window
from evergreen.pipeline.monitors import DETECTORS, MonitorSpec
from evergreen.pipeline.project import DriftPolicy, Project
from evergreen.registry import Registry
from evergreen.store.artifacts import ArtifactStore
from evergreen.store.events import EventRepository
from evergreen.store.predictions import PredictionRepository
from evergreen.store.tables import ModelVersionRow, MonitorResultRow, TriggerEventRow
from evergreen.validation import (
    Anomaly,
    ColumnDrift,
    DriftReport,
    Schema,
    check_batch,
    detect_drift,
)

FEATURE_KIND = "input_drift.feature"
PREDICTION_KIND = "prediction_drift"
QUALITY_KIND = "data_quality"
PERFORMANCE_PREFIX = "performance."
DETECTOR_PREFIX = "detector."
MAX_LISTED = 50  # anomalies and alarms listed in a result's details


@dataclass
class MonitorPass:
    """What one pass found and wrote (``results``, in the order written)."""

    model: str
    version: int
    rows: int
    labelled: int
    window_start: datetime | None = None
    window_end: datetime | None = None
    results: list[MonitorResultRow] = field(default_factory=list)
    drift: DriftReport | None = None
    anomalies: list[Anomaly] | None = None
    event: TriggerEventRow | None = None
    unavailable: dict[str, str] = field(default_factory=dict)  # metric -> why it has no value
    note: str = ""

    def value(self, kind: str, feature: str | None = None) -> float | None:
        """The value this pass wrote for a series, or None when it wrote none."""
        for row in self.results:
            if row.kind == kind and row.feature == feature:
                return row.value
        return None

    @property
    def performance(self) -> dict[str, float]:
        """The metrics this pass computed, by name (``rmse``, ``accuracy``...)."""
        return {
            r.kind.removeprefix(PERFORMANCE_PREFIX): r.value
            for r in self.results
            if r.kind.startswith(PERFORMANCE_PREFIX)
        }

    @property
    def alarms(self) -> list[str]:
        """The detectors that alarmed in this pass."""
        return [
            r.kind.removeprefix(DETECTOR_PREFIX)
            for r in self.results
            if r.kind.startswith(DETECTOR_PREFIX) and r.value > 0
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version,
            "rows": self.rows,
            "labelled": self.labelled,
            "window_start": self.window_start.isoformat() if self.window_start else None,
            "window_end": self.window_end.isoformat() if self.window_end else None,
            "series": [
                {"kind": r.kind, "feature": r.feature, "value": r.value, "rows": r.rows}
                for r in self.results
            ],
            "drift": self.drift.to_dict() if self.drift else None,
            "event_id": self.event.id if self.event else None,
            "unavailable": self.unavailable,
            "note": self.note,
        }


def window_rows(spec: MonitorSpec, production: ModelVersionRow) -> int:
    """Rows in a window by count: the spec's, else the version's stored drift policy's."""
    if spec.window_rows is not None:
        return spec.window_rows
    return DriftPolicy.model_validate(production.baseline.get("drift", {})).window_rows


class Monitor:
    """Monitor passes over production models. ``events`` (optional) receives the ``drift``
    trigger events; reference predictions are cached per version for the monitor's life."""

    def __init__(
        self,
        registry: Registry,
        predictions: PredictionRepository,
        artifacts: ArtifactStore,
        events: EventRepository | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.registry, self.predictions, self.artifacts = registry, predictions, artifacts
        self.events = events
        self.clock = clock or SystemClock()
        self._reference_predictions: dict[tuple[str, int], pd.DataFrame] = {}
        self._loaded: dict[tuple[str, int], LoadedModel] = {}

    def check(self, project: Project, *, raise_events: bool = True) -> MonitorPass | None:
        """One pass over the project's production model; None when it has none."""
        model = project.name
        production = self.registry.production(model)
        if production is None:
            return None
        spec = project.monitors
        now = self.clock.now()
        window = read_window(
            self.predictions,
            self.artifacts,
            model,
            production.version,
            now=now,
            last_rows=None if spec.window is not None else window_rows(spec, production),
            last=spec.window,
            labels=False,
        )
        outcome = MonitorPass(model, production.version, window.rows, 0, window.start, window.end)
        # the labels are read while the inputs are checked: the database works without the GIL
        with ThreadPoolExecutor(1, thread_name_prefix="evergreen-labels") as pool:
            labels = pool.submit(self.predictions.labels, window.request_ids())
            pass_ = _Pass(self, project, production, window, outcome, now)
            notes = [pass_.inputs(raise_events)]
            window = pass_.window = window.with_labels(labels.result())
        labelled = window.labelled
        outcome.labelled = len(labelled)
        notes.append(pass_.performance(labelled))
        pass_.detectors(labelled)
        outcome.note = "; ".join(n for n in notes if n)
        self.predictions.add_results(outcome.results)
        return outcome

    def scorer(
        self, model: str, production: ModelVersionRow
    ) -> Callable[[pd.DataFrame], Scores | None]:
        """Class probabilities of logged rows, from the version that answered them (loaded
        verified once per version)."""

        def scores(rows: pd.DataFrame) -> Scores | None:
            key = (model, production.version)
            loaded = self._loaded.get(key)
            if loaded is None:
                loaded = self._loaded[key] = self.registry.load(model, production.version)
            return loaded.class_scores(rows[loaded.signature.input_names])

        return scores

    def reference_predictions(self, model: str, production: ModelVersionRow) -> pd.DataFrame:
        """The version's predictions on its own reference sample (loaded through the registry's
        verified load once per version)."""
        key = (model, production.version)
        cached = self._reference_predictions.get(key)
        if cached is None:
            reference = self.registry.reference_features(production)
            loaded = self._loaded.get(key) or self.registry.load(model, production.version)
            self._loaded[key] = loaded
            cached = _prediction_frame(loaded.predict(reference))
            self._reference_predictions[key] = cached
        return cached


class _Pass:
    """The work of one ``Monitor.check``: each method adds its series to ``outcome``."""

    def __init__(
        self,
        monitor: Monitor,
        project: Project,
        production: ModelVersionRow,
        window: Window,
        outcome: MonitorPass,
        now: datetime,
    ) -> None:
        self.monitor, self.project, self.production = monitor, project, production
        self.window, self.outcome, self.now = window, outcome, now
        self.spec: MonitorSpec = project.monitors

    def add(
        self,
        kind: str,
        value: float,
        rows: int,
        details: dict[str, Any],
        feature: str | None = None,
    ) -> None:
        self.outcome.results.append(
            MonitorResultRow(
                id=new_id("mon"),
                at=self.now,
                model=self.outcome.model,
                version=self.outcome.version,
                kind=kind,
                value=float(value),
                rows=rows,
                details=details,
                feature=feature,
                window_start=self.window.start,
                window_end=self.window.end,
            )
        )

    # -- inputs: drift, per-feature drift, prediction drift, data quality -----------------------

    def inputs(self, raise_events: bool) -> str:
        production, outcome, frame = self.production, self.outcome, self.window.frame
        policy = DriftPolicy.model_validate(production.baseline.get("drift", {}))
        if len(frame) < policy.min_rows:
            return f"waiting for {policy.min_rows} logged rows (have {len(frame)})"
        monitor = self.monitor
        reference = monitor.registry.reference_features(production)
        columns = monitored_columns(outcome.model, outcome.version, policy, reference, frame)
        report, tracker = input_drift(
            monitor.predictions, outcome.model, outcome.version, policy, reference, frame, columns
        )
        outcome.drift = report
        rows = len(frame)
        self.add(
            RESULT_KIND, report.drift_share, rows, {"drift": report.to_dict(), "tracker": tracker}
        )
        for column in report.columns:
            self.add_drift(FEATURE_KIND, column, rows, feature=column.column)
        if report.dataset_drift and raise_events and monitor.events is not None:
            outcome.event = drift_event(
                monitor.events, outcome.model, outcome.version, report, rows, self.now
            )
        if self.spec.prediction_drift:
            self.prediction_drift(policy)
        schema = production.baseline.get("features_schema")
        if self.spec.data_quality and schema:
            found = check_batch(frame[columns], Schema.from_dict(schema))  # one copy
            outcome.anomalies = found
            self.add(
                QUALITY_KIND,
                len(found),
                rows,
                {
                    "by_severity": _count(a.severity for a in found),
                    "anomalies": [a.model_dump(mode="json") for a in found[:MAX_LISTED]],
                },
            )
        return ""

    def add_drift(
        self, kind: str, column: ColumnDrift, rows: int, feature: str | None = None
    ) -> None:
        value, value_is = _score(column)
        if value is None:
            return  # skipped (no values to compare): nothing to plot
        details = column.model_dump(mode="json") | {"value_is": value_is}
        self.add(kind, value, rows, details, feature=feature)

    def prediction_drift(self, policy: DriftPolicy) -> None:
        answered = self.window.frame["prediction"].dropna()
        if answered.empty or isinstance(answered.iloc[0], list | np.ndarray):
            return  # nothing answered, or one vector per row: no single column to compare
        reference = self.monitor.reference_predictions(self.outcome.model, self.production)
        report = detect_drift(
            reference,
            pd.DataFrame({"prediction": answered.to_numpy()}),
            columns=["prediction"],
            spec=policy.spec,
        )
        self.add_drift(PREDICTION_KIND, report.columns[0], len(answered))

    # -- labels: performance and detectors ------------------------------------------------------

    def performance(self, labelled: pd.DataFrame) -> str:
        if len(labelled) < self.spec.min_labels:
            return f"waiting for {self.spec.min_labels} labelled rows (have {len(labelled)})"
        scores = None
        if self.project.task == "classification":
            score = self.monitor.scorer(self.outcome.model, self.production)
            logged = self.window.frame

            def scores(rows: pd.DataFrame) -> Scores | None:
                return score(logged.loc[rows.index])  # the labelled rows' logged inputs

        for metric in performance(labelled, self.project.task, self.spec.metrics, scores):
            if metric.value is not None:
                self.add(PERFORMANCE_PREFIX + metric.name, metric.value, metric.rows, {})
            else:
                self.outcome.unavailable[metric.name] = metric.note
        return ""

    def detectors(self, labelled: pd.DataFrame) -> None:
        if labelled.empty or not self.spec.detectors:
            return
        built: list[tuple[Detector, str | None]] = []
        for name in self.spec.detectors:
            kind = DETECTOR_PREFIX + name
            previous = self.monitor.predictions.latest_result(
                self.outcome.model, self.outcome.version, kind
            )
            state = previous.details.get("state") if previous else None
            cursor = previous.details.get("cursor") if previous else None
            detector: Detector
            if name == "page_hinkley":
                detector = PageHinkley(self.spec.page_hinkley, state)
            elif name == "adwin":
                detector = Adwin(self.spec.adwin, state)
            else:
                raise InvalidInput(
                    f"project {self.project.name!r}: unknown monitor detector {name!r}; "
                    f"choose from {list(DETECTORS)}"
                )
            built.append((detector, cursor))
        for detector, cursor in built:
            fresh = labelled
            if cursor is not None:
                fresh = labelled[labelled["label_at"] > pd.Timestamp(cursor)]
            arrived = fresh["label_at"].to_numpy(dtype="datetime64[us]")
            if len(arrived) > 1 and not (arrived[1:] >= arrived[:-1]).all():
                # in label arrival order; rows are in time order, so ties stay in time order
                fresh = fresh.iloc[np.argsort(arrived, kind="stable")]
            found = detector.update(errors(fresh, self.project.task) if len(fresh) else _empty())
            where = [
                {
                    "request_id": str(fresh["request_id"].iloc[p]),
                    "ts": fresh["ts"].iloc[p].isoformat(),
                    "label_at": fresh["label_at"].iloc[p].isoformat(),
                }
                for p in found.positions[:MAX_LISTED]
            ]
            last = fresh["label_at"].iloc[-1].isoformat() if len(fresh) else cursor
            self.add(
                DETECTOR_PREFIX + detector.name,
                1.0 if found.positions else 0.0,
                found.fed,
                {
                    "fed": found.fed,
                    "alarms": len(found.positions),
                    "where": where,
                    "cursor": last,
                    "state": detector.state(),
                },
            )


def _score(column: ColumnDrift) -> tuple[float | None, str]:
    if column.p_value is not None:
        return column.p_value, "p_value"
    return column.statistic, "statistic"


def _prediction_frame(predicted: Any) -> pd.DataFrame:
    values = np.asarray(predicted)
    if values.ndim > 1:
        values = values.reshape(len(values), -1)[:, 0] if values.shape[1:] == (1,) else values
    return pd.DataFrame({"prediction": list(values) if values.ndim > 1 else values})


def _count(values: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[str(value)] = counts.get(str(value), 0) + 1
    return counts


def _empty() -> np.ndarray:
    return np.empty(0, dtype=np.float64)
