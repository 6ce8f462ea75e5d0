"""The content-addressed artifact store (local filesystem)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from evergreen.errors import IntegrityFailure, InvalidInput, NotFound
from evergreen.store.artifacts import CHUNK, ArtifactStore, sha256_file

ABSENT = "f" * 64


def blobs(store: ArtifactStore) -> list[Path]:
    """Every file under the store's root (blobs and any leftovers)."""
    return sorted(p for p in Path(store.root).rglob("*") if p.is_file())


def tamper(path: str | Path) -> None:
    """Flip one byte in the middle of a stored blob."""
    data = bytearray(Path(path).read_bytes())
    data[len(data) // 2] ^= 0xFF
    Path(path).write_bytes(bytes(data))


def test_put_and_get_bytes_round_trip(artifacts: ArtifactStore) -> None:
    data = b"evergreen model bytes\x00\xff"
    ref = artifacts.put_bytes(data)

    assert ref.sha256 == hashlib.sha256(data).hexdigest()
    assert ref.size == len(data)
    assert artifacts.exists(ref.sha256)
    assert artifacts.get_bytes(ref.sha256) == data
    assert Path(ref.uri) == Path(artifacts.root) / "sha256" / ref.sha256[:2] / ref.sha256
    assert Path(ref.uri).read_bytes() == data


def test_empty_blob_round_trips(artifacts: ArtifactStore) -> None:
    ref = artifacts.put_bytes(b"")
    assert (ref.sha256, ref.size) == (hashlib.sha256(b"").hexdigest(), 0)
    assert artifacts.get_bytes(ref.sha256) == b""


def test_same_bytes_are_stored_once(artifacts: ArtifactStore, tmp_path: Path) -> None:
    source = tmp_path / "model.bin"
    source.write_bytes(b"same bytes")

    refs = [artifacts.put_bytes(b"same bytes"), artifacts.put_bytes(b"same bytes")]
    refs.append(artifacts.put_file(source))

    assert len({ref.sha256 for ref in refs}) == 1
    assert len({ref.uri for ref in refs}) == 1
    assert blobs(artifacts) == [Path(refs[0].uri)]


def test_different_bytes_get_different_keys(artifacts: ArtifactStore) -> None:
    first, second = artifacts.put_bytes(b"a"), artifacts.put_bytes(b"b")
    assert first.sha256 != second.sha256
    assert len(blobs(artifacts)) == 2


def test_put_file_streams_a_file_larger_than_a_chunk(
    artifacts: ArtifactStore, tmp_path: Path
) -> None:
    source = tmp_path / "big.bin"
    data = os.urandom(2 * CHUNK + 12345)
    source.write_bytes(data)
    expected = hashlib.sha256(data).hexdigest()

    ref = artifacts.put_file(source)

    assert (ref.sha256, ref.size) == (expected, len(data))
    assert sha256_file(source) == (expected, len(data))
    target = artifacts.get_file(ref.sha256, tmp_path / "out" / "big.bin")
    assert target.read_bytes() == data
    assert artifacts.get_bytes(ref.sha256) == data
    assert blobs(artifacts) == [Path(ref.uri)]


def test_put_file_with_a_known_digest_skips_hashing(
    artifacts: ArtifactStore, tmp_path: Path
) -> None:
    source = tmp_path / "data.csv"
    source.write_bytes(b"a,b\n1,2\n")
    sha256, size = sha256_file(source)
    ref = artifacts.put_file(source, sha256=sha256)
    assert (ref.sha256, ref.size) == (sha256, size)
    assert artifacts.get_bytes(sha256) == b"a,b\n1,2\n"


def test_get_file_writes_the_blob_to_a_new_folder(artifacts: ArtifactStore, tmp_path: Path) -> None:
    ref = artifacts.put_bytes(b"payload")
    target = artifacts.get_file(ref.sha256, tmp_path / "a" / "b" / "payload.bin")
    assert target == tmp_path / "a" / "b" / "payload.bin"
    assert target.read_bytes() == b"payload"
    assert sorted(p.name for p in target.parent.iterdir()) == ["payload.bin"]


def test_tampered_blob_fails_get_bytes(artifacts: ArtifactStore) -> None:
    ref = artifacts.put_bytes(b"a trained model" * 100)
    tamper(ref.uri)
    with pytest.raises(IntegrityFailure, match=f"artifact {ref.sha256} .* is corrupted"):
        artifacts.get_bytes(ref.sha256)


def test_tampered_blob_fails_get_file_and_leaves_no_file(
    artifacts: ArtifactStore, tmp_path: Path
) -> None:
    ref = artifacts.put_bytes(os.urandom(CHUNK + 1))
    tamper(ref.uri)
    out = tmp_path / "out"
    out.mkdir()

    with pytest.raises(IntegrityFailure, match="corrupted"):
        artifacts.get_file(ref.sha256, out / "model.bin")

    assert list(out.iterdir()) == []


def test_tampered_blob_does_not_replace_an_existing_target(
    artifacts: ArtifactStore, tmp_path: Path
) -> None:
    ref = artifacts.put_bytes(b"new model")
    tamper(ref.uri)
    target = tmp_path / "model.bin"
    target.write_bytes(b"previous model")

    with pytest.raises(IntegrityFailure):
        artifacts.get_file(ref.sha256, target)

    assert target.read_bytes() == b"previous model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["artifacts", "model.bin"]


def test_truncated_blob_is_an_integrity_failure(artifacts: ArtifactStore) -> None:
    ref = artifacts.put_bytes(b"0123456789")
    Path(ref.uri).write_bytes(b"01234")
    with pytest.raises(IntegrityFailure):
        artifacts.get_bytes(ref.sha256)


def test_putting_the_bytes_again_repairs_a_corrupted_blob(artifacts: ArtifactStore) -> None:
    data = b"a trained model" * 100
    ref = artifacts.put_bytes(data)
    tamper(ref.uri)

    artifacts.put_bytes(data)

    assert artifacts.get_bytes(ref.sha256) == data


def test_absent_blob_is_not_found(artifacts: ArtifactStore, tmp_path: Path) -> None:
    assert not artifacts.exists(ABSENT)
    with pytest.raises(NotFound, match=f"artifact {ABSENT} is not in the store"):
        artifacts.get_bytes(ABSENT)
    out = tmp_path / "out"
    with pytest.raises(NotFound):
        artifacts.get_file(ABSENT, out / "model.bin")
    assert list(out.glob("*")) == []


@pytest.mark.parametrize(
    "digest",
    ["", "abc", "F" * 64, "g" * 64, "0" * 63, "0" * 65, "../" + "0" * 61],
    ids=["empty", "short", "uppercase", "not-hex", "63-chars", "65-chars", "path"],
)
def test_invalid_digest_is_invalid_input(
    artifacts: ArtifactStore, tmp_path: Path, digest: str
) -> None:
    with pytest.raises(InvalidInput, match="not a sha256 digest"):
        artifacts.get_bytes(digest)
    with pytest.raises(InvalidInput, match="not a sha256 digest"):
        artifacts.exists(digest)
    with pytest.raises(InvalidInput, match="not a sha256 digest"):
        artifacts.get_file(digest, tmp_path / "out" / "x.bin")
    assert list((tmp_path / "out").glob("*")) == []


def test_store_reopened_on_the_same_folder_sees_its_blobs(tmp_path: Path) -> None:
    ref = ArtifactStore(str(tmp_path / "store")).put_bytes(b"kept")
    assert ArtifactStore(str(tmp_path / "store") + "/").get_bytes(ref.sha256) == b"kept"


def test_file_url_is_a_local_store(tmp_path: Path) -> None:
    store = ArtifactStore(f"file://{tmp_path / 'store'}")
    ref = store.put_bytes(b"via file url")
    assert Path(ref.uri).is_file()
    assert store.get_bytes(ref.sha256) == b"via file url"


def test_unknown_protocol_is_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="cannot open artifact store"):
        ArtifactStore("nosuchprotocol://bucket/artifacts")
