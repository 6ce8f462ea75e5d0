"""Delivery rounds: stored alerts to the notifiers their rule names, bounded in time, recorded,
and tried again later when a notifier did not take them.

Each round (a call of :meth:`Delivery.deliver`) has a time ``budget``; it sends an alert to all
its notifiers at once, so a slow one holds up none of the others, and a notifier that failed
after its retries is not tried again for other alerts in the same round. A round is claimed
with one conditional UPDATE first, so two controllers never deliver the same round. An alert
that some notifier did not take is ``undelivered``; :meth:`Delivery.due` says when its next round
may start (``redelivery``, doubling, at most ``redelivery_max``); after ``max_attempts`` rounds it
stays undelivered, with an error in the log. Nothing here raises because a notifier failed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from evergreen.core.clock import Clock
from evergreen.core.ids import ordered_id
from evergreen.errors import NotFound
from evergreen.monitoring.notifiers.base import Outcome, Secrets, alert_payload
from evergreen.monitoring.notifiers.registry import LOG, sender_for
from evergreen.pipeline.alerting import Notifier
from evergreen.pipeline.project import Project
from evergreen.settings import read_secret
from evergreen.store.alerts import AlertRepository
from evergreen.store.tables import AlertRow

log = logging.getLogger("evergreen.alerts")


def notifiers_of(project: Project) -> dict[str, Notifier]:
    """A project's notifiers by name, ``log`` included."""
    return {"log": LOG, **{n.name: n for n in project.notifiers}}


@dataclass
class _Round:
    """One delivery round: its deadline and the notifiers that failed in it."""

    deadline: float
    down: dict[tuple[str, str], str] = field(default_factory=dict)


@dataclass
class Delivery:
    alerts: AlertRepository
    clock: Clock
    secrets: Secrets
    budget: timedelta = timedelta(seconds=30)
    max_attempts: int = 10
    redelivery: timedelta = timedelta(seconds=30)
    redelivery_max: timedelta = timedelta(hours=1)

    def due(self, row: AlertRow, now: datetime) -> bool:
        """Whether ``row``'s next round may start at ``now``."""
        tried = [datetime.fromisoformat(d["at"]) for d in row.deliveries.values() if d.get("at")]
        if row.attempts == 0 or not tried:
            return True
        wait = min(self.redelivery * 2 ** (row.attempts - 1), self.redelivery_max)
        due: bool = now >= max(tried) + wait
        return due

    def stale_before(self, now: datetime) -> datetime:
        """A round claimed before this is abandoned: its controller died (a live one records
        its round within ``budget``)."""
        return now - 2 * self.budget

    def pending(self, projects: list[str], now: datetime) -> list[AlertRow]:
        """The alerts of ``projects`` whose next round may start at ``now``, oldest first."""
        stored = self.alerts.to_deliver(projects, self.max_attempts, self.stale_before(now))
        return [row for row in stored if self.due(row, now)]

    def deliver(self, rows: list[AlertRow], projects: Mapping[str, Project]) -> list[AlertRow]:
        """One round for ``rows`` (each of a project in ``projects``); the alerts this round
        claimed, as stored after it."""
        round_ = _Round(deadline=time.monotonic() + self.budget.total_seconds())
        delivered = []
        for row in rows:
            now = self.clock.now()
            if not self.alerts.claim(row.id, row.attempts, now, self.stale_before(now)):
                continue  # another controller runs this round, or ran it already
            row.attempts += 1
            delivered.append(self._deliver_one(row, projects[row.project], round_))
        return delivered

    def _deliver_one(self, row: AlertRow, project: Project, round_: _Round) -> AlertRow:
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
