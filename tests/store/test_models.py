"""Models, versions, stages and the audit log, on every backend."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from itertools import count

import pytest
import sqlalchemy as sa

from evergreen.errors import AlreadyExists, ModelNotFound, VersionNotFound
from evergreen.store.database import Database
from evergreen.store.models import ModelRepository
from evergreen.store.tables import AuditEventRow, ModelRow, ModelVersionRow
from store.racing import race

T0 = datetime(2026, 1, 1, tzinfo=UTC)
_ids = count()


def audit(action: str, subject: str, **fields: object) -> AuditEventRow:
    n = next(_ids)
    return AuditEventRow(
        id=f"audit-{n:06d}",
        at=T0 + timedelta(seconds=n),
        actor="test",
        action=action,
        subject=subject,
        details={},
        **fields,
    )


def model_row(name: str) -> ModelRow:
    return ModelRow(id=f"model-{name}", name=name, created_at=T0, task="regression", target="y")


def version_row(model: ModelRow, version: int, stage: str = "development") -> ModelVersionRow:
    return ModelVersionRow(
        id=f"mv-{model.name}-{version}",
        model_id=model.id,
        version=version,
        created_at=T0,
        stage=stage,
        flavor="sklearn",
        artifact_uri=f"/artifacts/{version}",
        artifact_sha256="0" * 64,
        artifact_size=1,
        params={"alpha": 0.5},
        metrics={"rmse": 1.5},
        signature={},
        baseline={},
        gate={},
        code_version={},
        tags={"team": "ml"},
    )


def builder(model: ModelRow) -> Callable[[int], ModelVersionRow]:
    return lambda version: version_row(model, version)


@pytest.fixture
def repo(db: Database) -> ModelRepository:
    return ModelRepository(db)


@pytest.fixture
def model(repo: ModelRepository) -> ModelRow:
    return repo.create_model(model_row("churn"), audit("create_model", "churn"))


def stages(repo: ModelRepository, name: str) -> dict[int, str]:
    return {row.version: row.stage for row in repo.versions(name)}


def promote_audits(row: ModelVersionRow, displaced: list[ModelVersionRow]) -> list[AuditEventRow]:
    events = [audit("archive", f"churn:{other.version}") for other in displaced]
    return [*events, audit("transition", f"churn:{row.version}", from_state=row.stage)]


def test_created_model_can_be_read_back(repo: ModelRepository, model: ModelRow) -> None:
    stored = repo.require_model("churn")
    assert (stored.id, stored.task, stored.target) == (model.id, "regression", "y")
    assert [m.name for m in repo.list_models()] == ["churn"]


def test_duplicate_model_name_is_already_exists(repo: ModelRepository, model: ModelRow) -> None:
    duplicate = ModelRow(id="model-other", name="churn", created_at=T0, task="regression")
    with pytest.raises(AlreadyExists, match="'churn' already exists"):
        repo.create_model(duplicate, audit("create_model", "churn"))
    assert [m.id for m in repo.list_models()] == [model.id]
    assert [e.action for e in repo.audit_events("churn")] == ["create_model"]


def test_version_numbers_increment(repo: ModelRepository, model: ModelRow) -> None:
    added = [repo.add_version(model, builder(model), audit("register", "churn")) for _ in range(3)]
    assert [row.version for row in added] == [1, 2, 3]
    assert [row.version for row in repo.versions("churn")] == [1, 2, 3]
    assert [e.subject for e in repo.audit_events("churn:")] == ["churn:1", "churn:2", "churn:3"]


def test_versions_are_numbered_per_model(repo: ModelRepository, model: ModelRow) -> None:
    other = repo.create_model(model_row("fraud"), audit("create_model", "fraud"))
    repo.add_version(model, builder(model), audit("register", "churn"))
    assert repo.add_version(other, builder(other), audit("register", "fraud")).version == 1


def test_version_fields_round_trip(repo: ModelRepository, model: ModelRow) -> None:
    repo.add_version(model, builder(model), audit("register", "churn"))
    stored = repo.get_version("churn", 1)
    assert stored.params == {"alpha": 0.5}
    assert stored.metrics == {"rmse": 1.5}
    assert stored.tags == {"team": "ml"}
    assert stored.created_at == T0


def test_unknown_model_and_version(repo: ModelRepository, model: ModelRow) -> None:
    with pytest.raises(ModelNotFound, match="evergreen models list"):
        repo.require_model("nope")
    with pytest.raises(ModelNotFound):
        repo.get_version("nope", 1)
    with pytest.raises(ModelNotFound):
        repo.versions("nope")
    with pytest.raises(VersionNotFound, match="evergreen models show churn"):
        repo.get_version("churn", 1)
    with pytest.raises(VersionNotFound):
        repo.set_stage("churn", 1, "staging", promote_audits)


def test_database_forbids_two_production_versions(db: Database, model: ModelRow) -> None:
    with db.session() as s:
        s.add(version_row(model, 1, "production"))
    with pytest.raises(sa.exc.IntegrityError), db.session() as s:
        s.add(version_row(model, 2, "production"))
    with db.session() as s:
        s.add(version_row(model, 2, "staging"))
    with pytest.raises(sa.exc.IntegrityError), db.session() as s:
        s.execute(sa.update(ModelVersionRow).values(stage="production"))


def test_index_allows_many_archived_and_one_production_per_model(
    db: Database, repo: ModelRepository, model: ModelRow
) -> None:
    other = repo.create_model(model_row("fraud"), audit("create_model", "fraud"))
    with db.session() as s:
        s.add_all([version_row(model, v, "archived") for v in (1, 2, 3)])
        s.add_all([version_row(model, 4, "production"), version_row(other, 1, "production")])
    assert sorted(name for name, _ in repo.production_versions()) == ["churn", "fraud"]


def test_duplicate_version_number_is_refused(db: Database, model: ModelRow) -> None:
    with db.session() as s:
        s.add(version_row(model, 1))
    duplicate = version_row(model, 1)
    duplicate.id = "mv-duplicate"
    with pytest.raises(sa.exc.IntegrityError), db.session() as s:
        s.add(duplicate)


def test_promotion_archives_the_previous_production_version(
    repo: ModelRepository, model: ModelRow
) -> None:
    for _ in range(3):
        repo.add_version(model, builder(model), audit("register", "churn"))

    row, displaced = repo.set_stage("churn", 1, "production", promote_audits)
    assert (row.version, row.stage, displaced) == (1, "production", [])

    row, displaced = repo.set_stage("churn", 2, "production", promote_audits)
    assert [d.version for d in displaced] == [1]
    assert stages(repo, "churn") == {1: "archived", 2: "production", 3: "development"}
    assert [v.version for v in repo.in_stage("churn", "production")] == [2]
    events = [(e.action, e.subject, e.from_state) for e in repo.audit_events("churn:")][3:]
    assert events == [
        ("transition", "churn:1", "development"),
        ("archive", "churn:1", None),
        ("transition", "churn:2", "development"),
    ]


def test_other_stages_do_not_archive(repo: ModelRepository, model: ModelRow) -> None:
    for _ in range(2):
        repo.add_version(model, builder(model), audit("register", "churn"))
    repo.set_stage("churn", 1, "production", promote_audits)
    _, displaced = repo.set_stage("churn", 2, "staging", promote_audits)
    assert displaced == []
    assert stages(repo, "churn") == {1: "production", 2: "staging"}


def test_repromoting_the_production_version_displaces_nothing(
    repo: ModelRepository, model: ModelRow
) -> None:
    repo.add_version(model, builder(model), audit("register", "churn"))
    repo.set_stage("churn", 1, "production", promote_audits)
    _, displaced = repo.set_stage("churn", 1, "production", promote_audits)
    assert displaced == []
    assert stages(repo, "churn") == {1: "production"}


def test_failed_stage_change_changes_nothing(repo: ModelRepository, model: ModelRow) -> None:
    for _ in range(2):
        repo.add_version(model, builder(model), audit("register", "churn"))
    repo.set_stage("churn", 1, "production", promote_audits)
    before = len(repo.audit_events())

    def failing_audits(*_: object) -> list[AuditEventRow]:
        raise RuntimeError("audit sink down")

    with pytest.raises(RuntimeError, match="audit sink down"):
        repo.set_stage("churn", 2, "production", failing_audits)
    assert stages(repo, "churn") == {1: "production", 2: "development"}
    assert len(repo.audit_events()) == before


def test_audit_events_filter_by_subject_prefix(repo: ModelRepository, model: ModelRow) -> None:
    repo.add_audit(audit("note", "fraud"))
    repo.add_audit(audit("note", "churn:7"))
    assert [e.subject for e in repo.audit_events("churn")] == ["churn", "churn:7"]
    assert len(repo.audit_events()) == 3


def test_setting_a_new_alias_from_many_writers_at_once_keeps_one(
    db: Database, repo: ModelRepository, model: ModelRow
) -> None:
    for _ in range(3):
        repo.add_version(model, builder(model), audit("register", "churn"))
    writers, rounds = 4, 15
    repositories = [ModelRepository(db) for _ in range(writers)]

    def write(n: int, r: int) -> int | None:
        return repositories[n].set_alias(
            "churn", f"a{r}", 1 + n % 3, f"op{n}", T0, lambda _: audit("alias", "churn")
        )

    left, errors = race(writers, rounds, write)

    assert errors == []
    aliases = repo.aliases("churn")
    assert sorted(aliases) == sorted(f"a{r}" for r in range(rounds))
    for r in range(rounds):  # one writer created the alias, the others moved it
        assert sum(left[n][r] is None for n in range(writers)) == 1
