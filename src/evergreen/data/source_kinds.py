"""What a dataset can be snapshotted from: local files, fsspec URLs, SQL queries, callables."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evergreen.errors import InvalidInput
from evergreen.store.remote_files import is_url

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class FileSource:
    """A local file, a folder (searched recursively) or a glob."""

    path: str


@dataclass(frozen=True)
class UrlSource:
    """Any fsspec URL: a file, a folder or a glob (``s3://bucket/prefix/*.csv``)."""

    url: str
    storage_options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SqlSource:
    """The rows a query returns on any SQLAlchemy database URL; the query text and a
    fingerprint of the result (sha256 of its Parquet bytes) make up the version."""

    url: str
    query: str
    name: str = "query"


@dataclass(frozen=True)
class CallableSource:
    """A function returning a DataFrame; the version is the frame's content as Parquet."""

    fn: Callable[[], pd.DataFrame]
    name: str


Source = FileSource | UrlSource | SqlSource | CallableSource


def as_source(value: str | Path | Source, storage_options: dict[str, Any] | None = None) -> Source:
    """A source object for a path, glob, URL or an existing source."""
    if isinstance(value, FileSource | UrlSource | SqlSource | CallableSource):
        return value
    if isinstance(value, Path):
        return FileSource(str(value))
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"cannot snapshot {value!r}: give a path, a glob, a URL or a source")
    if is_url(value):
        return UrlSource(value, dict(storage_options or {}))
    if value.startswith("file://"):
        return FileSource(value.removeprefix("file://"))
    return FileSource(value)
