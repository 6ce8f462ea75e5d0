"""Dataset versions in the metadata store."""

from __future__ import annotations

import builtins

import sqlalchemy as sa

from evergreen.store.database import Database, retry_on_conflict
from evergreen.store.tables import (
    DatasetSchemaRow,
    DatasetVersionRow,
    ModelRow,
    ModelVersionRow,
    PipelineRunRow,
)


class DatasetRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    def add_if_absent(self, row: DatasetVersionRow) -> DatasetVersionRow:
        """Insert a version unless one with the same (content-derived) id exists; return it.

        Writers racing on one id (runs of several projects snapshotting the same files at
        once) all get the version that was stored first.
        """

        def write() -> DatasetVersionRow:
            with self.db.session() as s:
                existing = s.get(DatasetVersionRow, row.id)
                if existing is not None:
                    return existing
                s.add(row)
            return row

        return retry_on_conflict(write)  # the retry finds the version the other writer stored

    def get(self, version_id: str) -> DatasetVersionRow | None:
        with self.db.session() as s:
            return s.get(DatasetVersionRow, version_id)

    def find_by_prefix(self, prefix: str) -> list[DatasetVersionRow]:
        with self.db.session() as s:
            query = sa.select(DatasetVersionRow).where(DatasetVersionRow.id.startswith(prefix))
            return list(s.scalars(query.limit(3)))

    def list(self, limit: int = 100) -> list[DatasetVersionRow]:
        with self.db.session() as s:
            query = sa.select(DatasetVersionRow).order_by(DatasetVersionRow.created_at.desc())
            return list(s.scalars(query.limit(limit)))

    def runs_using(self, version_id: str) -> builtins.list[PipelineRunRow]:
        """Pipeline runs that trained on this dataset version, oldest first."""
        with self.db.session() as s:
            query = (
                sa.select(PipelineRunRow)
                .where(PipelineRunRow.dataset_version_id == version_id)
                .order_by(PipelineRunRow.started_at, PipelineRunRow.id)
            )
            return list(s.scalars(query))

    def model_versions_using(self, version_id: str) -> builtins.list[tuple[str, ModelVersionRow]]:
        """(model name, model version) pairs built from this dataset version."""
        with self.db.session() as s:
            query = (
                sa.select(ModelRow.name, ModelVersionRow)
                .join(ModelRow, ModelRow.id == ModelVersionRow.model_id)
                .where(ModelVersionRow.dataset_version_id == version_id)
                .order_by(ModelRow.name, ModelVersionRow.version)
            )
            return [(name, version) for name, version in s.execute(query).all()]


class DatasetSchemaRepository:
    """Schemas saved with dataset versions (append-only; the newest per version is current)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, row: DatasetSchemaRow) -> DatasetSchemaRow:
        with self.db.session() as s:
            s.add(row)
        return row

    def history(self, dataset_version_id: str) -> builtins.list[DatasetSchemaRow]:
        """Every schema saved with the version, newest first."""
        with self.db.session() as s:
            query = (
                sa.select(DatasetSchemaRow)
                .where(DatasetSchemaRow.dataset_version_id == dataset_version_id)
                .order_by(DatasetSchemaRow.created_at.desc(), DatasetSchemaRow.id.desc())
            )
            return list(s.scalars(query))

    def current(self, dataset_version_id: str) -> DatasetSchemaRow | None:
        history = self.history(dataset_version_id)
        return history[0] if history else None
