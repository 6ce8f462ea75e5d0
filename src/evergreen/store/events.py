"""Trigger events, which double as the controller's durable work queue.

An event is ``pending`` until a controller leases it (``leased``, with an owner and an expiry);
it ends ``done`` or ``failed``. A lease that expires (its controller died) can be taken again.
Claiming is one conditional UPDATE, so two controllers never hold the same event.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from evergreen.store.database import Database
from evergreen.store.tables import TriggerEventRow


def _rowcount(result: sa.Result[Any]) -> int:
    count: int = getattr(result, "rowcount", 0)
    return count


def new_event(
    project: str, kind: str, reason: str, evidence: dict[str, Any], at: datetime
) -> TriggerEventRow:
    """A pending trigger event, ready to enqueue."""
    return TriggerEventRow(
        id=f"evt-{uuid.uuid4().hex[:20]}",
        created_at=at,
        project=project,
        kind=kind,
        reason=reason,
        evidence=evidence,
        status="pending",
        lease_owner=None,
        lease_expires_at=None,
        attempts=0,
        run_id=None,
        finished_at=None,
        error=None,
    )


class EventRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, row: TriggerEventRow) -> TriggerEventRow:
        with self.db.session() as s:
            s.add(row)
        return row

    def enqueue(self, row: TriggerEventRow) -> tuple[TriggerEventRow, bool]:
        """Add a pending event unless the project already has one pending (debounce).

        Returns the event that stands for this signal and whether it is new.
        """
        with self.db.session() as s:
            pending = s.scalar(
                sa.select(TriggerEventRow)
                .where(TriggerEventRow.project == row.project)
                .where(TriggerEventRow.status == "pending")
                .order_by(TriggerEventRow.created_at)
                .limit(1)
            )
            if pending is not None:
                return pending, False
            s.add(row)
        return row, True

    def open_events(self, project: str) -> list[TriggerEventRow]:
        """Events of a project not finished yet (pending or leased)."""
        with self.db.session() as s:
            query = (
                sa.select(TriggerEventRow)
                .where(TriggerEventRow.project == project)
                .where(TriggerEventRow.status.in_(("pending", "leased")))
            )
            return list(s.scalars(query.order_by(TriggerEventRow.created_at)))

    def claim(
        self, owner: str, now: datetime, lease: timedelta, max_attempts: int = 3
    ) -> TriggerEventRow | None:
        """Lease the oldest runnable event for ``owner``; None when there is nothing to do."""
        runnable = sa.or_(
            TriggerEventRow.status == "pending",
            sa.and_(TriggerEventRow.status == "leased", TriggerEventRow.lease_expires_at < now),
        )
        while True:  # ends: each pass claims an event, finds none, or lost a race to a claim
            with self.db.session() as s:
                candidate = s.scalar(
                    sa.select(TriggerEventRow.id)
                    .where(runnable)
                    .where(TriggerEventRow.attempts < max_attempts)
                    .order_by(TriggerEventRow.created_at)
                    .limit(1)
                )
                if candidate is None:
                    return None
                claimed = s.execute(
                    sa.update(TriggerEventRow)
                    .where(TriggerEventRow.id == candidate)
                    .where(runnable)
                    .values(
                        status="leased",
                        lease_owner=owner,
                        lease_expires_at=now + lease,
                        attempts=TriggerEventRow.attempts + 1,
                    )
                )
                if _rowcount(claimed) == 1:
                    return s.get_one(TriggerEventRow, candidate)

    def finish(
        self,
        event_id: str,
        owner: str,
        *,
        status: str,
        at: datetime,
        run_id: str | None = None,
        error: str | None = None,
    ) -> bool:
        """Mark a leased event finished; False if the lease was lost to another controller."""
        with self.db.session() as s:
            done = s.execute(
                sa.update(TriggerEventRow)
                .where(TriggerEventRow.id == event_id)
                .where(TriggerEventRow.lease_owner == owner)
                .where(TriggerEventRow.status == "leased")
                .values(status=status, finished_at=at, run_id=run_id, error=error)
            )
            return _rowcount(done) == 1

    def get(self, event_id: str) -> TriggerEventRow | None:
        with self.db.session() as s:
            return s.get(TriggerEventRow, event_id)

    def list(self, project: str | None = None, limit: int = 200) -> list[TriggerEventRow]:
        with self.db.session() as s:
            query = sa.select(TriggerEventRow)
            if project is not None:
                query = query.where(TriggerEventRow.project == project)
            return list(s.scalars(query.order_by(TriggerEventRow.created_at).limit(limit)))
