"""Opening a database whose schema is current is one cheap read, without Alembic; any other
schema (none yet, an older revision) is still upgraded by Alembic, on every backend."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import sqlalchemy as sa
from alembic import command

from evergreen.store.database import HEAD_REVISION, Database, _alembic_config

MakeDb = Callable[..., Database]


def test_head_revision_names_the_newest_migration(make_db: MakeDb, sqlite_url: str) -> None:
    assert make_db(sqlite_url, migrate=False).head_revision() == HEAD_REVISION


def test_a_current_schema_is_opened_without_running_alembic(
    make_db: MakeDb, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_db(db_url)

    def no_alembic(self: Database) -> str | None:
        raise AssertionError("Alembic was consulted for a current schema")

    monkeypatch.setattr(Database, "current_revision", no_alembic)
    monkeypatch.setattr(Database, "head_revision", no_alembic)
    again = make_db(db_url)
    again.upgrade()
    assert again._at_head()


def test_an_older_schema_is_upgraded_when_opened(make_db: MakeDb, db_url: str) -> None:
    bare = make_db(db_url, migrate=False)
    command.upgrade(_alembic_config(bare.engine), "0001")
    assert bare.current_revision() == "0001"
    assert not bare._at_head()

    db = make_db(db_url)

    assert db.current_revision() == HEAD_REVISION
    assert db._at_head()
    assert "file_stats" in sa.inspect(db.engine).get_table_names()


def test_no_schema_is_not_at_head(make_db: MakeDb, db_url: str) -> None:
    assert not make_db(db_url, migrate=False)._at_head()
