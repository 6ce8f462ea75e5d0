"""Alerts that rules raised, with what happened to their delivery, and the read of a monitor
series that rule evaluation needs (its newest passes).

An alert is stored ``pending`` before any notifier is tried; a delivery round is claimed first
(``delivering``, with ``claimed_at``), then records every notifier's outcome in ``deliveries``
and sets the status: ``delivered`` once every notifier took it, ``undelivered`` while one still
fails. A round whose controller died is ``delivering`` still; it may be claimed again once its
claim is older than the caller's ``stale_before``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from evergreen.errors import InvalidInput, NotFound
from evergreen.store.database import Database
from evergreen.store.tables import AlertRow, MonitorResultRow

STATUSES = ("pending", "delivering", "delivered", "undelivered")
OPEN = ("pending", "undelivered")


class AlertRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, row: AlertRow) -> AlertRow:
        with self.db.session() as s:
            s.add(row)
        return row

    def get(self, alert_id: str) -> AlertRow:
        with self.db.session() as s:
            row = s.get(AlertRow, alert_id)
        if row is None:
            raise NotFound(f"no alert {alert_id!r}; see `evergreen alerts list`")
        return row

    def last(self, project: str, rule: str, model: str, feature: str | None) -> AlertRow | None:
        """The newest alert of one rule on one model (and feature): what a cooldown runs from."""
        with self.db.session() as s:
            query = sa.select(AlertRow).where(
                AlertRow.project == project,
                AlertRow.rule == rule,
                AlertRow.model == model,
                AlertRow.feature.is_(None) if feature is None else AlertRow.feature == feature,
            )
            query = query.order_by(AlertRow.at.desc(), AlertRow.id.desc()).limit(1)
            return s.scalars(query).first()

    def to_deliver(
        self, projects: list[str] | None, max_attempts: int, stale_before: datetime
    ) -> list[AlertRow]:
        """Alerts not delivered yet, oldest first: pending, undelivered with rounds left, or
        in a round claimed before ``stale_before`` (its controller died)."""
        with self.db.session() as s:
            query = sa.select(AlertRow).where(
                _claimable(stale_before), AlertRow.attempts < max_attempts
            )
            if projects is not None:
                query = query.where(AlertRow.project.in_(projects))
            return list(s.scalars(query.order_by(AlertRow.at, AlertRow.id)))

    def claim(self, alert_id: str, attempts: int, now: datetime, stale_before: datetime) -> bool:
        """Start delivery round ``attempts + 1`` of an alert seen with ``attempts`` rounds: it
        is ``delivering`` from ``now``. False when another controller claimed it first, or its
        round is in flight (claimed at or after ``stale_before``): one conditional UPDATE."""
        with self.db.session() as s:
            claimed = s.execute(
                sa.update(AlertRow)
                .where(
                    AlertRow.id == alert_id,
                    AlertRow.attempts == attempts,
                    _claimable(stale_before),
                )
                .values(attempts=attempts + 1, status="delivering", claimed_at=now)
            )
            count: int = getattr(claimed, "rowcount", 0)
            return count == 1

    def record_delivery(
        self,
        alert_id: str,
        *,
        status: str,
        deliveries: dict[str, Any],
        attempts: int,
        delivered_at: datetime | None,
    ) -> AlertRow:
        """Store the outcome of a delivery round."""
        if status not in ("delivered", "undelivered"):
            raise InvalidInput(f"a delivery round ends delivered or undelivered, not {status!r}")
        with self.db.session() as s:
            row = s.get(AlertRow, alert_id)
            if row is None:
                raise NotFound(f"no alert {alert_id!r}; see `evergreen alerts list`")
            row.status = status
            row.deliveries = dict(deliveries)
            row.attempts = attempts
            row.delivered_at = delivered_at
        return row

    def series_tail(
        self,
        *,
        model: str,
        version: int,
        kind: str,
        feature: str | None,
        until: datetime,
        min_rows: int,
        limit: int,
    ) -> list[MonitorResultRow]:
        """The newest ``limit`` results of one monitor series at or before ``until`` that were
        computed on at least ``min_rows`` rows, newest first."""
        with self.db.session() as s:
            query = sa.select(MonitorResultRow).where(
                MonitorResultRow.model == model,
                MonitorResultRow.version == version,
                MonitorResultRow.kind == kind,
                MonitorResultRow.feature.is_(None)
                if feature is None
                else MonitorResultRow.feature == feature,
                MonitorResultRow.at <= until,
                MonitorResultRow.rows >= min_rows,
            )
            query = query.order_by(MonitorResultRow.at.desc(), MonitorResultRow.id.desc())
            return list(s.scalars(query.limit(limit)))

    def list(
        self,
        *,
        project: str | None = None,
        status: str | None = None,
        since: datetime | None = None,
        limit: int = 200,
    ) -> list[AlertRow]:
        """The newest ``limit`` alerts matching the filters, newest first."""
        with self.db.session() as s:
            query = sa.select(AlertRow)
            if project is not None:
                query = query.where(AlertRow.project == project)
            if status is not None:
                query = query.where(AlertRow.status == status)
            if since is not None:
                query = query.where(AlertRow.at >= since)
            query = query.order_by(AlertRow.at.desc(), AlertRow.id.desc()).limit(limit)
            return list(s.scalars(query))


def _claimable(stale_before: datetime) -> sa.ColumnElement[bool]:
    """Open for a new round: pending, undelivered, or delivering since before ``stale_before``."""
    return sa.or_(
        AlertRow.status.in_(OPEN),
        sa.and_(AlertRow.status == "delivering", AlertRow.claimed_at < stale_before),
    )
