"""Reading tabular files (CSV, Parquet) with errors that name the file and the line."""

from __future__ import annotations

import glob
import io
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from evergreen.errors import InvalidInput, NotFound

FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def format_of(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    try:
        return FORMATS[suffix]
    except KeyError:
        raise InvalidInput(
            f"{path}: unsupported file type {suffix or '(none)'!r}; use .csv or .parquet"
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
        raise NotFound(f"{path_or_glob}: matches no .csv or .parquet file")
    formats = {format_of(f) for f in files}
    if len(formats) > 1:
        raise InvalidInput(f"{path_or_glob}: mixes CSV and Parquet files; snapshot them apart")
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
    return frame


def read_file(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise NotFound(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InvalidInput(f"{path}: is a folder; name a file") from None
    return read_bytes(data, format_of(path), str(path))
