"""Level-2 rollouts: one row per candidate delivered through shadow, canary and promotion."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from evergreen.store.database import Database
from evergreen.store.tables import RolloutRow

ACTIVE_STAGES = ("shadow", "canary")


class RolloutRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, row: RolloutRow) -> RolloutRow:
        with self.db.session() as s:
            s.add(row)
        return row

    def get(self, rollout_id: str) -> RolloutRow | None:
        with self.db.session() as s:
            return s.get(RolloutRow, rollout_id)

    def active(self, model: str) -> RolloutRow | None:
        """The rollout of ``model`` still in progress, if any (there is at most one)."""
        with self.db.session() as s:
            return s.scalar(
                sa.select(RolloutRow)
                .where(RolloutRow.model == model)
                .where(RolloutRow.stage.in_(ACTIVE_STAGES))
                .order_by(RolloutRow.started_at.desc())
                .limit(1)
            )

    def list(self, model: str | None = None, limit: int = 100) -> list[RolloutRow]:
        with self.db.session() as s:
            query = sa.select(RolloutRow)
            if model is not None:
                query = query.where(RolloutRow.model == model)
            return list(s.scalars(query.order_by(RolloutRow.started_at.desc()).limit(limit)))

    def move(
        self,
        rollout_id: str,
        *,
        stage: str,
        traffic: float,
        at: datetime,
        step: dict[str, Any],
        finished: bool = False,
        reason: str | None = None,
    ) -> RolloutRow:
        """Record the next step of a rollout (its stage, traffic and the evidence for it)."""
        with self.db.session() as s:
            row = s.get_one(RolloutRow, rollout_id, with_for_update=True)
            row.stage, row.traffic, row.updated_at = stage, traffic, at
            row.history = [*row.history, step]
            if finished:
                row.finished_at = at
            if reason is not None:
                row.reason = reason
            return row
