"""Shared fixtures: real metadata databases (SQLite and PostgreSQL) and artifact stores.

- ``postgres_server`` (session): one PostgreSQL server for the whole run (see
  ``tests/fixtures/postgres.py``), started only when a test asks for PostgreSQL; it fails, never
  skips, when the server binaries are missing.
- ``postgres_url`` / ``sqlite_url``: the URL of a fresh, empty database on one backend.
- ``db_url``: parametrized ``sqlite`` / ``postgres``: a fresh, empty database (no schema yet).
- ``db``: parametrized ``sqlite`` / ``postgres``: a fresh ``Database`` holding the current schema
  (on PostgreSQL, a copy of a database migrated once per session). Take ``db`` or ``db_url``,
  not both (that would run every pairing); ``db.url.render_as_string(hide_password=False)`` is
  its URL.
- ``make_db``: a factory ``make_db(url, migrate=True) -> Database``; every database it opens
  is disposed after the test. Open databases through it (or ``db``) rather than ``Database()``:
  an engine left open leaks connections, and psycopg's ResourceWarning then fails the run.
- ``artifacts``: a local ``ArtifactStore`` in ``tmp_path``.
- From ``tests/fixtures/loop.py``: ``context`` (a real ``Context`` on SQLite in ``tmp_path``),
  ``hourly`` (the real bike-sharing hours), ``landing`` (an empty source folder) and
  ``project`` (the example project reading from ``landing``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from evergreen.store.artifacts import ArtifactStore
from evergreen.store.database import Database
from fixtures.postgres import PostgresServer, PostgresUnavailable
from fixtures.s3 import S3Server

# The whole-loop fixtures (context, hourly, landing, project) serve every folder.
pytest_plugins = ["fixtures.loop"]

BACKENDS = ["sqlite", "postgres"]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    try:
        server = PostgresServer.start()
    except PostgresUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_template(postgres_server: PostgresServer) -> str:
    """The name of a database holding the current schema, to copy for each test."""
    url = postgres_server.create_database("template")
    Database(url).dispose()
    return url.rsplit("/", 1)[1]


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    url = postgres_server.create_database()
    yield url
    postgres_server.drop_database(url)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'evergreen.db'}"


@pytest.fixture(params=BACKENDS, ids=BACKENDS)
def db_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


@pytest.fixture
def make_db() -> Iterator[Callable[..., Database]]:
    opened: list[Database] = []

    def make(url: str, *, migrate: bool = True) -> Database:
        database = Database(url, migrate=migrate)
        opened.append(database)
        return database

    yield make
    for database in opened:
        database.dispose()


@pytest.fixture(params=BACKENDS, ids=BACKENDS)
def db(request: pytest.FixtureRequest) -> Iterator[Database]:
    if request.param == "sqlite":
        database = Database(request.getfixturevalue("sqlite_url"))
        yield database
        database.dispose()
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    url = server.create_database(template=request.getfixturevalue("postgres_template"))
    database = Database(url)
    yield database
    database.dispose()
    server.drop_database(url)


@pytest.fixture
def artifacts(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(str(tmp_path / "artifacts"))


# -- S3 (appended): an S3-compatible server on loopback, see tests/fixtures/s3.py -----------


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    server = S3Server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(s3_server: S3Server) -> str:
    """The name of a fresh, empty bucket on ``s3_server``."""
    return s3_server.create_bucket()


@pytest.fixture(params=["local", "s3"], ids=["local", "s3"])
def any_artifacts(request: pytest.FixtureRequest, tmp_path: Path) -> ArtifactStore:
    """An empty artifact store on each backend: a local folder and an S3 bucket."""
    if request.param == "local":
        return ArtifactStore(str(tmp_path / "artifacts"))
    server: S3Server = request.getfixturevalue("s3_server")
    bucket = server.create_bucket()
    return ArtifactStore(f"s3://{bucket}/artifacts", **server.storage_options)
