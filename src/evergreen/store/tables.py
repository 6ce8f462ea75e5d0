"""The metadata store's tables (SQLAlchemy 2 declarative). Migrations live in ``migrations/``;
change both together (``alembic revision --autogenerate`` against a fresh database)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    event,
    text,
)
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from evergreen.errors import InvalidState


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the metadata store; use UTC-aware times")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime,
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


class DatasetVersionRow(Base):
    __tablename__ = "dataset_versions"
    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    created_at: Mapped[datetime]
    source: Mapped[str] = mapped_column(Text)
    format: Mapped[str] = mapped_column(String(20))
    rows: Mapped[int] = mapped_column(Integer)
    columns: Mapped[list[Any]]
    files: Mapped[list[Any]]
    schema_json: Mapped[dict[str, Any]]
    tags: Mapped[dict[str, Any]]


class DatasetSchemaRow(Base):
    """A schema (YAML, as a person reviewed or edited it) saved with a dataset version.

    Append-only: saving another schema for the version adds a row, and the newest is the one
    that validation uses; the older rows are the schema's history.
    """

    __tablename__ = "dataset_schemas"
    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    dataset_version_id: Mapped[str] = mapped_column(
        String(80), ForeignKey("dataset_versions.id"), index=True
    )
    created_at: Mapped[datetime]
    origin: Mapped[str] = mapped_column(String(20))  # "inferred" or "edited"
    sha256: Mapped[str] = mapped_column(String(64))
    yaml_text: Mapped[str] = mapped_column(Text)
    note: Mapped[str] = mapped_column(Text, default="")


class PipelineRunRow(Base):
    __tablename__ = "pipeline_runs"
    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    project: Mapped[str] = mapped_column(String(128), index=True)
    status: Mapped[str] = mapped_column(String(20))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    dataset_version_id: Mapped[str | None] = mapped_column(ForeignKey("dataset_versions.id"))
    trigger_event_id: Mapped[str | None] = mapped_column(String(80))
    code_version: Mapped[dict[str, Any]]
    params: Mapped[dict[str, Any]]
    outcome: Mapped[dict[str, Any]]
    error: Mapped[str | None] = mapped_column(Text)


class StepRunRow(Base):
    __tablename__ = "step_runs"
    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("pipeline_runs.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    outputs: Mapped[dict[str, Any]]
    error: Mapped[str | None] = mapped_column(Text)


class StepCacheRow(Base):
    """A pipeline step's outputs, kept under the fingerprint of everything it depended on (its
    inputs' fingerprints, its code, its parameters), so a rerun with nothing changed reuses
    them. ``outputs`` maps each output name to its blob (sha256) and codec."""

    __tablename__ = "step_cache"
    fingerprint: Mapped[str] = mapped_column(String(64), primary_key=True)
    step: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    run_id: Mapped[str] = mapped_column(String(80))
    outputs: Mapped[dict[str, Any]]
    summary: Mapped[dict[str, Any]]


class ValidationReportRow(Base):
    __tablename__ = "validation_reports"
    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    created_at: Mapped[datetime]
    run_id: Mapped[str | None] = mapped_column(ForeignKey("pipeline_runs.id"), index=True)
    dataset_version_id: Mapped[str] = mapped_column(ForeignKey("dataset_versions.id"))
    reference_dataset_version_id: Mapped[str | None] = mapped_column(String(80))
    passed: Mapped[bool]
    report: Mapped[dict[str, Any]]


class ModelRow(Base):
    __tablename__ = "models"
    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    created_at: Mapped[datetime]
    description: Mapped[str] = mapped_column(Text, default="")
    task: Mapped[str] = mapped_column(String(32))
    target: Mapped[str | None] = mapped_column(String(128))
    owner: Mapped[str] = mapped_column(String(128), default="")
    # Governance: who may approve a promotion to production, and how many must.
    approvers: Mapped[list[Any]] = mapped_column(default=list)
    required_approvals: Mapped[int] = mapped_column(Integer, default=0)


class ModelVersionRow(Base):
    __tablename__ = "model_versions"
    __table_args__ = (
        UniqueConstraint("model_id", "version", name="uq_model_versions_model_version"),
        # The database itself enforces one production version per model, whatever the writers.
        Index(
            "uq_model_versions_one_production",
            "model_id",
            unique=True,
            sqlite_where=text("stage = 'production'"),
            postgresql_where=text("stage = 'production'"),
        ),
    )
    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    model_id: Mapped[str] = mapped_column(ForeignKey("models.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    stage: Mapped[str] = mapped_column(String(20))
    flavor: Mapped[str] = mapped_column(String(32))
    artifact_uri: Mapped[str] = mapped_column(Text)
    artifact_sha256: Mapped[str] = mapped_column(String(64))
    artifact_size: Mapped[int] = mapped_column(Integer)
    run_id: Mapped[str | None] = mapped_column(ForeignKey("pipeline_runs.id"))
    dataset_version_id: Mapped[str | None] = mapped_column(ForeignKey("dataset_versions.id"))
    params: Mapped[dict[str, Any]]
    metrics: Mapped[dict[str, Any]]
    signature: Mapped[dict[str, Any]]
    baseline: Mapped[dict[str, Any]]
    gate: Mapped[dict[str, Any]]
    code_version: Mapped[dict[str, Any]]
    tags: Mapped[dict[str, Any]]
    description: Mapped[str] = mapped_column(Text, default="")
    owner: Mapped[str] = mapped_column(String(128), default="")
    # The data validation the version's training data passed (report id, errors, warnings).
    validation: Mapped[dict[str, Any]] = mapped_column(default=dict)
    runtime_metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Other formats of the same model, e.g. {"onnx": {"uri", "sha256", "size"}} or the reason
    # there is none ({"onnx": {"reason": ...}}); each verified like the artifact itself.
    exports: Mapped[dict[str, Any]] = mapped_column(default=dict)


class ModelAliasRow(Base):
    """A name (``champion``, ``challenger``) pointing at one version of a model; movable."""

    __tablename__ = "model_aliases"
    __table_args__ = (UniqueConstraint("model_id", "alias", name="uq_model_aliases_model_alias"),)
    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    model_id: Mapped[str] = mapped_column(ForeignKey("models.id"), index=True)
    alias: Mapped[str] = mapped_column(String(64))
    version_id: Mapped[str] = mapped_column(ForeignKey("model_versions.id"))
    set_at: Mapped[datetime]
    set_by: Mapped[str] = mapped_column(String(128))


class ApprovalRow(Base):
    """An approver's decision on a version (append-only; the newest per approver counts)."""

    __tablename__ = "approvals"
    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    version_id: Mapped[str] = mapped_column(ForeignKey("model_versions.id"), index=True)
    approver: Mapped[str] = mapped_column(String(128))
    decision: Mapped[str] = mapped_column(String(16))  # "approve" or "reject"
    at: Mapped[datetime]
    comment: Mapped[str] = mapped_column(Text, default="")


class AuditEventRow(Base):
    __tablename__ = "audit_events"
    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(256), index=True)
    from_state: Mapped[str | None] = mapped_column(String(64))
    to_state: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict[str, Any]]


class PredictionSegmentRow(Base):
    __tablename__ = "prediction_segments"
    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    model: Mapped[str] = mapped_column(String(128), index=True)
    version: Mapped[int] = mapped_column(Integer)
    first_at: Mapped[datetime]
    last_at: Mapped[datetime] = mapped_column(index=True)
    rows: Mapped[int] = mapped_column(Integer)
    artifact_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    # The endpoint that answered (gateway segments); None for segments written outside one.
    endpoint: Mapped[str | None] = mapped_column(String(128), index=True, default=None)


class EndpointRow(Base):
    """A serving endpoint's traffic policy (variants, weights, shadows), as JSON."""

    __tablename__ = "endpoints"
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    policy: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(128))


class FeedbackRow(Base):
    """A ground-truth label for one logged prediction, joined to the log by request id."""

    __tablename__ = "feedback"
    request_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    label: Mapped[Any] = mapped_column(JSON)
    at: Mapped[datetime] = mapped_column(index=True)


class MonitorResultRow(Base):
    __tablename__ = "monitor_results"
    __table_args__ = (Index("ix_monitor_results_series", "model", "kind", "at"),)
    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    model: Mapped[str] = mapped_column(String(128), index=True)
    version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(64))
    value: Mapped[float]
    rows: Mapped[int] = mapped_column(Integer)
    details: Mapped[dict[str, Any]]
    # One series per (model, version, kind, feature); feature is None for whole-model series.
    feature: Mapped[str | None] = mapped_column(String(256), default=None)
    window_start: Mapped[datetime | None] = mapped_column(default=None)
    window_end: Mapped[datetime | None] = mapped_column(default=None)


class AlertRow(Base):
    """An alert a rule raised, with what happened to its delivery.

    ``status``: ``pending`` (not tried yet), ``delivering`` (a round claimed at ``claimed_at``
    is in flight), ``delivered`` (every notifier took it), ``undelivered`` (some notifier still
    failed after its retries; ``deliveries`` says which).
    """

    __tablename__ = "alerts"
    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    project: Mapped[str] = mapped_column(String(128), index=True)
    model: Mapped[str] = mapped_column(String(128))
    version: Mapped[int | None] = mapped_column(Integer)
    rule: Mapped[str] = mapped_column(String(128))
    series: Mapped[str] = mapped_column(String(128))
    feature: Mapped[str | None] = mapped_column(String(256))
    value: Mapped[float]
    message: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(20), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    deliveries: Mapped[dict[str, Any]]  # notifier name -> {"ok": bool, "error": str|None, ...}
    delivered_at: Mapped[datetime | None]
    claimed_at: Mapped[datetime | None] = mapped_column(default=None)


class RolloutRow(Base):
    """A level-2 delivery of one candidate version: shadow, comparison, canary steps, then
    promoted, rolled back or abandoned; ``history`` lists each step with its evidence."""

    __tablename__ = "rollouts"
    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    model: Mapped[str] = mapped_column(String(128), index=True)
    candidate_version: Mapped[int] = mapped_column(Integer)
    champion_version: Mapped[int | None] = mapped_column(Integer)
    stage: Mapped[str] = mapped_column(String(32), index=True)
    traffic: Mapped[float]
    started_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    run_id: Mapped[str | None] = mapped_column(String(80))
    event_id: Mapped[str | None] = mapped_column(String(80))
    reason: Mapped[str] = mapped_column(Text, default="")
    history: Mapped[list[Any]]


class TriggerEventRow(Base):
    """A reason to run the pipeline; also the controller's durable queue entry (with a lease)."""

    __tablename__ = "trigger_events"
    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(index=True)
    project: Mapped[str] = mapped_column(String(128), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text)
    evidence: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(20), index=True)
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_expires_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    run_id: Mapped[str | None] = mapped_column(String(80))
    finished_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
    # Deferred by a guard (cooldown, cap, minimum champion time): not claimed before this time.
    not_before: Mapped[datetime | None] = mapped_column(default=None)


class FileStatRow(Base):
    """The stat cache: what a local file held when it had this size, mtime and inode.

    A snapshot that finds a file's stat unchanged takes its hash, row count and column types
    from here instead of reading the file again.
    """

    __tablename__ = "file_stats"
    path: Mapped[str] = mapped_column(String(1024), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    mtime_ns: Mapped[int] = mapped_column(BigInteger)
    inode: Mapped[str] = mapped_column(String(40))
    sha256: Mapped[str] = mapped_column(String(64))
    format: Mapped[str] = mapped_column(String(20))
    rows: Mapped[int] = mapped_column(BigInteger)
    dtypes: Mapped[dict[str, Any]]
    recorded_at: Mapped[datetime]


# Versions are immutable once registered: only the stage moves (aliases and approvals live in
# their own tables). Enforced for every ORM write, whoever makes it.
_MUTABLE_VERSION_FIELDS = frozenset({"stage"})


@event.listens_for(ModelVersionRow, "before_update")
def _versions_are_immutable(_mapper: Any, _connection: Any, target: ModelVersionRow) -> None:
    state = sa_inspect(target)
    changed = {a.key for a in state.attrs if a.history.has_changes()} - _MUTABLE_VERSION_FIELDS
    if changed:
        raise InvalidState(
            f"model versions are immutable once registered; cannot change {sorted(changed)} of "
            f"version {target.version}: register a new version instead"
        )
