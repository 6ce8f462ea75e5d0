"""The metadata database: engine, sessions and migrations.

SQLite (WAL mode) under ``$EVERGREEN_HOME`` by default; any SQLAlchemy URL otherwise. The schema
is created and upgraded by Alembic, on first use and by ``evergreen db upgrade``. Opening a
database whose schema is already at :data:`HEAD_REVISION` reads one row and does not import
Alembic at all (importing it and reading the migration scripts costs more than most commands).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from evergreen.errors import InvalidInput, Unavailable

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
# The newest migration's revision: a schema at this revision needs no upgrade. Update it with
# every new migration (tests/store/test_schema_check.py checks it against the scripts).
HEAD_REVISION = "0008"

T = TypeVar("T")


def retry_on_conflict(write: Callable[[], T], attempts: int = 3) -> T:
    """Run a read-then-insert-or-update unit of work, again when another writer inserted the
    same key between its read and its insert (the next try finds that row and updates it)."""
    for attempt in range(1, attempts + 1):
        try:
            return write()
        except IntegrityError:
            if attempt == attempts:
                raise
    raise AssertionError("attempts must be at least 1")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not the driver, open transactions (see _sqlite_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


READ_ONLY = "evergreen.read_only"  # a Connection.info key: see Database.reading


def _sqlite_begin(connection: Any) -> None:
    # Take the write lock at the start of every transaction: two writers that both read
    # "the next version number" can then never interleave (SQLite has no SELECT ... FOR UPDATE).
    # A connection marked read-only takes a deferred one: with WAL it neither waits for the
    # write lock nor holds it.
    connection.exec_driver_sql("BEGIN" if connection.info.get(READ_ONLY) else "BEGIN IMMEDIATE")


def _alembic_config(engine: Engine) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


class Database:
    """One metadata database: hands out sessions that commit or roll back as a unit."""

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        try:
            parsed = sa.make_url(url)
        except sa.exc.ArgumentError as exc:
            raise InvalidInput(f"invalid database URL {url!r}: {exc}") from None
        self.url = parsed
        # A server may drop idle connections: ping before use. A SQLite file cannot, and the
        # ping would cost every session an extra statement.
        kwargs: dict[str, Any] = {"pool_pre_ping": parsed.get_backend_name() != "sqlite"}
        if parsed.get_backend_name() == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        self.engine = sa.create_engine(parsed, **kwargs)
        if parsed.get_backend_name() == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
            event.listen(self.engine, "begin", _sqlite_begin)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        if migrate:
            self.upgrade()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def upgrade(self) -> None:
        """Apply every pending migration (a no-op when the schema is current)."""
        try:
            if self._at_head():
                return
            if self.current_revision() == self.head_revision():
                return
            from alembic import command

            command.upgrade(_alembic_config(self.engine), "head")
        except OperationalError as exc:
            raise Unavailable(
                f"cannot reach the metadata database {self.url.render_as_string()}: {exc.orig}"
            ) from None

    def _at_head(self) -> bool:
        """Whether the schema is at :data:`HEAD_REVISION`, read with SQLAlchemy alone."""
        with self.engine.connect() as connection:
            if not sa.inspect(connection).has_table("alembic_version"):
                return False
            revisions = connection.execute(sa.text("SELECT version_num FROM alembic_version"))
            return revisions.scalars().all() == [HEAD_REVISION]

    def head_revision(self) -> str | None:
        from alembic.script import ScriptDirectory

        return ScriptDirectory.from_config(_alembic_config(self.engine)).get_current_head()

    def current_revision(self) -> str | None:
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: committed when the block ends, rolled back on any error."""
        session = self._sessions()
        try:
            yield session
            session.commit()
        except OperationalError as exc:
            session.rollback()
            raise Unavailable(f"metadata database error: {exc.orig}") from None
        except SQLAlchemyError:
            session.rollback()
            raise
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A connection for reads only. On SQLite its transaction is deferred, so a long read
        (a monitor's bulk label join) neither holds the write lock nor makes other threads'
        transactions wait for it; elsewhere it is a plain connection."""
        with self.engine.connect() as connection:
            connection.info[READ_ONLY] = True  # the DBAPI connection's: pooled, so cleared below
            try:
                yield connection
            finally:
                connection.rollback()
                connection.info.pop(READ_ONLY, None)

    def dispose(self) -> None:
        self.engine.dispose()
