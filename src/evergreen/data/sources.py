"""Reading tabular files (CSV, Parquet, JSON lines) with errors that name the file, the line
or the column."""

from __future__ import annotations

import glob
import io
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from evergreen.errors import InvalidInput, NotFound

if TYPE_CHECKING:  # pandas and pyarrow are imported where files are parsed, not on every import
    import pandas as pd

FORMATS = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
SUFFIXES = tuple(FORMATS)
DISPLAY = {"csv": "CSV", "parquet": "Parquet", "jsonl": "JSON lines"}


def _suffix(name: str) -> str:
    """What ``Path(name).suffix.lower()`` gives for a file's name, without making a Path."""
    dot = name.rfind(".")
    return name[dot:].lower() if 0 < dot < len(name) - 1 else ""


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
    return [Path(f) for f in list_files(path_or_glob)]


def list_files(path_or_glob: str) -> list[str]:
    """:func:`resolve_files` as strings (each ``str`` of the Path it would give), in the same
    order: cheaper for folders of many files, which are listed with :func:`os.scandir`."""
    path = Path(path_or_glob)
    if path.is_dir():
        files, suffixes = _folder_files(str(path))
    else:
        if any(ch in path_or_glob for ch in "*?["):
            found = sorted(
                Path(p) for p in glob.glob(path_or_glob, recursive=True) if Path(p).is_file()
            )
        elif path.is_file():
            found = [path]
        else:
            raise NotFound(f"{path_or_glob}: no such file or folder")
        for file in found:  # InvalidInput naming the first file of an unsupported type
            format_of(file)
        files, suffixes = [str(p) for p in found], {p.suffix.lower() for p in found}
    if not files:
        raise NotFound(f"{path_or_glob}: matches no .csv, .parquet or .jsonl file")
    formats = {FORMATS[s] for s in suffixes}
    if len(formats) > 1:
        kinds = " and ".join(DISPLAY[f] for f in sorted(formats))
        raise InvalidInput(f"{path_or_glob}: mixes {kinds} files; snapshot them apart")
    return files


def _folder_files(folder: str) -> tuple[list[str], set[str]]:
    """The data files under ``folder`` (a normalised path), as ``Path.rglob`` finds them, and
    their suffixes: subfolders are searched, but not those reached through a symbolic link; a
    link to a file counts as a file. Sorted as Paths sort (part by part)."""
    found: list[tuple[tuple[str, ...], str]] = []
    suffixes: set[str] = set()
    stack: list[tuple[str, tuple[str, ...]]] = [(folder, ())]
    while stack:
        where, parts = stack.pop()
        try:
            with os.scandir(where) as it:
                entries = list(it)
        except PermissionError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append((entry.path, (*parts, entry.name)))
                elif (suffix := _suffix(entry.name)) in FORMATS and entry.is_file():
                    found.append(((*parts, entry.name), entry.path))
                    suffixes.add(suffix)
            except OSError:
                continue
    found.sort()
    if folder == ".":  # Path(".") / "a" is "a"
        return [path.removeprefix("./") for _, path in found], suffixes
    return [path for _, path in found], suffixes


def read_bytes(data: bytes, fmt: str, name: str) -> pd.DataFrame:
    """Parse one file's bytes; ``name`` is what errors call it."""
    import pandas as pd

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
        import pyarrow as pa
        import pyarrow.parquet as pq

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
    import pandas as pd

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
