"""Content-addressed artifact store over any fsspec filesystem.

Blobs are keyed by their sha256 (``sha256/ab/abcdef...``): the same bytes are stored once, and
every read verifies the checksum, so a corrupted or tampered blob is an error, never a silent load.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import fsspec
from fsspec.core import url_to_fs

from evergreen.errors import IntegrityFailure, InvalidInput, NotFound, Unavailable

CHUNK = 8 * 1024 * 1024


@dataclass(frozen=True)
class BlobRef:
    """Where a blob lives and how to check it."""

    sha256: str
    size: int
    uri: str


def sha256_file(path: str | os.PathLike[str]) -> tuple[str, int]:
    """The sha256 and size of a local file, streamed in large chunks."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _check_sha(sha256: str) -> str:
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise InvalidInput(f"not a sha256 digest: {sha256!r}")
    return sha256


class ArtifactStore:
    """Bytes in, bytes out, addressed by content."""

    def __init__(self, url: str, **storage_options: Any) -> None:
        self.url = url.rstrip("/")
        self.storage_options = storage_options  # to open the same store in another process
        try:
            fs, root = url_to_fs(self.url, **storage_options)
        except (ImportError, ValueError) as exc:
            raise InvalidInput(f"cannot open artifact store {url!r}: {exc}") from None
        self.fs: fsspec.AbstractFileSystem = fs
        self.root = root.rstrip("/")
        self._local = "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,))
        if self._local:
            Path(self.root).mkdir(parents=True, exist_ok=True)

    def _path(self, sha256: str) -> str:
        return f"{self.root}/sha256/{sha256[:2]}/{sha256}"

    def uri(self, sha256: str) -> str:
        path = self._path(sha256)
        return path if self._local else self.fs.unstrip_protocol(path)

    def exists(self, sha256: str) -> bool:
        return bool(self.fs.exists(self._path(_check_sha(sha256))))

    def put_bytes(self, data: bytes | memoryview) -> BlobRef:
        sha256 = hashlib.sha256(data).hexdigest()
        path = self._path(sha256)
        if not self._intact(path, sha256, len(data), verify_hash=True):
            self._write_atomically(path, lambda handle: handle.write(data))
        return BlobRef(sha256, len(data), self.uri(sha256))

    def put_file(self, source: str | os.PathLike[str], sha256: str | None = None) -> BlobRef:
        """Store a local file; pass its sha256 when already known to skip hashing it again."""
        if sha256 is None:
            sha256, size = sha256_file(source)
        else:
            size = os.path.getsize(source)
        path = self._path(sha256)
        if not self._intact(path, sha256, size, verify_hash=False):

            def copy(handle: BinaryIO) -> None:
                with open(source, "rb") as src:
                    while chunk := src.read(CHUNK):
                        handle.write(chunk)

            self._write_atomically(path, copy)
        return BlobRef(sha256, size, self.uri(sha256))

    def staging_path(self) -> Path | None:
        """A fresh path for a blob about to be written by the caller (a local store only: the
        path is on the store's filesystem, so :meth:`commit_staged` is a rename); ``None`` for a
        remote store, whose blobs go through :meth:`put_file`."""
        if not self._local:
            return None
        staging = Path(self.root) / "staging"
        staging.mkdir(parents=True, exist_ok=True)
        return staging / f".tmp-{uuid.uuid4().hex}"

    def commit_staged(self, staged: Path, sha256: str, size: int) -> BlobRef:
        """Move a staged file whose sha256 and size the caller computed into place (or drop it
        when an intact blob with that content is already stored)."""
        path = self._path(_check_sha(sha256))
        try:
            if self._intact(path, sha256, size, verify_hash=False):
                staged.unlink(missing_ok=True)
            else:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                os.replace(staged, path)
        except OSError as exc:
            raise Unavailable(f"cannot write to artifact store {self.url}: {exc}") from None
        return BlobRef(sha256, size, self.uri(sha256))

    def _intact(self, path: str, sha256: str, size: int, *, verify_hash: bool) -> bool:
        """Whether a stored blob can be kept as is: it exists with the right size (and, when
        asked, the right hash). A damaged blob is rewritten by the next put of its bytes."""
        try:
            if self.fs.size(path) != size:
                return False
        except FileNotFoundError:
            return False
        if not verify_hash:
            return True
        with self.fs.open(path, "rb") as handle:
            digest = hashlib.sha256()
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
        return digest.hexdigest() == sha256

    def _write_atomically(self, path: str, write: Any) -> None:
        parent = path.rsplit("/", 1)[0]
        tmp = f"{parent}/.tmp-{uuid.uuid4().hex}"
        try:
            if self._local:
                Path(parent).mkdir(parents=True, exist_ok=True)
            with self.fs.open(tmp, "wb") as handle:
                write(handle)
            self.fs.mv(tmp, path)
        except OSError as exc:
            raise Unavailable(f"cannot write to artifact store {self.url}: {exc}") from None

    def get_bytes(self, sha256: str) -> bytes:
        """The blob's bytes, after checking they still hash to ``sha256``."""
        path = self._path(_check_sha(sha256))
        try:
            with self.fs.open(path, "rb") as handle:
                data: bytes = handle.read()
        except FileNotFoundError:
            raise NotFound(f"artifact {sha256} is not in the store {self.url}") from None
        except OSError as exc:
            raise Unavailable(f"cannot read artifact {sha256} from {self.url}: {exc}") from None
        actual = hashlib.sha256(data).hexdigest()
        if actual != sha256:
            raise IntegrityFailure(
                f"artifact {sha256} in {self.url} is corrupted (its bytes hash to {actual}); "
                "restore it from a backup or re-register the model"
            )
        return data

    def get_file(self, sha256: str, destination: str | os.PathLike[str]) -> Path:
        """Copy a blob to a local path, verifying it; the file appears only once verified."""
        target = Path(destination)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
        digest = hashlib.sha256()
        try:
            with self.fs.open(self._path(_check_sha(sha256)), "rb") as src, open(tmp, "wb") as out:
                while chunk := src.read(CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
        except FileNotFoundError:
            tmp.unlink(missing_ok=True)
            raise NotFound(f"artifact {sha256} is not in the store {self.url}") from None
        if digest.hexdigest() != sha256:
            tmp.unlink(missing_ok=True)
            raise IntegrityFailure(
                f"artifact {sha256} in {self.url} is corrupted (its bytes hash to "
                f"{digest.hexdigest()})"
            )
        tmp.replace(target)
        return target
