"""Models, model versions and the append-only audit log.

Stage changes and their audit events commit together; the database enforces one production
version per model (a partial unique index), so concurrent promotions cannot both win.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.schema import ColumnDefault

from evergreen.errors import (
    AlreadyExists,
    InvalidState,
    ModelNotFound,
    NotFound,
    VersionNotFound,
)
from evergreen.store.database import Database, retry_on_conflict
from evergreen.store.tables import (
    ApprovalRow,
    AuditEventRow,
    Base,
    ModelAliasRow,
    ModelRow,
    ModelVersionRow,
)

RETRIES = 5


def _insert(session: Session, row: Base) -> None:
    """INSERT a new row with one Core statement, without the unit of work's bookkeeping.

    Attributes left unset get their column's default, set on the object too, as a flush would;
    after the commit, :func:`make_transient_to_detached` makes the object what a flush and a
    commit leave behind (detached, every attribute loaded).
    """
    mapper = sa.inspect(type(row))
    values: dict[str, Any] = {}
    for attr in mapper.column_attrs:
        column = attr.columns[0]
        if attr.key in row.__dict__:
            value = row.__dict__[attr.key]
        else:
            default = column.default
            value = None
            if isinstance(default, ColumnDefault):
                value = default.arg(None) if default.is_callable else default.arg
            setattr(row, attr.key, value)
        values[column.key] = value
    session.execute(sa.insert(cast(sa.Table, mapper.local_table)), values)


class ModelRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- models -----------------------------------------------------------------------------
    def create_model(self, row: ModelRow, audit: AuditEventRow) -> ModelRow:
        try:
            with self.db.session() as s:
                s.add(row)
                s.flush()
                s.add(audit)
        except IntegrityError:
            raise AlreadyExists(f"a model named {row.name!r} already exists") from None
        return row

    def get_model(self, name: str) -> ModelRow | None:
        with self.db.session() as s:
            return s.scalar(sa.select(ModelRow).where(ModelRow.name == name))

    def require_model(self, name: str) -> ModelRow:
        model = self.get_model(name)
        if model is None:
            raise ModelNotFound(name)
        return model

    def list_models(self) -> list[ModelRow]:
        with self.db.session() as s:
            return list(s.scalars(sa.select(ModelRow).order_by(ModelRow.name)))

    def update_model(self, name: str, changes: dict[str, Any], audit: AuditEventRow) -> ModelRow:
        """Change a model's settings (owner, description, approvers) with its audit event."""
        with self.db.session() as s:
            row = s.scalar(sa.select(ModelRow).where(ModelRow.name == name))
            if row is None:
                raise ModelNotFound(name)
            for key, value in changes.items():
                setattr(row, key, value)
            s.add(audit)
        return row

    # -- versions ---------------------------------------------------------------------------
    def add_version(
        self, model: ModelRow, build: Callable[[int], ModelVersionRow], audit: AuditEventRow
    ) -> ModelVersionRow:
        """Insert the next version number; a concurrent writer taking it makes us retry."""
        for _ in range(RETRIES):
            try:
                with self.db.session() as s:
                    if self.db.dialect != "sqlite":
                        # Lock the model's row: concurrent writers queue here instead of
                        # colliding. (A SQLite transaction begins IMMEDIATE, holding the
                        # database's write lock already; SQLite has no row locks.)
                        s.execute(
                            sa.select(ModelRow.id).where(ModelRow.id == model.id).with_for_update()
                        )
                    current = s.scalar(
                        sa.select(sa.func.max(ModelVersionRow.version)).where(
                            ModelVersionRow.model_id == model.id
                        )
                    )
                    row = build((current or 0) + 1)
                    audit.subject = f"{model.name}:{row.version}"
                    _insert(s, row)
                    _insert(s, audit)
            except IntegrityError:
                continue
            make_transient_to_detached(row)
            make_transient_to_detached(audit)
            return row
        raise InvalidState(
            f"could not allocate a version number for {model.name!r} after {RETRIES} tries"
        )

    def get_version(self, model: str, version: int) -> ModelVersionRow:
        with self.db.session() as s:
            row = s.scalar(self._versions_of(model).where(ModelVersionRow.version == version))
        if row is None:
            self.require_model(model)
            raise VersionNotFound(model, version)
        return row

    def versions(self, model: str) -> list[ModelVersionRow]:
        self.require_model(model)
        with self.db.session() as s:
            return list(s.scalars(self._versions_of(model).order_by(ModelVersionRow.version)))

    def in_stage(self, model: str, stage: str) -> list[ModelVersionRow]:
        with self.db.session() as s:
            query = self._versions_of(model).where(ModelVersionRow.stage == stage)
            return list(s.scalars(query.order_by(ModelVersionRow.version.desc())))

    def production_versions(self) -> list[tuple[str, ModelVersionRow]]:
        """(model name, version) for every model that has a production version."""
        with self.db.session() as s:
            query = (
                sa.select(ModelRow.name, ModelVersionRow)
                .join(ModelVersionRow, ModelVersionRow.model_id == ModelRow.id)
                .where(ModelVersionRow.stage == "production")
            )
            return [(name, row) for name, row in s.execute(query)]

    def serving_state(self) -> tuple[tuple[tuple[Any, ...], ...], ...]:
        """Every version's (model, version, stage) and every alias's (model, alias, version):
        all that resolving a model reference depends on, read as plain tuples (no rows, no
        JSON), so a gateway can check for changes cheaply before resolving anything."""
        versions = sa.select(
            ModelVersionRow.model_id, ModelVersionRow.version, ModelVersionRow.stage
        ).order_by(ModelVersionRow.model_id, ModelVersionRow.version)
        aliases = sa.select(
            ModelAliasRow.model_id, ModelAliasRow.alias, ModelAliasRow.version_id
        ).order_by(ModelAliasRow.model_id, ModelAliasRow.alias)
        with self.db.reading() as connection:
            return tuple(
                tuple(tuple(row) for row in connection.execute(query))
                for query in (versions, aliases)
            )

    @staticmethod
    def _versions_of(model: str) -> sa.Select[ModelVersionRow]:
        return (
            sa.select(ModelVersionRow)
            .join(ModelRow, ModelVersionRow.model_id == ModelRow.id)
            .where(ModelRow.name == model)
        )

    def set_stage(
        self,
        model: str,
        version: int,
        stage: str,
        audits: Callable[[ModelVersionRow, list[ModelVersionRow]], list[AuditEventRow]],
    ) -> tuple[ModelVersionRow, list[ModelVersionRow]]:
        """Move a version to ``stage``; to production, the current production one is archived.

        Returns the version and the versions it displaced, all in one transaction together with
        the audit events ``audits`` builds from them.
        """
        try:
            with self.db.session() as s:
                row = s.scalar(self._versions_of(model).where(ModelVersionRow.version == version))
                if row is None:
                    raise VersionNotFound(model, version)
                displaced: list[ModelVersionRow] = []
                if stage == "production":
                    displaced = [
                        other
                        for other in s.scalars(
                            sa.select(ModelVersionRow)
                            .where(ModelVersionRow.model_id == row.model_id)
                            .where(ModelVersionRow.stage == "production")
                            .with_for_update()
                        )
                        if other.id != row.id
                    ]
                    for other in displaced:
                        other.stage = "archived"
                    s.flush()
                events = audits(row, displaced)
                row.stage = stage
                s.flush()
                s.add_all(events)
        except VersionNotFound:
            self.require_model(model)  # outside the transaction: say which of the two is missing
            raise
        except IntegrityError:
            raise InvalidState(
                f"another promotion of {model!r} to production happened at the same time; "
                "check `evergreen models show` and retry"
            ) from None
        return row, displaced

    # -- aliases ----------------------------------------------------------------------------
    def set_alias(
        self,
        model: str,
        alias: str,
        version: int,
        set_by: str,
        at: datetime,
        audit: Callable[[int | None], AuditEventRow],
    ) -> int | None:
        """Point ``alias`` at a version (moving it if it exists); returns the version it left.

        ``audit`` builds the audit event from that previous version, in the same transaction.
        Two writers creating the same alias at once: the one that loses the insert moves it.
        """

        def write() -> int | None:
            with self.db.session() as s:
                target = s.scalar(
                    self._versions_of(model).where(ModelVersionRow.version == version)
                )
                if target is None:
                    self.require_model(model)
                    raise VersionNotFound(model, version)
                row = s.scalar(
                    sa.select(ModelAliasRow)
                    .where(ModelAliasRow.model_id == target.model_id, ModelAliasRow.alias == alias)
                    .with_for_update()
                )
                previous = None
                if row is None:
                    s.add(
                        ModelAliasRow(
                            id=f"alias-{target.model_id}-{alias}"[:80],
                            model_id=target.model_id,
                            alias=alias,
                            version_id=target.id,
                            set_at=at,
                            set_by=set_by,
                        )
                    )
                else:
                    previous = s.scalar(
                        sa.select(ModelVersionRow.version).where(
                            ModelVersionRow.id == row.version_id
                        )
                    )
                    row.version_id, row.set_at, row.set_by = target.id, at, set_by
                s.add(audit(previous))
            return previous

        return retry_on_conflict(write)

    def remove_alias(self, model: str, alias: str, audit: AuditEventRow) -> None:
        owner = self.require_model(model)
        with self.db.session() as s:
            row = s.scalar(
                sa.select(ModelAliasRow).where(
                    ModelAliasRow.model_id == owner.id, ModelAliasRow.alias == alias
                )
            )
            if row is None:
                raise NotFound(f"model {model!r} has no alias {alias!r}")
            s.delete(row)
            s.add(audit)

    def aliases(self, model: str) -> dict[str, int]:
        """Every alias of a model and the version it points at."""
        owner = self.require_model(model)
        with self.db.session() as s:
            query = (
                sa.select(ModelAliasRow.alias, ModelVersionRow.version)
                .join(ModelVersionRow, ModelVersionRow.id == ModelAliasRow.version_id)
                .where(ModelAliasRow.model_id == owner.id)
                .order_by(ModelAliasRow.alias)
            )
            return {str(alias): int(version) for alias, version in s.execute(query)}

    def by_alias(self, model: str, alias: str) -> ModelVersionRow | None:
        with self.db.session() as s:
            return s.scalar(
                self._versions_of(model)
                .join(ModelAliasRow, ModelAliasRow.version_id == ModelVersionRow.id)
                .where(ModelAliasRow.alias == alias)
            )

    def version_evidence(
        self, model: str, version: int
    ) -> tuple[ModelRow, ModelVersionRow, list[ApprovalRow]]:
        """A model, one of its versions and that version's approvals, read in one transaction
        (what a promotion to production checks)."""
        with self.db.session() as s:
            found = s.execute(
                sa.select(ModelRow, ModelVersionRow)
                .join(ModelVersionRow, ModelVersionRow.model_id == ModelRow.id)
                .where(ModelRow.name == model, ModelVersionRow.version == version)
            ).first()
            if found is not None:
                owner, row = found
                return owner, row, list(s.scalars(self._approvals_of(row.id)))
        self.require_model(model)
        raise VersionNotFound(model, version)

    # -- approvals --------------------------------------------------------------------------
    def add_approval(self, row: ApprovalRow, audit: AuditEventRow) -> ApprovalRow:
        with self.db.session() as s:
            s.add(row)
            s.add(audit)
        return row

    def approvals(self, version_id: str) -> list[ApprovalRow]:
        """A version's approval decisions, oldest first."""
        with self.db.session() as s:
            return list(s.scalars(self._approvals_of(version_id)))

    @staticmethod
    def _approvals_of(version_id: str) -> sa.Select[ApprovalRow]:
        return (
            sa.select(ApprovalRow)
            .where(ApprovalRow.version_id == version_id)
            .order_by(ApprovalRow.at, ApprovalRow.id)
        )

    # -- audit ------------------------------------------------------------------------------
    def add_audit(self, row: AuditEventRow) -> None:
        with self.db.session() as s:
            s.add(row)

    def audit_events(self, subject_prefix: str | None = None) -> list[AuditEventRow]:
        with self.db.session() as s:
            query = sa.select(AuditEventRow)
            if subject_prefix is not None:
                query = query.where(AuditEventRow.subject.startswith(subject_prefix))
            return list(s.scalars(query.order_by(AuditEventRow.at, AuditEventRow.id)))
