"""`evergreen data snapshot` and `evergreen data log`."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from cli.process import TRAIN_ROWS, Landing, NewHome
from evergreen.store.database import Database
from evergreen.store.datasets import DatasetRepository

pytestmark = pytest.mark.slow  # every test starts `evergreen`: a fresh interpreter

DATASET_ID = re.compile(r"ds-[0-9a-f]{16}")


def test_snapshot_prints_the_same_id_for_the_same_file(new_home: NewHome, landing: Landing) -> None:
    home = new_home()
    file = landing() / "hour.csv"

    first = home.run("data", "snapshot", file)
    assert (first.returncode, first.stderr) == (0, ""), first.stderr
    dataset_id = first.stdout.strip()
    assert DATASET_ID.fullmatch(dataset_id), first.stdout

    again = home.json("data", "snapshot", file)
    assert again["id"] == dataset_id
    assert again["rows"] == TRAIN_ROWS
    assert again["columns"] == file.read_text().splitlines()[0].split(",")
    data = file.read_bytes()
    assert again["files"] == [
        {
            "name": "hour.csv",
            "sha256": hashlib.sha256(data).hexdigest(),
            "size": len(data),
            "rows": TRAIN_ROWS,
        }
    ]
    assert [version["id"] for version in home.json("data", "log")] == [dataset_id]


def test_snapshot_of_a_missing_file_fails_with_exit_3_and_records_nothing(
    new_home: NewHome, tmp_path: Path
) -> None:
    home = new_home()
    missing = tmp_path / "batch.csv"

    result = home.run("data", "snapshot", missing)

    assert (result.returncode, result.stdout) == (3, "")
    [line] = result.stderr.splitlines()
    assert line.startswith("error: ")
    assert str(missing) in line
    assert home.json("data", "log") == []


BAD_FILES = {
    "empty": b"",
    "too-many-fields": b"station,rentals\nDupont Circle,3\nUnion Station,4,5\n",
    "not-utf8": "station,rentals\nDupont Circle,3\nMünchen,4\n".encode("latin-1"),
}


@pytest.mark.parametrize("content", BAD_FILES.values(), ids=BAD_FILES.keys())
def test_snapshot_of_a_bad_file_fails_with_exit_2_and_records_nothing(
    new_home: NewHome, make_db: Callable[..., Database], tmp_path: Path, content: bytes
) -> None:
    home = new_home()
    file = tmp_path / "batch.csv"
    file.write_bytes(content)

    result = home.run("data", "snapshot", file)

    assert (result.returncode, result.stdout) == (2, "")
    [line] = result.stderr.splitlines()
    assert line.startswith("error: ")
    assert str(file) in line
    # Read the home directly: one `evergreen data log` costs seconds (see the test above).
    database = make_db(f"sqlite:///{home.path / 'evergreen.db'}")
    assert DatasetRepository(database).list(10) == []
    assert [p for p in (home.path / "artifacts").rglob("*") if p.is_file()] == []
