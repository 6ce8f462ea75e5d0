"""Reading tabular files (CSV, Parquet, JSON lines) with errors that name the file, the line
or the column."""

from __future__ import annotations

import glob
import io
import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from evergreen.errors import InvalidInput, NotFound

FORMATS = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
SUFFIXES = tuple(FORMATS)
DISPLAY = {"csv": "CSV", "parquet": "Parquet", "jsonl": "JSON lines"}


def format_of(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    try:
        return FORMATS[suffix]
    except KeyError:
        raise InvalidInput(
            f"{path}: unsupported file type {suffix or '(none)'!r}; "
            "use .csv, .parquet, .jsonl or .ndjson"
        ) from None


def resolve_files(path_or_glob: str) -> list[Path]:
    """The files a path, folder or glob names, sorted; NotFound when it names none."""
    path = Path(path_or_glob)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in FORMATS)
    elif any(ch in path_or_glob for ch in "*?["):
        files = sorted(
            Path(p) for p in glob.glob(path_or_glob, recursive=True) if Path(p).is_file()
        )
    elif path.is_file():
        files = [path]
    else:
        raise NotFound(f"{path_or_glob}: no such file or folder")
    if not files:
        raise NotFound(f"{path_or_glob}: matches no .csv, .parquet or .jsonl file")
    formats = {format_of(f) for f in files}
    if len(formats) > 1:
        kinds = " and ".join(DISPLAY[f] for f in sorted(formats))
        raise InvalidInput(f"{path_or_glob}: mixes {kinds} files; snapshot them apart")
    return files


def read_bytes(data: bytes, fmt: str, name: str) -> pd.DataFrame:
    """Parse one file's bytes; ``name`` is what errors call it."""
    if not data.strip():
        raise InvalidInput(f"{name}: the file is empty")
    if fmt == "csv":
        try:
            frame = pd.read_csv(io.BytesIO(data), encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInput(
                f"{name}: not UTF-8 text (byte {exc.start}); re-save as UTF-8"
            ) from None
        except pd.errors.EmptyDataError:
            raise InvalidInput(f"{name}: no columns to read (empty CSV)") from None
        except pd.errors.ParserError as exc:
            raise InvalidInput(f"{name}: malformed CSV: {exc}") from None
    elif fmt == "parquet":
        try:
            frame = pq.read_table(pa.BufferReader(data)).to_pandas()
        except (pa.ArrowInvalid, OSError) as exc:
            raise InvalidInput(f"{name}: not a readable Parquet file: {exc}") from None
    elif fmt == "jsonl":
        frame = _read_jsonl(data, name)
    else:
        raise InvalidInput(f"{name}: unsupported format {fmt!r}")
    if len(frame.columns) == 0:
        raise InvalidInput(f"{name}: the file has no columns")
    if fmt == "csv" and not frame.index.equals(pd.RangeIndex(len(frame))):
        # pandas takes the first column as the index when data rows have one field more than
        # the header: every value would shift one column left.
        raise InvalidInput(
            f"{name}: malformed CSV: data rows have more fields than the header "
            f"({len(frame.columns)} names); fix the header or the rows"
        )
    if fmt == "jsonl":  # CSV columns are typed by the parser; Parquet columns by the file
        check_column_types(frame, name)
    return frame


def _read_jsonl(data: bytes, name: str) -> pd.DataFrame:
    """One JSON object per line; a bad line is named by its number."""
    records: list[dict[str, object]] = []
    for number, raw in enumerate(data.splitlines(), start=1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInput(
                f"{name}: line {number}: not UTF-8 text (byte {exc.start}); re-save as UTF-8"
            ) from None
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidInput(
                f"{name}: line {number}: not valid JSON ({exc.msg} at column {exc.colno})"
            ) from None
        if not isinstance(value, dict):
            raise InvalidInput(
                f"{name}: line {number}: expected a JSON object, found {type(value).__name__}"
            )
        records.append(value)
    return pd.DataFrame.from_records(records)


def _kind(value: object) -> str | None:
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return type(value).__name__


def check_column_types(frame: pd.DataFrame, name: str) -> None:
    """InvalidInput naming the column (and first row) where values of different types mix."""
    for column in frame.columns:
        if frame[column].dtype != object:
            continue
        first: str | None = None
        for row, value in enumerate(frame[column].tolist(), start=1):
            kind = _kind(value)
            if kind is None:
                continue
            if first is None:
                first = kind
            elif kind != first:
                raise InvalidInput(
                    f"{name}: column {column!r} mixes types ({first} and {kind}, first at "
                    f"row {row}); make every value of the column the same type"
                )


def read_file(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise NotFound(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InvalidInput(f"{path}: is a folder; name a file") from None
    return read_bytes(data, format_of(path), str(path))
