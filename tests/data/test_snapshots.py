"""Content-addressed dataset snapshots: identity, storage, checkout, load and bad input."""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evergreen.data.snapshots import DatasetStore, version_id
from evergreen.errors import IntegrityFailure, InvalidInput, NotFound
from evergreen.store.artifacts import ArtifactStore
from evergreen.store.database import Database
from evergreen.store.datasets import DatasetRepository

DAY = Path(__file__).resolve().parents[2] / "examples" / "data" / "bike_sharing_day.csv"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def blobs(artifacts: ArtifactStore) -> list[Path]:
    return sorted(p for p in Path(artifacts.root).rglob("*") if p.is_file())


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def split_by_year(folder: Path) -> list[Path]:
    """The real dataset as one CSV per year (header repeated), in file-name order."""
    frame = pd.read_csv(DAY)
    parts = []
    for year, rows in frame.groupby(frame["dteday"].str[:4]):
        parts.append(folder / f"day-{year}.csv")
        folder.mkdir(parents=True, exist_ok=True)
        rows.to_csv(parts[-1], index=False)
    return parts


@pytest.fixture
def store(
    make_db: Callable[..., Database], sqlite_url: str, artifacts: ArtifactStore
) -> DatasetStore:
    return DatasetStore(DatasetRepository(make_db(sqlite_url)), artifacts)


def test_snapshot_of_a_csv_records_rows_columns_and_files(store: DatasetStore) -> None:
    row = store.snapshot(str(DAY), tags={"origin": "uci"})

    expected = pd.read_csv(DAY)
    assert re.fullmatch(r"ds-[0-9a-f]{16}", row.id)
    assert (row.format, row.rows, row.source) == ("csv", len(expected), str(DAY))
    assert row.columns == list(expected.columns)
    assert row.files == [
        {"name": DAY.name, "sha256": sha256(DAY), "size": DAY.stat().st_size, "rows": 731}
    ]
    assert row.schema_json["cnt"] == "int64"
    assert row.schema_json["temp"] == "float64"
    assert row.tags == {"origin": "uci"}
    assert store.artifacts.get_bytes(sha256(DAY)) == DAY.read_bytes()
    assert [v.id for v in store.log()] == [row.id]


def test_snapshot_on_each_backend_round_trips(db: Database, artifacts: ArtifactStore) -> None:
    store = DatasetStore(DatasetRepository(db), artifacts)
    row = store.snapshot(str(DAY))
    stored = store.get(row.id)
    assert (stored.rows, stored.columns, stored.files) == (row.rows, row.columns, row.files)
    pd.testing.assert_frame_equal(store.load(row.id), pd.read_csv(DAY))


def test_the_same_bytes_give_the_same_version(store: DatasetStore, tmp_path: Path) -> None:
    copy = tmp_path / "elsewhere" / DAY.name
    copy.parent.mkdir()
    shutil.copy(DAY, copy)

    first = store.snapshot(str(DAY))
    again = store.snapshot(str(DAY))
    from_copy = store.snapshot(str(copy))

    assert first.id == again.id == from_copy.id
    assert [v.source for v in store.log()] == [str(DAY)]  # the first recording is kept
    assert len(blobs(store.artifacts)) == 1


def test_the_same_bytes_under_another_name_are_another_version(
    store: DatasetStore, tmp_path: Path
) -> None:
    renamed = tmp_path / "renamed.csv"
    shutil.copy(DAY, renamed)
    assert store.snapshot(str(DAY)).id != store.snapshot(str(renamed)).id
    assert len(blobs(store.artifacts)) == 1


def test_changing_one_byte_gives_a_new_version(store: DatasetStore, tmp_path: Path) -> None:
    data = bytearray(DAY.read_bytes())
    last_digit = max(i for i, byte in enumerate(data) if chr(byte).isdigit())
    data[last_digit] = ord("0") if data[last_digit] != ord("0") else ord("1")
    changed = write(tmp_path / DAY.name, bytes(data))

    original = store.snapshot(str(DAY))
    modified = store.snapshot(str(changed))

    assert original.id != modified.id
    assert len(store.log()) == 2
    assert len(blobs(store.artifacts)) == 2
    before, after = store.load(original.id), store.load(modified.id)
    assert before["cnt"].iloc[-1] != after["cnt"].iloc[-1]
    pd.testing.assert_frame_equal(before.iloc[:-1], after.iloc[:-1])


def test_a_folder_of_csvs_is_one_version(store: DatasetStore, tmp_path: Path) -> None:
    parts = split_by_year(tmp_path / "day")

    row = store.snapshot(str(tmp_path / "day"))

    assert [f["name"] for f in row.files] == ["day-2011.csv", "day-2012.csv"]
    assert [f["rows"] for f in row.files] == [365, 366]
    assert [f["sha256"] for f in row.files] == [sha256(p) for p in parts]
    assert row.rows == 731
    assert row.source == str(tmp_path / "day")
    assert store.snapshot(str(tmp_path / "day" / "*.csv")).id == row.id
    pd.testing.assert_frame_equal(store.load(row.id), pd.read_csv(DAY))


def test_nested_files_are_named_by_their_relative_path(store: DatasetStore, tmp_path: Path) -> None:
    write(tmp_path / "data" / "2011" / "day.csv", "a,b\n1,2\n")
    write(tmp_path / "data" / "2012" / "day.csv", "a,b\n3,4\n")

    row = store.snapshot(str(tmp_path / "data"))

    assert [f["name"] for f in row.files] == ["2011/day.csv", "2012/day.csv"]
    assert store.load(row.id).to_dict("list") == {"a": [1, 3], "b": [2, 4]}


def test_checkout_writes_identical_bytes(store: DatasetStore, tmp_path: Path) -> None:
    write(tmp_path / "data" / "2011" / "day.csv", "a,b\r\n1,2\r\n")
    write(tmp_path / "data" / "2012" / "day.csv", "a,b\n3,4\n")
    row = store.snapshot(str(tmp_path / "data"))

    written = store.checkout(row.id, tmp_path / "out")

    assert written == [tmp_path / "out" / "2011" / "day.csv", tmp_path / "out" / "2012" / "day.csv"]
    for path in written:
        original = tmp_path / "data" / path.relative_to(tmp_path / "out")
        assert path.read_bytes() == original.read_bytes()


def test_checkout_of_the_real_file(store: DatasetStore, tmp_path: Path) -> None:
    row = store.snapshot(str(DAY))
    [path] = store.checkout(row.id[:10], tmp_path / "out")
    assert path.read_bytes() == DAY.read_bytes()


def test_load_returns_what_pandas_reads(store: DatasetStore) -> None:
    row = store.snapshot(str(DAY))
    pd.testing.assert_frame_equal(store.load(row.id), pd.read_csv(DAY))


def test_parquet_snapshot_round_trips(store: DatasetStore, tmp_path: Path) -> None:
    frame = pd.read_csv(DAY)
    frame.to_parquet(tmp_path / "day.parquet", index=False)

    row = store.snapshot(str(tmp_path / "day.parquet"))

    assert (row.format, row.rows, row.columns) == ("parquet", 731, list(frame.columns))
    pd.testing.assert_frame_equal(store.load(row.id), frame)


def test_snapshot_frame_is_stable_for_the_same_frame(store: DatasetStore) -> None:
    frame = pd.read_csv(DAY).head(50)

    row = store.snapshot_frame(frame, "sample", tags={"kind": "sample"})

    assert [f["name"] for f in row.files] == ["sample.parquet"]
    assert (row.format, row.rows, row.tags) == ("parquet", 50, {"kind": "sample"})
    assert store.snapshot_frame(frame.copy(), "sample").id == row.id
    pd.testing.assert_frame_equal(store.load(row.id), frame)


def test_snapshot_frame_of_an_empty_table_is_invalid_input(store: DatasetStore) -> None:
    with pytest.raises(InvalidInput, match="sample: the table has no rows"):
        store.snapshot_frame(pd.DataFrame({"a": []}), "sample")
    assert store.log() == []


def test_get_by_unique_prefix(store: DatasetStore, tmp_path: Path) -> None:
    row = store.snapshot(str(DAY))
    assert store.get(row.id[:6]).id == row.id
    with pytest.raises(NotFound, match="see `evergreen data log`"):
        store.get(row.id[:5])  # too short to be taken as a prefix
    with pytest.raises(NotFound, match="no dataset version 'ds-nothing'"):
        store.get("ds-nothing")


def test_load_of_a_tampered_blob_is_an_integrity_failure(store: DatasetStore) -> None:
    row = store.snapshot(str(DAY))
    blob = Path(store.artifacts.uri(sha256(DAY)))
    blob.write_bytes(blob.read_bytes().replace(b"2729", b"2730"))
    with pytest.raises(IntegrityFailure, match="corrupted"):
        store.load(row.id)


def test_header_only_csv_is_a_version_with_no_rows(store: DatasetStore, tmp_path: Path) -> None:
    row = store.snapshot(str(write(tmp_path / "day.csv", "a,b\n")))
    assert (row.rows, row.columns) == (0, ["a", "b"])


# -- bad input ------------------------------------------------------------------------------


def test_missing_file_is_not_found_naming_the_path(store: DatasetStore, tmp_path: Path) -> None:
    missing = tmp_path / "missing.csv"
    with pytest.raises(NotFound, match=re.escape(str(missing))):
        store.snapshot(str(missing))


@pytest.mark.parametrize(
    ("name", "data", "error", "message"),
    [
        ("day.csv", b"", InvalidInput, "the file is empty"),
        ("day.csv", b"a,b\n1,2\n3,4,5\n", InvalidInput, "malformed CSV: .*line 3"),
        ("day.csv", "city\nZ\u00fcrich\n".encode("latin-1"), InvalidInput, "not UTF-8"),
        ("day.parquet", b"", InvalidInput, "the file is empty"),
        ("day.parquet", b"not parquet", InvalidInput, "not a readable Parquet file"),
        ("day.txt", b"a,b\n1,2\n", InvalidInput, "unsupported file type"),
    ],
    ids=["empty", "too-many-fields", "not-utf8", "empty-parquet", "garbage-parquet", "txt"],
)
def test_a_bad_file_is_an_error_naming_it(
    store: DatasetStore,
    tmp_path: Path,
    name: str,
    data: bytes,
    error: type[Exception],
    message: str,
) -> None:
    path = write(tmp_path / name, data)
    with pytest.raises(error, match=f"{re.escape(str(path))}: {message}"):
        store.snapshot(str(path))
    assert store.log() == []
    assert blobs(store.artifacts) == []


@pytest.mark.parametrize(
    ("second", "message"),
    [
        (b"a,b\n3,4\n5,6,7\n", "malformed CSV"),
        ("a,b\nZ\u00fcrich,1\n".encode("latin-1"), "not UTF-8"),
        (b"", "the file is empty"),
        (b"a,c\n3,4\n", "columns .* differ"),
    ],
    ids=["malformed", "not-utf8", "empty", "other-columns"],
)
def test_a_failed_snapshot_records_nothing_and_stores_nothing(
    store: DatasetStore, tmp_path: Path, second: bytes, message: str
) -> None:
    write(tmp_path / "data" / "1-good.csv", "a,b\n1,2\n")
    bad = write(tmp_path / "data" / "2-bad.csv", second)

    with pytest.raises(InvalidInput, match=f"{re.escape(str(bad))}: {message}"):
        store.snapshot(str(tmp_path / "data"))

    assert store.log() == []
    assert blobs(store.artifacts) == []


def test_mixed_formats_are_refused(store: DatasetStore, tmp_path: Path) -> None:
    write(tmp_path / "data" / "a.csv", "a,b\n1,2\n")
    pd.DataFrame({"a": [1], "b": [2]}).to_parquet(tmp_path / "data" / "b.parquet")
    with pytest.raises(InvalidInput, match="mixes CSV and Parquet"):
        store.snapshot(str(tmp_path / "data"))
    assert blobs(store.artifacts) == []


# -- identity -------------------------------------------------------------------------------

digests = st.text("0123456789abcdef", min_size=64, max_size=64)
entries = st.lists(
    st.tuples(st.text(min_size=1, max_size=20), digests),
    min_size=1,
    max_size=6,
    unique_by=lambda entry: entry[0],
)


@settings(deadline=None)
@given(entries=entries, data=st.data())
def test_version_id_ignores_file_order(entries: list[tuple[str, str]], data: st.DataObject) -> None:
    shuffled = data.draw(st.permutations(entries))
    assert version_id(shuffled) == version_id(entries)


@settings(deadline=None)
@given(entries=entries)
def test_version_id_changes_with_any_file_hash(entries: list[tuple[str, str]]) -> None:
    name, digest = entries[0]
    flipped = "0" if digest[0] != "0" else "1"
    changed = [(name, flipped + digest[1:]), *entries[1:]]
    assert version_id(changed) != version_id(entries)
