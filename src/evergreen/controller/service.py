"""The control loop that `evergreen up` runs: watch, signal, run what was triggered, deliver.

One ``tick`` is one pass, per project: the cron schedule; the monitors (input drift raises its
own events; the performance trigger reads the newest ``performance.<metric>`` result of the
serving version); new data in the source; then the queue is drained, and at automation level 2
each rollout in progress takes its next step. ``run`` repeats it every ``interval`` seconds until
stopped. The demo and the tests call ``tick`` directly, so they run exactly what production runs.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from evergreen.controller.controller import Controller
from evergreen.controller.delivery import Delivery
from evergreen.controller.performance import check_performance, series_name
from evergreen.errors import EvergreenError
from evergreen.monitoring.drift_monitor import DriftMonitor, MonitorOutcome
from evergreen.pipeline.project import Project
from evergreen.pipeline.runner import Progress, RunResult
from evergreen.store.tables import RolloutRow, TriggerEventRow

log = logging.getLogger(__name__)


@dataclass
class TickReport:
    monitored: list[MonitorOutcome] = field(default_factory=list)
    signals: list[TriggerEventRow] = field(default_factory=list)  # schedule, performance
    new_data: list[TriggerEventRow] = field(default_factory=list)
    runs: list[tuple[TriggerEventRow, RunResult]] = field(default_factory=list)
    rollouts: list[RolloutRow] = field(default_factory=list)


class Service:
    def __init__(
        self,
        controller: Controller,
        monitor: DriftMonitor,
        interval: float = 5.0,
        delivery: Delivery | None = None,
    ):
        self.controller, self.monitor, self.interval = controller, monitor, interval
        self.delivery = delivery or controller.delivery

    def tick(self, progress: Progress | None = None) -> TickReport:
        report = TickReport()
        for name, project in self.controller.projects.items():
            scheduled = self.controller.check_schedule(name)
            if scheduled is not None:
                report.signals.append(scheduled)
            if project.triggers.drift:
                outcome = self.monitor.check(name)
                if outcome is not None:
                    report.monitored.append(outcome)
            performance = self.check_performance(project)
            if performance is not None:
                report.signals.append(performance)
            event = self.controller.check_new_data(name)
            if event is not None:
                report.new_data.append(event)
        report.runs = self.controller.drain(progress)
        if self.delivery is not None:
            for project in self.controller.projects.values():
                if project.automation >= 2:
                    moved = self.delivery.advance(project)
                    if moved is not None:
                        report.rollouts.append(moved)
        return report

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
