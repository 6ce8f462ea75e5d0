"""Pipeline runs, their steps and validation reports."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from evergreen.errors import NotFound
from evergreen.store.database import Database
from evergreen.store.tables import PipelineRunRow, StepCacheRow, StepRunRow, ValidationReportRow


class RunRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    def add_run(self, row: PipelineRunRow) -> None:
        with self.db.session() as s:
            s.add(row)

    def finish_run(
        self,
        run_id: str,
        *,
        status: str,
        at: datetime,
        outcome: dict[str, Any],
        error: str | None = None,
        dataset_version_id: str | None = None,
    ) -> None:
        with self.db.session() as s:
            row = s.get(PipelineRunRow, run_id)
            if row is None:
                raise NotFound(f"no pipeline run {run_id!r}")
            row.status, row.finished_at, row.outcome, row.error = status, at, outcome, error
            if dataset_version_id is not None:
                row.dataset_version_id = dataset_version_id

    def abandon_runs(self, trigger_event_id: str, *, at: datetime, error: str) -> list[str]:
        """Mark the runs of an event still recorded as running failed (their controller died);
        returns their ids."""
        with self.db.session() as s:
            rows = list(
                s.scalars(
                    sa.select(PipelineRunRow)
                    .where(PipelineRunRow.trigger_event_id == trigger_event_id)
                    .where(PipelineRunRow.status == "running")
                )
            )
            for row in rows:
                row.status, row.finished_at, row.error = "failed", at, error
            return [row.id for row in rows]

    def add_step(self, row: StepRunRow) -> None:
        with self.db.session() as s:
            s.add(row)

    def finish_step(
        self,
        step_id: str,
        *,
        status: str,
        at: datetime,
        outputs: dict[str, Any],
        error: str | None = None,
    ) -> None:
        with self.db.session() as s:
            row = s.get(StepRunRow, step_id)
            if row is None:
                raise NotFound(f"no step run {step_id!r}")
            row.status, row.finished_at, row.outputs, row.error = status, at, outputs, error

    def add_validation_report(self, row: ValidationReportRow) -> None:
        with self.db.session() as s:
            s.add(row)

    def get_run(self, run_id: str) -> PipelineRunRow | None:
        with self.db.session() as s:
            return s.get(PipelineRunRow, run_id)

    def steps(self, run_id: str) -> list[StepRunRow]:
        with self.db.session() as s:
            query = sa.select(StepRunRow).where(StepRunRow.run_id == run_id)
            return list(s.scalars(query.order_by(StepRunRow.started_at)))

    def list_runs(self, project: str | None = None, limit: int = 50) -> list[PipelineRunRow]:
        with self.db.session() as s:
            query = sa.select(PipelineRunRow)
            if project is not None:
                query = query.where(PipelineRunRow.project == project)
            return list(s.scalars(query.order_by(PipelineRunRow.started_at.desc()).limit(limit)))

    def validation_reports(self, run_id: str) -> list[ValidationReportRow]:
        with self.db.session() as s:
            query = sa.select(ValidationReportRow).where(ValidationReportRow.run_id == run_id)
            return list(s.scalars(query))

    def cached_step(self, fingerprint: str) -> StepCacheRow | None:
        with self.db.session() as s:
            return s.get(StepCacheRow, fingerprint)

    def cache_step(self, row: StepCacheRow) -> None:
        """Keep a step's outputs under its fingerprint; a fingerprint already kept (another run
        computed the same step meanwhile) keeps its first outputs, which are equivalent."""
        try:
            with self.db.session() as s:
                if s.get(StepCacheRow, row.fingerprint) is None:
                    s.add(row)
        except sa.exc.IntegrityError:  # another process kept the same fingerprint first
            pass

    def forget_step(self, fingerprint: str) -> None:
        """Drop a cache entry whose blobs can no longer be read."""
        with self.db.session() as s:
            s.execute(sa.delete(StepCacheRow).where(StepCacheRow.fingerprint == fingerprint))
