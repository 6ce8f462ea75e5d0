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

Delivery never raises and is bounded in time: each round (the one ``evaluate`` runs, each
``deliver_pending`` call) has a ``budget``; a notifier that failed after its retries is not tried
again for other alerts in the same round. An alert some notifier did not take is
``undelivered``; ``deliver_pending`` tries again only the notifiers that failed, waiting
``redelivery`` (doubling, at most ``redelivery_max``) between rounds, and gives up after
``max_attempts`` rounds, with an error in the log.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from evergreen.core.clock import Clock
from evergreen.core.ids import ordered_id
from evergreen.errors import NotFound
from evergreen.monitoring.notifiers import LOG, Outcome, Secrets, alert_payload, sender_for
from evergreen.pipeline.alerting import AlertRule, Notifier
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


def notifiers_of(project: Project) -> dict[str, Notifier]:
    """A project's notifiers by name, ``log`` included."""
    return {"log": LOG, **{n.name: n for n in project.notifiers}}


@dataclass
class _Round:
    """One delivery round: its deadline and the notifiers that failed in it."""

    deadline: float
    down: dict[tuple[str, str], str] = field(default_factory=dict)


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
        self.secrets = secrets
        self.budget = budget
        self.max_attempts = max_attempts
        self.redelivery = redelivery
        self.redelivery_max = redelivery_max

    # -- rules -------------------------------------------------------------------------------

    def evaluate(
        self, project: Project, results: Iterable[MonitorResultRow], *, deliver: bool = True
    ) -> list[AlertRow]:
        """Judge ``project``'s rules on a pass's results, store the alerts they raise
        (``pending``) and, with ``deliver``, run a first delivery round for them."""
        fired = self.check(project, results)
        if deliver and fired:
            fired = self._deliver(fired, {project.name: project})
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
        now = self.clock.now()
        due = [
            row
            for row in self.alerts.to_deliver(list(by_name), self.max_attempts)
            if self._due(row, now)
        ]
        return self._deliver(due, by_name) if due else []

    def _due(self, row: AlertRow, now: datetime) -> bool:
        tried = [datetime.fromisoformat(d["at"]) for d in row.deliveries.values() if d.get("at")]
        if row.attempts == 0 or not tried:
            return True
        wait = min(self.redelivery * 2 ** (row.attempts - 1), self.redelivery_max)
        due: bool = now >= max(tried) + wait
        return due

    def _deliver(self, rows: list[AlertRow], projects: dict[str, Project]) -> list[AlertRow]:
        round_ = _Round(deadline=time.monotonic() + self.budget.total_seconds())
        delivered = []
        for row in rows:
            if not self.alerts.claim(row.id, row.attempts):
                continue  # another controller runs this round
            row.attempts += 1
            delivered.append(self._deliver_one(row, projects[row.project], round_))
        return delivered

    def _deliver_one(self, row: AlertRow, project: Project, round_: _Round) -> AlertRow:
        """Send ``row`` to each notifier that has not taken it yet, all at once (a slow one
        holds up none of the others), within the round's deadline."""
        configured = notifiers_of(project)
        deliveries: dict[str, Any] = dict(row.deliveries or {})
        to_send: dict[str, Notifier] = {}
        for name in row.details.get("notify", ["log"]):
            previous = deliveries.get(name, {})
            if previous.get("ok"):
                continue  # took it in an earlier round: never sent twice
            spec = configured.get(name)
            if spec is None:
                error = f"project {project.name!r} has no notifier {name!r} any more"
                deliveries[name] = self._entry(previous, ok=False, tries=0, error=error)
            elif (project.name, name) in round_.down:
                cause = round_.down[project.name, name]
                error = f"not tried: failed earlier in this round ({cause})"
                deliveries[name] = self._entry(previous, ok=False, tries=0, error=error)
            elif time.monotonic() >= round_.deadline:
                error = "not tried: the delivery round ran out of time"
                deliveries[name] = self._entry(previous, ok=False, tries=0, error=error)
            else:
                to_send[name] = spec
        if to_send:
            payload = alert_payload(row)
            with ThreadPoolExecutor(len(to_send), thread_name_prefix="notify") as pool:
                futures = {
                    name: pool.submit(
                        sender_for(spec, self.secrets).send, payload, deadline=round_.deadline
                    )
                    for name, spec in to_send.items()
                }
            for name, future in futures.items():
                outcome = future.result()  # send() never raises
                previous = deliveries.get(name, {})
                deliveries[name] = self._entry(previous, outcome.ok, outcome.tries, outcome.error)
                if not outcome.ok:
                    round_.down[project.name, name] = outcome.error or "failed"
        return self._record(row, deliveries)

    def _entry(
        self, previous: dict[str, Any], ok: bool, tries: int, error: str | None
    ) -> dict[str, Any]:
        return {
            "ok": ok,
            "error": error,
            "tries": int(previous.get("tries", 0)) + tries,
            "at": self.clock.now().isoformat(),
        }

    def _record(self, row: AlertRow, deliveries: dict[str, Any]) -> AlertRow:
        failed = {name: d["error"] for name, d in deliveries.items() if not d["ok"]}
        if not failed:
            status, delivered_at = "delivered", self.clock.now()
        else:
            status, delivered_at = "undelivered", None
            errors = "; ".join(f"{name}: {error}" for name, error in failed.items())
            if row.attempts >= self.max_attempts:
                log.error(
                    "alert %s stays undelivered for good after %d delivery rounds (%s): %s",
                    row.id, row.attempts, errors, row.message,
                )  # fmt: skip
            else:
                log.warning(
                    "alert %s undelivered after round %d of %d (%s); it will be tried again",
                    row.id, row.attempts, self.max_attempts, errors,
                )  # fmt: skip
        return self.alerts.record_delivery(
            row.id,
            status=status,
            deliveries=deliveries,
            attempts=row.attempts,
            delivered_at=delivered_at,
        )


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


# -- trying the notifiers (`evergreen alerts test`) ---------------------------------------------


def sample_alert(project: Project, at: datetime) -> AlertRow:
    """An alert that says it is a test, for checking a project's notifiers; never stored."""
    return AlertRow(
        id=ordered_id("alert-test"),
        at=at,
        project=project.name,
        model=project.name,
        version=None,
        rule="test",
        series="test",
        feature=None,
        value=0.0,
        message=f"{project.name}: test alert from evergreen (no action needed)",
        details={"test": True},
        status="pending",
        attempts=0,
        deliveries={},
        delivered_at=None,
    )


def try_notifiers(
    project: Project,
    at: datetime,
    *,
    only: str | None = None,
    secrets: Secrets = read_secret,
    budget: timedelta = timedelta(seconds=60),
) -> dict[str, Outcome]:
    """Send a test alert through the project's notifiers (or only the one named ``only``); the
    outcome per notifier. With no notifier declared, the ``log`` one is tried."""
    configured = notifiers_of(project)
    if only is not None:
        if only not in configured:
            raise NotFound(
                f"project {project.name!r} has no notifier {only!r}; it has: "
                f"{', '.join(sorted(configured))}"
            )
        chosen = [configured[only]]
    else:
        chosen = list(project.notifiers) or [LOG]
    payload = alert_payload(sample_alert(project, at), test=True)
    deadline = time.monotonic() + budget.total_seconds()
    return {n.name: sender_for(n, secrets).send(payload, deadline=deadline) for n in chosen}
