"""Listing and reading data files behind any fsspec URL (``s3://bucket/prefix/*.csv``).

Storage options (endpoint, credentials) come from the caller or, as fsspec does, from its
configuration and the environment. fsspec and backend errors become evergreen errors here.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import fsspec
from fsspec.core import url_to_fs

from evergreen.errors import InvalidInput, NotFound, Unavailable

# Listing fields that change whenever an object's bytes change, by backend (S3, GCS, Azure, HTTP).
_VERSION_KEYS = ("ETag", "etag", "md5Hash", "generation", "content_md5")


@dataclass(frozen=True)
class RemoteFile:
    url: str
    path: str
    size: int
    fingerprint: str | None = None  # the backend's ETag (or like), None when it gives none


def _fingerprint(info: dict[str, Any]) -> str | None:
    for key in _VERSION_KEYS:
        value = info.get(key)
        if value:
            # Hashed to fit the stat cache's 40-character column (multipart ETags run longer).
            return hashlib.sha256(f"{key}:{value}".encode()).hexdigest()[:40]
    return None


def _open_fs(url: str, storage_options: dict[str, Any]) -> tuple[fsspec.AbstractFileSystem, str]:
    try:
        fs, path = url_to_fs(url, **storage_options)
    except (ImportError, ValueError) as exc:
        raise InvalidInput(f"cannot open {url!r}: {exc}") from None
    return fs, str(path)


def is_url(path_or_url: str) -> bool:
    """Whether a string names a remote fsspec location rather than a local path."""
    protocol, sep, _ = path_or_url.partition("://")
    return bool(sep) and protocol.lower() not in ("file", "local") and len(protocol) > 1


def list_files(
    url: str, suffixes: tuple[str, ...], storage_options: dict[str, Any] | None = None
) -> list[RemoteFile]:
    """The data files a URL names: one file, every file under a folder, or a glob's matches."""
    fs, root = _open_fs(url, storage_options or {})
    try:
        if any(ch in root for ch in "*?["):
            found = fs.glob(root, detail=True)
        elif fs.isdir(root):
            found = fs.find(root, detail=True)
        elif fs.isfile(root):
            found = {root: fs.info(root)}
        else:
            raise NotFound(f"{url}: no such file or folder")
    except FileNotFoundError:
        raise NotFound(f"{url}: no such file, folder or bucket") from None
    except Exception as exc:  # backends raise their own kinds (botocore, aiohttp, ...)
        if isinstance(exc, NotFound):
            raise
        raise Unavailable(f"cannot list {url}: {type(exc).__name__}: {exc}") from None
    files = [
        RemoteFile(fs.unstrip_protocol(path), path, int(info.get("size") or 0), _fingerprint(info))
        for path, info in sorted(found.items())
        if info.get("type") == "file" and path.lower().endswith(suffixes)
    ]
    return files


def read(url: str, storage_options: dict[str, Any] | None = None) -> bytes:
    fs, path = _open_fs(url, storage_options or {})
    try:
        with fs.open(path, "rb") as handle:
            data: bytes = handle.read()
            return data
    except FileNotFoundError:
        raise NotFound(f"{url}: no such file") from None
    except Exception as exc:
        raise Unavailable(f"cannot read {url}: {type(exc).__name__}: {exc}") from None
