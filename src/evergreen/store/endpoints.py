"""Serving endpoints (their traffic policies, as JSON) and ground-truth feedback labels."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from evergreen.errors import NotFound
from evergreen.store.database import Database, retry_on_conflict
from evergreen.store.tables import AuditEventRow, EndpointRow, FeedbackRow


class EndpointRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    def list(self) -> list[EndpointRow]:
        with self.db.session() as s:
            return list(s.scalars(sa.select(EndpointRow).order_by(EndpointRow.name)))

    def state(self) -> tuple[tuple[Any, ...], ...]:
        """Each endpoint's name, policy and last change, as plain tuples (no rows)."""
        query = sa.select(EndpointRow.name, EndpointRow.policy, EndpointRow.updated_at)
        with self.db.reading() as connection:
            return tuple(tuple(row) for row in connection.execute(query.order_by(EndpointRow.name)))

    def get(self, name: str) -> EndpointRow | None:
        with self.db.session() as s:
            return s.get(EndpointRow, name)

    def put(
        self, name: str, policy: dict[str, Any], *, at: datetime, actor: str, audit: AuditEventRow
    ) -> EndpointRow:
        """Create or replace the endpoint's policy and record ``audit`` in the same commit.

        Two writers creating the same endpoint at once: the one that loses the insert replaces
        the policy the other created (as if it had come second).
        """

        def write() -> EndpointRow:
            with self.db.session() as s:
                row = s.get(EndpointRow, name, with_for_update=True)
                if row is None:
                    row = EndpointRow(
                        name=name, policy=policy, created_at=at, updated_at=at, updated_by=actor
                    )
                    s.add(row)
                else:
                    row.policy, row.updated_at, row.updated_by = policy, at, actor
                s.add(audit)
                s.flush()
                s.expunge(row)
                return row

        return retry_on_conflict(write)

    def delete(self, name: str, audit: AuditEventRow) -> None:
        with self.db.session() as s:
            row = s.get(EndpointRow, name, with_for_update=True)
            if row is None:
                raise NotFound(f"no endpoint named {name!r}; see `evergreen endpoints list`")
            s.delete(row)
            s.add(audit)


class FeedbackRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, labels: Iterable[tuple[str, Any]], at: datetime) -> int:
        """Store labels by request id (a later label for the same request replaces the first);
        returns how many were stored. A label for a request whose first label another writer
        is storing at the same moment replaces that one."""
        items = list(labels)

        def write() -> None:
            with self.db.session() as s:
                for request_id, label in items:
                    row = s.get(FeedbackRow, request_id)
                    if row is None:
                        s.add(FeedbackRow(request_id=request_id, label=label, at=at))
                    else:
                        row.label, row.at = label, at

        retry_on_conflict(write)
        return len(items)

    def labels(self, request_ids: Sequence[str]) -> dict[str, Any]:
        """The labels known for ``request_ids`` (in chunks, so any number can be asked)."""
        found: dict[str, Any] = {}
        with self.db.session() as s:
            for start in range(0, len(request_ids), 500):
                chunk = list(request_ids[start : start + 500])
                rows = s.scalars(sa.select(FeedbackRow).where(FeedbackRow.request_id.in_(chunk)))
                found.update((row.request_id, row.label) for row in rows)
        return found
