"""Alert rules over the monitors' series, and the delivery of the alerts they raise.

The controller loop calls, each pass::

    engine = AlertEngine(AlertRepository(db), clock)          # once
    engine.evaluate(project, results)   # -> list[AlertRow]: alerts fired now, after one delivery
    engine.deliver_pending(projects)    # -> list[AlertRow]: redelivery rounds that were due

``results`` are the monitor results (``MonitorResultRow``) the pass just stored; the engine reads
earlier passes of each series from the store for persistence. A rule fires on a series (one
model version, kind and feature) when its newest result breaches the threshold and so did the
``persistence - 1`` passes before it, each counted only if computed on at least ``min_samples``
rows (thinner results neither fire nor break a streak: they are skipped), and no alert of the
rule on that model and feature was raised within ``cooldown``. A rule without ``feature``
watches every feature of its series, each on its own.

Delivery (:mod:`evergreen.monitoring.notifiers.delivery`) never raises and is bounded in time:
each round (the one ``evaluate`` runs, each ``deliver_pending`` call) has a ``budget``. An alert
some notifier did not take is ``undelivered``; ``deliver_pending`` tries again only the
notifiers that failed, waiting ``redelivery`` (doubling, at most ``redelivery_max``) between
rounds, and gives up after ``max_attempts`` rounds, with an error in the log.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from evergreen.core.clock import Clock
from evergreen.core.ids import ordered_id
from evergreen.monitoring.notifiers import Delivery, Secrets
from evergreen.pipeline.alerting import AlertRule
from evergreen.pipeline.project import Project
from evergreen.settings import read_secret
from evergreen.store.alerts import AlertRepository
from evergreen.store.tables import AlertRow, MonitorResultRow

log = logging.getLogger("evergreen.alerts")

SeriesKey = tuple[str, int, str, str | None]  # model, version, kind, feature


def breach(rule: AlertRule, value: float) -> str | None:
    """``"above"`` or ``"below"`` when ``value`` crosses the rule's threshold, else None."""
    if rule.above is not None and value > rule.above:
        return "above"
    if rule.below is not None and value < rule.below:
        return "below"
    return None


class AlertEngine:
    def __init__(
        self,
        alerts: AlertRepository,
        clock: Clock,
        secrets: Secrets = read_secret,
        *,
        budget: timedelta = timedelta(seconds=30),
        max_attempts: int = 10,
        redelivery: timedelta = timedelta(seconds=30),
        redelivery_max: timedelta = timedelta(hours=1),
    ) -> None:
        self.alerts = alerts
        self.clock = clock
        self.delivery = Delivery(
            alerts, clock, secrets, budget, max_attempts, redelivery, redelivery_max
        )

    # -- rules -------------------------------------------------------------------------------

    def evaluate(
        self, project: Project, results: Iterable[MonitorResultRow], *, deliver: bool = True
    ) -> list[AlertRow]:
        """Judge ``project``'s rules on a pass's results, store the alerts they raise
        (``pending``) and, with ``deliver``, run a first delivery round for them."""
        fired = self.check(project, results)
        if deliver and fired:
            fired = self.delivery.deliver(fired, {project.name: project})
        return fired

    def check(self, project: Project, results: Iterable[MonitorResultRow]) -> list[AlertRow]:
        """Store and return the alerts the rules raise on ``results``; deliver nothing."""
        newest: dict[SeriesKey, MonitorResultRow] = {}
        for result in results:
            key = (result.model, result.version, result.kind, result.feature)
            held = newest.get(key)
            if held is None or (result.at, result.id) > (held.at, held.id):
                newest[key] = result
        fired: list[AlertRow] = []
        for rule in project.alerts:
            for (_, _, kind, feature), result in sorted(newest.items(), key=_by_key):
                if kind != rule.series or rule.feature not in (None, feature):
                    continue
                alert = self._judge(project, rule, result)
                if alert is not None:
                    fired.append(self.alerts.add(alert))
                    log.info("alert %s raised: %s", alert.id, alert.message)
        return fired

    def _judge(
        self, project: Project, rule: AlertRule, result: MonitorResultRow
    ) -> AlertRow | None:
        if result.rows < rule.min_samples or breach(rule, result.value) is None:
            return None
        earlier = self.alerts.series_tail(
            model=result.model,
            version=result.version,
            kind=result.kind,
            feature=result.feature,
            until=result.at,
            min_rows=rule.min_samples,
            limit=rule.persistence,
        )
        passes = [result, *[r for r in earlier if r.id != result.id][: rule.persistence - 1]]
        if len(passes) < rule.persistence or any(breach(rule, p.value) is None for p in passes):
            return None
        now = self.clock.now()
        last = self.alerts.last(project.name, rule.name, result.model, result.feature)
        if last is not None and now - last.at < rule.cooldown:
            return None
        return AlertRow(
            id=ordered_id("alert"),
            at=now,
            project=project.name,
            model=result.model,
            version=result.version,
            rule=rule.name,
            series=result.kind,
            feature=result.feature,
            value=float(result.value),
            message=describe(rule, list(reversed(passes))),
            details={
                "rule": rule.model_dump(mode="json"),
                "notify": list(rule.notify),
                "passes": [_pass(p) for p in reversed(passes)],
            },
            status="pending",
            attempts=0,
            deliveries={},
            delivered_at=None,
        )

    # -- delivery ----------------------------------------------------------------------------

    def deliver_pending(self, projects: Iterable[Project]) -> list[AlertRow]:
        """Run a delivery round for the alerts of ``projects`` that are still pending or
        undelivered, whose wait since their last round is over; returns them as stored now."""
        by_name = {p.name: p for p in projects}
        due = self.delivery.pending(list(by_name), self.clock.now())
        return self.delivery.deliver(due, by_name) if due else []


def describe(rule: AlertRule, passes: list[MonitorResultRow]) -> str:
    """A sentence a person understands: ``bike-demand v7: performance.rmse 92.3 above 80 for 3
    passes (672 labelled rows)``; ``passes`` oldest first."""
    newest = passes[-1]
    direction = breach(rule, newest.value) or "above"
    threshold = rule.above if direction == "above" else rule.below
    series = newest.kind + (f" of {newest.feature}" if newest.feature else "")
    count = f"{len(passes)} pass" + ("" if len(passes) == 1 else "es")
    rows = "labelled rows" if newest.kind.startswith("performance") else "rows"
    return (
        f"{newest.model} v{newest.version}: {series} {newest.value:.4g} {direction} "
        f"{threshold:g} for {count} ({newest.rows} {rows})"
    )


def _pass(result: MonitorResultRow) -> dict[str, Any]:
    return {
        "result_id": result.id,
        "at": result.at.isoformat(),
        "value": float(result.value),
        "rows": result.rows,
        "window_start": result.window_start.isoformat() if result.window_start else None,
        "window_end": result.window_end.isoformat() if result.window_end else None,
    }


def _by_key(item: tuple[SeriesKey, MonitorResultRow]) -> tuple[str, int, str, str]:
    model, version, kind, feature = item[0]
    return model, version, kind, feature or ""
