"""The metadata database on every backend: migrations, sessions, time zones."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from evergreen.errors import InvalidInput, Unavailable
from evergreen.settings import Settings
from evergreen.store.database import Database
from evergreen.store.tables import AuditEventRow, Base
from fixtures.postgres import free_port

MakeDb = Callable[..., Database]


def audit(at: datetime, subject: str = "m:1") -> AuditEventRow:
    return AuditEventRow(
        id=f"audit-{subject}-{at.timestamp()}",
        at=at,
        actor="test",
        action="register",
        subject=subject,
        details={},
    )


def test_first_use_creates_the_schema(make_db: MakeDb, db_url: str) -> None:
    bare = make_db(db_url, migrate=False)
    assert bare.current_revision() is None
    assert sa.inspect(bare.engine).get_table_names() == []

    db = make_db(db_url)

    assert db.head_revision() is not None
    assert db.current_revision() == db.head_revision()
    tables = set(sa.inspect(db.engine).get_table_names())
    assert tables == {*Base.metadata.tables, "alembic_version"}


def test_upgrade_is_idempotent(make_db: MakeDb, db_url: str) -> None:
    db = make_db(db_url)
    db.upgrade()
    again = make_db(db_url)
    again.upgrade()
    assert again.current_revision() == again.head_revision()
    with again.engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM alembic_version")).scalar() == 1


def test_migrations_match_the_table_definitions(db: Database) -> None:
    with db.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []


def test_sqlite_runs_in_wal_mode_with_foreign_keys(make_db: MakeDb, sqlite_url: str) -> None:
    db = make_db(sqlite_url)
    assert db.dialect == "sqlite"
    with db.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_sqlite_file_is_created_with_its_folders(make_db: MakeDb, tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "evergreen.db"
    make_db(f"sqlite:///{path}")
    assert path.is_file()


def test_default_settings_give_a_sqlite_database_in_home(make_db: MakeDb, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", db_url=None)
    db = make_db(settings.resolved_db_url)
    assert db.dialect == "sqlite"
    assert (tmp_path / "home" / "evergreen.db").is_file()
    assert db.current_revision() == db.head_revision()


def test_dialect_names_the_backend(make_db: MakeDb, db_url: str) -> None:
    expected = "sqlite" if db_url.startswith("sqlite") else "postgresql"
    assert make_db(db_url).dialect == expected


@pytest.mark.parametrize("url", ["not a url", "://nothing"], ids=["words", "no-scheme"])
def test_invalid_url_is_invalid_input(url: str) -> None:
    with pytest.raises(InvalidInput, match="invalid database URL"):
        Database(url)


def test_unreachable_server_is_unavailable_without_leaking_the_password() -> None:
    url = f"postgresql+psycopg://evergreen:s3cret@127.0.0.1:{free_port()}/evergreen"
    with pytest.raises(Unavailable, match="cannot reach the metadata database") as caught:
        Database(url)
    assert "s3cret" not in str(caught.value)


def test_aware_datetimes_round_trip_as_utc(db: Database) -> None:
    india = timezone(timedelta(hours=5, minutes=30))
    at = datetime(2026, 3, 1, 9, 15, 30, 123456, tzinfo=india)
    with db.session() as s:
        s.add(audit(at))
    with db.session() as s:
        stored = s.scalars(sa.select(AuditEventRow)).one().at
    assert stored == at
    assert stored.tzinfo == UTC
    assert stored.hour == 3
    assert stored.minute == 45
    assert stored.microsecond == 123456


def test_datetimes_sort_by_instant_whatever_their_zone(db: Database) -> None:
    # 10:00 at UTC+5 is 05:00Z, earlier than 06:00Z although its wall time is later.
    later = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)
    earlier = datetime(2026, 3, 1, 10, 0, tzinfo=timezone(timedelta(hours=5)))
    with db.session() as s:
        s.add_all([audit(later, "m:2"), audit(earlier, "m:1")])
    with db.session() as s:
        subjects = s.scalars(sa.select(AuditEventRow.subject).order_by(AuditEventRow.at)).all()
    assert subjects == ["m:1", "m:2"]


def test_naive_datetimes_are_refused(db: Database) -> None:
    with pytest.raises(sa.exc.StatementError, match="naive datetime"), db.session() as s:
        s.add(audit(datetime(2026, 3, 1, 9, 0)))  # naive on purpose
    with db.session() as s:
        assert s.scalars(sa.select(AuditEventRow)).all() == []


def test_session_commits_when_the_block_ends(db: Database) -> None:
    with db.session() as s:
        s.add(audit(datetime(2026, 3, 1, tzinfo=UTC)))
    with db.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(AuditEventRow)) == 1


def test_session_rolls_back_on_error(db: Database) -> None:
    def add_then_fail() -> None:
        with db.session() as s:
            s.add(audit(datetime(2026, 3, 1, tzinfo=UTC)))
            s.flush()
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        add_then_fail()
    with db.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(AuditEventRow)) == 0


def test_a_read_only_connection_neither_holds_nor_waits_for_the_write_lock(
    make_db: MakeDb, db_url: str
) -> None:
    """A monitor reads labels in a thread while the pass reads and writes the registry: on
    SQLite every other transaction takes the write lock first, so a read that held it made the
    pass wait for the whole read."""
    db = make_db(db_url)
    at = datetime(2026, 11, 27, tzinfo=UTC)
    with db.reading() as reader:
        assert reader.execute(sa.select(sa.func.count()).select_from(AuditEventRow)).scalar() == 0
        # the read's transaction is still open here; a writer goes ahead at once
        started = datetime.now(UTC)
        with db.session() as session:
            session.add(audit(at))
        assert datetime.now(UTC) - started < timedelta(seconds=5)  # busy_timeout is 30 s
    with db.session() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(AuditEventRow)) == 1
    with db.engine.connect() as connection:  # the pooled connection is not read-only any more
        assert "evergreen.read_only" not in connection.info
