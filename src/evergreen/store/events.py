"""Trigger events, which double as the controller's durable work queue.

An event is ``pending`` until a controller leases it (``leased``, with an owner and an expiry);
it ends ``done`` or ``failed``. A lease that expires (its controller died) can be taken again;
a live controller renews its lease while it runs. Claiming is one conditional UPDATE, so two
controllers never hold the same event. A pending event with ``not_before`` (deferred by a
guard: cooldown, a cap, the champion's minimum time) is not claimed before that time.
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
    project: str,
    kind: str,
    reason: str,
    evidence: dict[str, Any],
    at: datetime,
    not_before: datetime | None = None,
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
        not_before=not_before,
    )


class EventRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, row: TriggerEventRow) -> TriggerEventRow:
        with self.db.session() as s:
            s.add(row)
        return row

    def enqueue(
        self, row: TriggerEventRow, *, debounce: timedelta = timedelta(0)
    ) -> tuple[TriggerEventRow, bool]:
        """Add a pending event unless the project already has one pending, or one was started
        less than ``debounce`` before this signal (the signal joins that event).

        A manual signal joining a deferred pending event makes it runnable now. Returns the
        event that stands for this signal and whether it is new.
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
                if row.kind == "manual" and pending.not_before is not None:
                    pending.not_before = None
                    pending.reason = f"{pending.reason}; run now: {row.reason}"
                return pending, False
            if debounce > timedelta(0) and row.kind != "manual":
                recent = s.scalar(
                    sa.select(TriggerEventRow)
                    .where(TriggerEventRow.project == row.project)
                    .where(TriggerEventRow.status.in_(("leased", "done")))
                    .where(TriggerEventRow.created_at > row.created_at - debounce)
                    .order_by(TriggerEventRow.created_at.desc())
                    .limit(1)
                )
                if recent is not None:
                    return recent, False
            s.add(row)
        return row, True

    def renew(self, event_id: str, owner: str, until: datetime) -> bool:
        """Extend ``owner``'s lease on a running event; False if the lease was lost."""
        with self.db.session() as s:
            renewed = s.execute(
                sa.update(TriggerEventRow)
                .where(TriggerEventRow.id == event_id)
                .where(TriggerEventRow.lease_owner == owner)
                .where(TriggerEventRow.status == "leased")
                .values(lease_expires_at=until)
            )
            return _rowcount(renewed) == 1

    def history(
        self, project: str, since: datetime, *, statuses: tuple[str, ...]
    ) -> list[TriggerEventRow]:
        """Events of ``project`` in ``statuses`` created after ``since``, oldest first."""
        with self.db.session() as s:
            query = (
                sa.select(TriggerEventRow)
                .where(TriggerEventRow.project == project)
                .where(TriggerEventRow.status.in_(statuses))
                .where(TriggerEventRow.created_at > since)
                .order_by(TriggerEventRow.created_at)
            )
            return list(s.scalars(query))

    def last_finished(self, project: str, *, automatic: bool = True) -> TriggerEventRow | None:
        """The event of ``project`` that finished last (an automatic one, unless told)."""
        with self.db.session() as s:
            query = (
                sa.select(TriggerEventRow)
                .where(TriggerEventRow.project == project)
                .where(TriggerEventRow.status.in_(("done", "failed")))
                .where(TriggerEventRow.finished_at.is_not(None))
            )
            if automatic:
                query = query.where(TriggerEventRow.kind != "manual")
            return s.scalar(query.order_by(TriggerEventRow.finished_at.desc()).limit(1))

    def last_of_kind(self, project: str, kind: str) -> TriggerEventRow | None:
        with self.db.session() as s:
            return s.scalar(
                sa.select(TriggerEventRow)
                .where(TriggerEventRow.project == project)
                .where(TriggerEventRow.kind == kind)
                .order_by(TriggerEventRow.created_at.desc())
                .limit(1)
            )

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
            sa.and_(
                TriggerEventRow.status == "pending",
                sa.or_(TriggerEventRow.not_before.is_(None), TriggerEventRow.not_before <= now),
            ),
            sa.and_(TriggerEventRow.status == "leased", TriggerEventRow.lease_expires_at < now),
        )
        with self.db.session() as s:  # leases that ran out on their last attempt: give up
            s.execute(
                sa.update(TriggerEventRow)
                .where(TriggerEventRow.status == "leased")
                .where(TriggerEventRow.lease_expires_at < now)
                .where(TriggerEventRow.attempts >= max_attempts)
                .values(
                    status="failed",
                    finished_at=now,
                    error=f"gave up after {max_attempts} attempts whose controllers stopped "
                    "before finishing (lease expired each time)",
                )
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
