"""Snapshots from every kind of source: fsspec URLs (S3 on loopback), SQL queries (SQLite and
PostgreSQL), Python callables and JSON lines files; and bad input from each."""

from __future__ import annotations

import hashlib
import io
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import psycopg
import pytest

from evergreen.data.snapshots import DatasetStore
from evergreen.data.source_kinds import CallableSource, FileSource, SqlSource, UrlSource, as_source
from evergreen.errors import InvalidInput, NotFound, Unavailable
from evergreen.store.artifacts import ArtifactStore
from evergreen.store.database import Database
from evergreen.store.datasets import DatasetRepository
from fixtures.s3 import S3Server

FRAME = pd.DataFrame({"city": ["Oslo", "Lima", "Pune"], "riders": [3, 5, 8]})


@pytest.fixture
def store(
    make_db: Callable[..., Database], sqlite_url: str, artifacts: ArtifactStore
) -> DatasetStore:
    return DatasetStore(DatasetRepository(make_db(sqlite_url)), artifacts)


def versions(store: DatasetStore) -> list[str]:
    return [row.id for row in store.log()]


# -- fsspec URLs -------------------------------------------------------------------------------


@pytest.fixture
def s3_data(s3_server: S3Server, s3_bucket: str) -> str:
    """A bucket holding two CSV parts and a README under ``landing/``; its URL."""
    fs = s3_server.filesystem()
    fs.pipe(f"{s3_bucket}/landing/2024/a.csv", b"city,riders\nOslo,3\nLima,5\n")
    fs.pipe(f"{s3_bucket}/landing/2025/b.csv", b"city,riders\nPune,8\n")
    fs.pipe(f"{s3_bucket}/landing/README.md", b"not data")
    return f"s3://{s3_bucket}/landing"


@pytest.mark.parametrize("suffix", ["", "/**/*.csv"], ids=["folder", "glob"])
def test_snapshot_of_an_s3_url(
    store: DatasetStore, s3_server: S3Server, s3_data: str, suffix: str
) -> None:
    row = store.snapshot(UrlSource(s3_data + suffix, s3_server.storage_options))

    assert (row.rows, row.columns, row.format) == (3, ["city", "riders"], "csv")
    assert [f["name"] for f in row.files] == ["2024/a.csv", "2025/b.csv"]
    assert row.source == s3_data + suffix
    assert store.load(row.id)["city"].tolist() == ["Oslo", "Lima", "Pune"]


def test_s3_and_local_copies_of_the_same_files_are_the_same_version(
    store: DatasetStore, s3_server: S3Server, s3_data: str, tmp_path: Path
) -> None:
    remote = store.snapshot(UrlSource(s3_data + "/**/*.csv", s3_server.storage_options))
    local = tmp_path / "landing"
    s3_server.filesystem().get(s3_data.removeprefix("s3://") + "/", str(local), recursive=True)
    (local / "README.md").unlink()
    assert store.snapshot(str(local)).id == remote.id


def test_a_url_string_takes_the_store_s_storage_options(
    make_db: Callable[..., Database], sqlite_url: str, s3_server: S3Server, s3_data: str
) -> None:
    """A dataset store on S3, snapshotting an S3 URL given as a plain string."""
    artifacts = ArtifactStore(f"{s3_data}-artifacts", **s3_server.storage_options)
    store = DatasetStore(
        DatasetRepository(make_db(sqlite_url)),
        artifacts,
        storage_options=s3_server.storage_options,
    )
    row = store.snapshot(s3_data + "/2024/a.csv")
    assert [f["name"] for f in row.files] == ["a.csv"]
    assert artifacts.exists(row.files[0]["sha256"])
    assert store.load(row.id)["riders"].tolist() == [3, 5]


@pytest.mark.parametrize(
    ("path", "error", "message"),
    [
        ("/landing/nothing-here", NotFound, "no such file"),
        ("/landing/*.parquet", NotFound, "matches no"),
    ],
    ids=["missing", "no-match"],
)
def test_bad_s3_urls_are_clear_errors(
    store: DatasetStore,
    s3_server: S3Server,
    s3_bucket: str,
    path: str,
    error: type[Exception],
    message: str,
) -> None:
    with pytest.raises(error, match=message):
        store.snapshot(UrlSource(f"s3://{s3_bucket}{path}", s3_server.storage_options))
    assert versions(store) == []


def test_a_missing_bucket_is_not_found(store: DatasetStore, s3_server: S3Server) -> None:
    with pytest.raises(NotFound, match=r"s3://no-such-bucket-here/x\.csv"):
        store.snapshot(UrlSource("s3://no-such-bucket-here/x.csv", s3_server.storage_options))


def test_an_unreachable_endpoint_is_unavailable(store: DatasetStore) -> None:
    options = {
        "key": "k",
        "secret": "s",
        "client_kwargs": {"endpoint_url": "http://127.0.0.1:9", "region_name": "eu-west-1"},
        "config_kwargs": {"connect_timeout": 1, "retries": {"max_attempts": 1}},
        "retries": 1,
    }
    with pytest.raises(Unavailable, match=r"cannot list s3://bucket/data\.csv"):
        store.snapshot(UrlSource("s3://bucket/data.csv", options))
    assert versions(store) == []


def test_an_unknown_protocol_is_invalid_input(store: DatasetStore) -> None:
    with pytest.raises(InvalidInput, match=r"cannot open 'nosuchproto://x/y\.csv'"):
        store.snapshot("nosuchproto://x/y.csv")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("data/day.csv", FileSource("data/day.csv")),
        (Path("data"), FileSource("data")),
        ("file:///tmp/day.csv", FileSource("/tmp/day.csv")),
        ("s3://b/p/*.csv", UrlSource("s3://b/p/*.csv")),
        ("gcs://b/p.parquet", UrlSource("gcs://b/p.parquet")),
    ],
    ids=["relative", "path", "file-url", "s3", "gcs"],
)
def test_as_source(value: str | Path, expected: object) -> None:
    assert as_source(value) == expected


# -- SQL ---------------------------------------------------------------------------------------


@pytest.fixture
def sqlite_data(tmp_path: Path) -> str:
    path = tmp_path / "warehouse.db"
    with sqlite3.connect(path) as connection:
        FRAME.to_sql("rides", connection, index=False)
    connection.close()
    return f"sqlite:///{path}"


@pytest.fixture
def postgres_data(postgres_url: str) -> str:
    with psycopg.connect(postgres_url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        conn.execute("CREATE TABLE rides (city text, riders bigint)")
        with conn.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO rides VALUES (%s, %s)", list(FRAME.itertuples(index=False))
            )
    return postgres_url


@pytest.fixture(params=["sqlite", "postgres"], ids=["sqlite", "postgres"])
def warehouse(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(f"{request.param}_data")
    return url


def test_sql_source_records_the_query_and_a_fingerprint(
    store: DatasetStore, warehouse: str
) -> None:
    query = "SELECT city, riders FROM rides ORDER BY riders"
    row = store.snapshot(SqlSource(warehouse, query, name="rides"))

    assert (row.rows, row.columns, row.format) == (3, ["city", "riders"], "parquet")
    [file] = row.files
    blob = store.artifacts.get_bytes(file["sha256"])
    assert row.tags["sql"]["query"] == query
    assert row.tags["sql"]["fingerprint"] == hashlib.sha256(blob).hexdigest() == file["sha256"]
    assert "password" not in row.source
    pd.testing.assert_frame_equal(pd.read_parquet(io.BytesIO(blob)), FRAME, check_dtype=False)
    assert store.snapshot(SqlSource(warehouse, query, name="rides")).id == row.id


def test_the_query_text_is_part_of_the_identity(store: DatasetStore, warehouse: str) -> None:
    """Two queries returning the same rows are two versions; new rows are a third."""
    first = store.snapshot(SqlSource(warehouse, "SELECT city, riders FROM rides ORDER BY riders"))
    other = store.snapshot(
        SqlSource(warehouse, "SELECT city, riders FROM rides WHERE riders > 0 ORDER BY riders")
    )
    assert other.files == first.files
    assert other.id != first.id


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("SELECT * FROM no_such_table", "no_such_table"),
        ("SELEC city FROM rides", "syntax error"),
        ("SELECT city FROM rides WHERE 1 = 0", "the table has no rows"),
    ],
    ids=["missing-table", "syntax", "no-rows"],
)
def test_sql_errors_are_invalid_input_naming_the_problem(
    store: DatasetStore, warehouse: str, query: str, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        store.snapshot(SqlSource(warehouse, query))
    assert versions(store) == []


def test_an_unreachable_database_is_unavailable(store: DatasetStore, tmp_path: Path) -> None:
    url = "postgresql+psycopg://u:secret@127.0.0.1:9/db?connect_timeout=1"
    with pytest.raises(Unavailable, match="cannot reach the database") as info:
        store.snapshot(SqlSource(url, "SELECT 1"))
    assert "secret" not in str(info.value)


# -- callables ---------------------------------------------------------------------------------


def test_callable_source_is_the_frame_as_parquet(store: DatasetStore) -> None:
    row = store.snapshot(CallableSource(lambda: FRAME.copy(), "rides"))
    assert ([f["name"] for f in row.files], row.rows, row.source) == (["rides.parquet"], 3, "rides")
    pd.testing.assert_frame_equal(store.load(row.id), FRAME)
    assert store.snapshot(CallableSource(lambda: FRAME.copy(), "rides")).id == row.id
    assert store.snapshot_frame(FRAME, "rides").id == row.id


@pytest.mark.parametrize(
    ("fn", "message"),
    [
        (lambda: [1, 2], "expected a pandas DataFrame, got list"),
        (lambda: 1 / 0, "the source function failed: ZeroDivisionError"),
    ],
    ids=["not-a-frame", "raises"],
)
def test_bad_callables_are_invalid_input(
    store: DatasetStore, fn: Callable[[], pd.DataFrame], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        store.snapshot(CallableSource(fn, "rides"))
    assert versions(store) == []


# -- JSON lines and bad files ------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".jsonl", ".ndjson"])
def test_json_lines_snapshot(store: DatasetStore, tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"rides{suffix}"
    path.write_text('{"city": "Oslo", "riders": 3}\n\n{"city": "Lima", "riders": 5}\n')
    row = store.snapshot(str(path))
    assert (row.format, row.rows, row.columns) == ("jsonl", 2, ["city", "riders"])
    assert row.schema_json == {"city": "object", "riders": "int64"}
    assert store.load(row.id)["riders"].tolist() == [3, 5]


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("bad.jsonl", b'{"a": 1}\n{"a": 2,\n{"a": 3}\n', r"bad\.jsonl: line 2: not valid JSON"),
        ("list.jsonl", b'{"a": 1}\n[1, 2]\n', r"line 2: expected a JSON object, found list"),
        (
            "mixed.jsonl",
            b'{"a": 1, "b": "x"}\n{"a": "one", "b": "y"}\n',
            r"mixed\.jsonl: column 'a' mixes types \(number and string, first at row 2\)",
        ),
        ("empty.parquet", b"", r"empty\.parquet: the file is empty"),
    ],
    ids=["bad-line", "not-an-object", "mixed-types", "zero-byte-parquet"],
)
def test_bad_files_name_the_line_or_column_and_record_nothing(
    store: DatasetStore, tmp_path: Path, name: str, data: bytes, message: str
) -> None:
    (tmp_path / name).write_bytes(data)
    with pytest.raises(InvalidInput, match=message):
        store.snapshot(str(tmp_path / name))
    assert versions(store) == []
    assert not [p for p in Path(store.artifacts.root).rglob("*") if p.is_file()]


def test_unchanged_s3_objects_are_not_read_again(
    store: DatasetStore,
    s3_server: S3Server,
    s3_data: str,
    artifacts: ArtifactStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from evergreen.store import remote_files

    reads: list[str] = []
    read = remote_files.read

    def counting_read(url: str, storage_options: dict[str, object] | None = None) -> bytes:
        reads.append(url.rsplit("/", 1)[-1])
        return read(url, storage_options)

    monkeypatch.setattr(remote_files, "read", counting_read)
    source = UrlSource(s3_data, s3_server.storage_options)
    first = store.snapshot(source)
    assert sorted(reads) == ["a.csv", "b.csv"]

    reads.clear()
    assert store.snapshot(source).id == first.id
    assert reads == []  # listing (sizes and ETags) was enough

    s3_server.filesystem().pipe(
        s3_data.removeprefix("s3://") + "/2025/b.csv", b"city,riders\nPune,9\n"
    )
    reads.clear()
    changed = store.snapshot(source)
    assert changed.id != first.id and reads == ["b.csv"]
    assert store.load(changed.id)["riders"].tolist() == [3, 5, 9]

    # With the blobs gone, an unchanged object the cache vouches for is fetched and checked.
    for blob in Path(artifacts.root).rglob("*"):
        if blob.is_file():
            blob.unlink()
    s3_server.filesystem().pipe(
        s3_data.removeprefix("s3://") + "/2025/b.csv", b"city,riders\nPune,8\n"
    )
    reads.clear()
    assert store.snapshot(source).id == first.id  # that version exists: nothing to store
    s3_server.filesystem().pipe(
        s3_data.removeprefix("s3://") + "/2025/b.csv", b"city,riders\nPune,7\n"
    )
    reads.clear()
    third = store.snapshot(source)
    assert sorted(reads) == ["a.csv", "b.csv"]  # b changed; a.csv's blob had to be fetched again
    assert store.load(third.id)["riders"].tolist() == [3, 5, 7]
