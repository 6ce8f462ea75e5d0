"""The control loop that `evergreen up` and `evergreen controller` run: watch, signal, run what
was triggered, deliver, alert.

One ``tick`` is one pass. Per project: the cron schedule; a monitor pass when the project's
``monitors.interval`` has passed since the last (its drift verdict raises a drift signal, its
series feed the alert rules); the performance trigger on the newest ``performance.<metric>``
result of the serving version; new data in the source. Then the queue is drained, each level-2
rollout in progress takes its next step, and undelivered alerts are retried. Every signal goes
through the controller, so the project's guards apply. ``run`` repeats ``tick`` every
``interval`` seconds until stopped. The demo and the tests call ``tick`` directly, so they run
exactly what production runs.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime

from evergreen.controller.controller import Controller
from evergreen.controller.delivery import Delivery
from evergreen.controller.performance import check_performance, series_name
from evergreen.errors import EvergreenError
from evergreen.monitoring.alerts import AlertEngine
from evergreen.monitoring.drift_monitor import drift_signal
from evergreen.monitoring.monitor import Monitor, MonitorPass
from evergreen.pipeline.project import Project
from evergreen.pipeline.runner import Progress, RunResult
from evergreen.store.tables import AlertRow, RolloutRow, TriggerEventRow

log = logging.getLogger(__name__)


@dataclass
class TickReport:
    monitored: list[MonitorPass] = field(default_factory=list)
    signals: list[TriggerEventRow] = field(default_factory=list)  # schedule, drift, performance
    new_data: list[TriggerEventRow] = field(default_factory=list)
    runs: list[tuple[TriggerEventRow, RunResult]] = field(default_factory=list)
    rollouts: list[RolloutRow] = field(default_factory=list)
    alerts: list[AlertRow] = field(default_factory=list)


class Service:
    def __init__(
        self,
        controller: Controller,
        monitor: Monitor,
        interval: float = 5.0,
        *,
        delivery: Delivery | None = None,
        alerts: AlertEngine | None = None,
    ):
        self.controller, self.monitor, self.interval = controller, monitor, interval
        self.delivery = delivery or controller.delivery
        self.alerts = alerts
        self._monitored_at: dict[str, datetime] = {}

    def tick(self, progress: Progress | None = None) -> TickReport:
        report = TickReport()
        projects = self.controller.projects
        for name, project in projects.items():
            scheduled = self.controller.check_schedule(name)
            if scheduled is not None:
                report.signals.append(scheduled)
            self._monitor(project, report)
            performance = self.check_performance(project)
            if performance is not None:
                report.signals.append(performance)
            event = self.controller.check_new_data(name)
            if event is not None:
                report.new_data.append(event)
        report.runs = self.controller.drain(progress)
        if self.delivery is not None:
            for project in projects.values():
                if project.automation >= 2:
                    moved = self.delivery.advance(project)
                    if moved is not None:
                        report.rollouts.append(moved)
        if self.alerts is not None:
            report.alerts += self.alerts.deliver_pending(projects.values())
        return report

    def _monitor(self, project: Project, report: TickReport) -> None:
        """A monitor pass when one is due; a dataset drift signals a retrain (through the
        guards), and the pass's series are judged by the alert rules."""
        now = self.controller.clock.now()
        last = self._monitored_at.get(project.name)
        if last is not None and now - last < project.monitors.interval:
            return
        outcome = self.monitor.check(project, raise_events=False)
        self._monitored_at[project.name] = now
        if outcome is None:
            return
        report.monitored.append(outcome)
        drift = outcome.drift
        if project.triggers.drift and drift is not None and drift.dataset_drift:
            reason, evidence = drift_signal(project.name, outcome.version, drift, outcome.rows)
            event, _new = self.controller.trigger(project.name, "drift", reason, evidence)
            outcome.event = event
            report.signals.append(event)
        if self.alerts is not None and project.alerts:
            report.alerts += self.alerts.evaluate(project, outcome.results)

    def check_performance(self, project: Project) -> TriggerEventRow | None:
        """A performance event when the serving version's newest live metric breaks the
        project's performance trigger."""
        trigger = project.triggers.performance
        if trigger is None:
            return None
        registry = self.controller.runner.registry
        production = registry.production(project.name)
        if production is None:
            return None
        result = self.monitor.predictions.latest_result(
            project.name, production.version, series_name(trigger.metric or project.metric_name)
        )
        signal = check_performance(project, production, result)
        if signal is None:
            return None
        event, _new = self.controller.trigger(
            project.name, "performance", signal.reason, signal.evidence
        )
        return event

    def run(self, stop: threading.Event, progress: Progress | None = None) -> None:
        while not stop.is_set():
            try:
                self.tick(progress)
            except EvergreenError as exc:  # e.g. the database briefly unreachable: one line
                log.error("control loop pass failed: %s; retrying in %.1fs", exc, self.interval)
            except Exception:  # keep serving: one failed pass is logged, the next one retries
                log.exception("control loop pass failed; retrying in %.1fs", self.interval)
            stop.wait(self.interval)
