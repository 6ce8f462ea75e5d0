"""Reading tabular files: formats, file resolution and errors that name the file."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from evergreen.data.sources import format_of, read_bytes, read_file, resolve_files
from evergreen.errors import InvalidInput, NotFound

DAY = Path(__file__).resolve().parents[2] / "examples" / "data" / "bike_sharing_day.csv"


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("name", "expected"),
    [("day.csv", "csv"), ("DAY.CSV", "csv"), ("day.parquet", "parquet"), ("day.pq", "parquet")],
    ids=["csv", "upper-case", "parquet", "pq"],
)
def test_format_of_known_suffixes(name: str, expected: str) -> None:
    assert format_of(name) == expected


@pytest.mark.parametrize("name", ["day.txt", "day.csv.gz", "day"], ids=["txt", "gz", "none"])
def test_format_of_unknown_suffix_is_invalid_input(name: str) -> None:
    with pytest.raises(InvalidInput, match=rf"{re.escape(name)}: unsupported file type"):
        format_of(name)


def test_resolve_a_single_file() -> None:
    assert resolve_files(str(DAY)) == [DAY]


def test_resolve_a_folder_recursively_sorted_ignoring_other_files(tmp_path: Path) -> None:
    for name in ["b.csv", "a.csv", "sub/c.csv", "notes.txt", "sub/README.md"]:
        write(tmp_path / name, "x\n1\n")
    expected = [tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "sub" / "c.csv"]
    assert resolve_files(str(tmp_path)) == expected


def test_resolve_a_glob(tmp_path: Path) -> None:
    for name in ["2012.csv", "2011.csv", "other.parquet"]:
        write(tmp_path / name, "x\n1\n")
    assert resolve_files(str(tmp_path / "*.csv")) == [tmp_path / "2011.csv", tmp_path / "2012.csv"]


def test_resolve_a_missing_path_is_not_found(tmp_path: Path) -> None:
    missing = tmp_path / "missing.csv"
    with pytest.raises(NotFound, match=rf"{re.escape(str(missing))}: no such file or folder"):
        resolve_files(str(missing))


@pytest.mark.parametrize("pattern", ["*.csv", "empty"], ids=["glob", "folder"])
def test_resolve_matching_no_data_file_is_not_found(tmp_path: Path, pattern: str) -> None:
    write(tmp_path / "notes.txt", "hello")
    (tmp_path / "empty").mkdir()
    with pytest.raises(NotFound, match=r"matches no \.csv, \.parquet or \.jsonl file"):
        resolve_files(str(tmp_path / pattern))


def test_resolve_mixed_formats_is_invalid_input(tmp_path: Path) -> None:
    write(tmp_path / "a.csv", "x\n1\n")
    pd.DataFrame({"x": [1]}).to_parquet(tmp_path / "b.parquet")
    with pytest.raises(InvalidInput, match="mixes CSV and Parquet"):
        resolve_files(str(tmp_path))


def test_resolve_a_glob_with_an_unsupported_file_is_invalid_input(tmp_path: Path) -> None:
    write(tmp_path / "a.csv", "x\n1\n")
    write(tmp_path / "a.txt", "x\n1\n")
    with pytest.raises(InvalidInput, match=r"unsupported file type '\.txt'"):
        resolve_files(str(tmp_path / "a.*"))


def test_read_csv_matches_pandas() -> None:
    pd.testing.assert_frame_equal(read_file(DAY), pd.read_csv(DAY))


def test_read_parquet_matches_pandas(tmp_path: Path) -> None:
    frame = pd.read_csv(DAY)
    frame.to_parquet(tmp_path / "day.parquet", index=False)
    pd.testing.assert_frame_equal(read_file(tmp_path / "day.parquet"), frame)


@pytest.mark.parametrize(
    ("data", "fmt", "message"),
    [
        (b"", "csv", "the file is empty"),
        (b"  \n\r\n", "csv", "the file is empty"),
        (b"a,b\n1,2\n3,4,5\n", "csv", "malformed CSV: .*Expected 2 fields in line 3, saw 3"),
        (b'a,b\n"1,2\n', "csv", "malformed CSV"),
        ("city\nZ\u00fcrich\n".encode("latin-1"), "csv", "not UTF-8 text .*re-save as UTF-8"),
        (b"", "parquet", "the file is empty"),
        (b"PAR1 not really parquet", "parquet", "not a readable Parquet file"),
        (b"a,b\n1,2\n", "json", "unsupported format 'json'"),
    ],
    ids=[
        "empty",
        "blank-lines",
        "too-many-fields",
        "unclosed-quote",
        "latin-1",
        "empty-parquet",
        "garbage-parquet",
        "unknown-format",
    ],
)
def test_bad_bytes_are_invalid_input_naming_the_file(data: bytes, fmt: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=f"^data/day.{fmt}: {message}"):
        read_bytes(data, fmt, f"data/day.{fmt}")


def test_extra_field_in_the_first_row_is_invalid_input() -> None:
    with pytest.raises(InvalidInput, match=r"day\.csv: malformed CSV"):
        read_bytes(b"a,b\n1,2,3\n4,5\n", "csv", "day.csv")


def test_header_only_csv_reads_as_no_rows() -> None:
    frame = read_bytes(b"a,b\n", "csv", "day.csv")
    assert list(frame.columns) == ["a", "b"]
    assert len(frame) == 0


def test_utf8_with_bom_reads_clean_column_names() -> None:
    frame = read_bytes("\ufeffcity,n\nZ\u00fcrich,1\n".encode(), "csv", "day.csv")
    assert list(frame.columns) == ["city", "n"]
    assert frame["city"].tolist() == ["Z\u00fcrich"]


def test_read_file_of_a_missing_path_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match=rf"{re.escape(str(tmp_path / 'nope.csv'))}: no such file"):
        read_file(tmp_path / "nope.csv")


def test_read_file_of_a_folder_is_invalid_input(tmp_path: Path) -> None:
    (tmp_path / "day.csv").mkdir()
    with pytest.raises(InvalidInput, match="is a folder; name a file"):
        read_file(tmp_path / "day.csv")
