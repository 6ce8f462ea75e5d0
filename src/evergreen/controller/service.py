"""The control loop that `evergreen up` runs: monitor, look for new data, run what was triggered.

One ``tick`` is one pass; ``run`` repeats it every ``interval`` seconds until stopped. The demo
and the tests call ``tick`` directly, so they run exactly what production runs.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from evergreen.controller.controller import Controller
from evergreen.monitoring.drift_monitor import DriftMonitor, MonitorOutcome
from evergreen.pipeline.runner import Progress, RunResult
from evergreen.store.tables import TriggerEventRow

log = logging.getLogger(__name__)


@dataclass
class TickReport:
    monitored: list[MonitorOutcome] = field(default_factory=list)
    new_data: list[TriggerEventRow] = field(default_factory=list)
    runs: list[tuple[TriggerEventRow, RunResult]] = field(default_factory=list)


class Service:
    def __init__(self, controller: Controller, monitor: DriftMonitor, interval: float = 5.0):
        self.controller, self.monitor, self.interval = controller, monitor, interval

    def tick(self, progress: Progress | None = None) -> TickReport:
        report = TickReport()
        for name, project in self.controller.projects.items():
            if project.triggers.drift:
                outcome = self.monitor.check(name)
                if outcome is not None:
                    report.monitored.append(outcome)
            event = self.controller.check_new_data(name)
            if event is not None:
                report.new_data.append(event)
        report.runs = self.controller.drain(progress)
        return report

    def run(self, stop: threading.Event, progress: Progress | None = None) -> None:
        while not stop.is_set():
            try:
                self.tick(progress)
            except Exception:  # keep serving: one failed pass is logged, the next one retries
                log.exception("control loop pass failed; retrying in %.1fs", self.interval)
            stop.wait(self.interval)
