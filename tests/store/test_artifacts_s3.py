"""The artifact store's contract on every backend: a local folder and S3 (moto on loopback)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from evergreen.errors import IntegrityFailure, NotFound
from evergreen.store.artifacts import ArtifactStore

ABSENT = "f" * 64


def test_put_and_get_bytes_round_trip(any_artifacts: ArtifactStore) -> None:
    data = b"evergreen model bytes\x00\xff"
    ref = any_artifacts.put_bytes(data)
    assert ref.sha256 == hashlib.sha256(data).hexdigest()
    assert ref.size == len(data)
    assert any_artifacts.exists(ref.sha256)
    assert any_artifacts.get_bytes(ref.sha256) == data


def test_put_file_and_get_file_round_trip(any_artifacts: ArtifactStore, tmp_path: Path) -> None:
    source = tmp_path / "model.bin"
    source.write_bytes(bytes(range(256)) * 1000)
    ref = any_artifacts.put_file(source)
    again = any_artifacts.put_file(source, sha256=ref.sha256)
    assert again == ref
    target = any_artifacts.get_file(ref.sha256, tmp_path / "out" / "model.bin")
    assert target.read_bytes() == source.read_bytes()


def test_the_uri_names_the_backend(any_artifacts: ArtifactStore) -> None:
    ref = any_artifacts.put_bytes(b"x")
    expected = "s3://" if any_artifacts.url.startswith("s3://") else "/"
    assert ref.uri.startswith(expected)
    assert ref.uri.endswith(ref.sha256)


def test_absent_blob_is_not_found(any_artifacts: ArtifactStore, tmp_path: Path) -> None:
    assert not any_artifacts.exists(ABSENT)
    with pytest.raises(NotFound, match=ABSENT):
        any_artifacts.get_bytes(ABSENT)
    with pytest.raises(NotFound, match=ABSENT):
        any_artifacts.get_file(ABSENT, tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_tampered_blob_is_an_integrity_failure(any_artifacts: ArtifactStore) -> None:
    ref = any_artifacts.put_bytes(b"the real bytes")
    path = f"{any_artifacts.root}/sha256/{ref.sha256[:2]}/{ref.sha256}"
    with any_artifacts.fs.open(path, "wb") as handle:
        handle.write(b"the fake bytes")
    any_artifacts.fs.invalidate_cache()
    with pytest.raises(IntegrityFailure, match="corrupted"):
        any_artifacts.get_bytes(ref.sha256)
    any_artifacts.put_bytes(b"the real bytes")  # a put of the same bytes repairs it
    assert any_artifacts.get_bytes(ref.sha256) == b"the real bytes"
