"""`evergreen data diff`, `data checkout` and `data show`, through the real executable."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cli.process import Home
from evergreen.store.database import Database
from evergreen.store.tables import PipelineRunRow
from fixtures.s3 import S3Server

pytestmark = pytest.mark.slow  # every test starts `evergreen`: a fresh interpreter


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def snapshot(home: Home, path: Path) -> str:
    result = home.run("data", "snapshot", path)
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    return result.stdout.strip()


@pytest.fixture
def two_versions(home: Home, tmp_path: Path) -> tuple[str, str]:
    write(tmp_path / "a" / "jan.csv", "day,riders\n1,10\n2,12\n")
    write(tmp_path / "a" / "feb.csv", "day,riders\n1,9\n")
    write(tmp_path / "b" / "jan.csv", "day,riders\n1,10\n2,12\n")
    write(tmp_path / "b" / "feb.csv", "day,riders\n1,9\n2,11\n")
    write(tmp_path / "b" / "mar.csv", "day,riders\n1,15\n")
    return snapshot(home, tmp_path / "a"), snapshot(home, tmp_path / "b")


def test_diff_json_and_text(home: Home, two_versions: tuple[str, str]) -> None:
    a, b = two_versions
    diff = home.json("data", "diff", a, b)
    assert (diff["a"], diff["b"], diff["rows_a"], diff["rows_b"]) == (a, b, 3, 5)
    assert diff["files_added"] == ["mar.csv"]
    assert [c["name"] for c in diff["files_changed"]] == ["feb.csv"]
    assert (diff["files_removed"], diff["files_unchanged"]) == ([], 1)
    riders = {d["column"]: d for d in diff["statistics"]}["riders"]["changes"]
    assert riders["count"] == {"a": 3.0, "b": 5.0, "delta": 2.0}
    assert riders["mean"]["a"] == pytest.approx(31 / 3)
    assert riders["mean"]["b"] == pytest.approx(57 / 5)
    assert riders["max"] == {"a": 12.0, "b": 15.0, "delta": 3.0}
    assert "min" not in riders  # 9 on both sides

    text = home.run("data", "diff", a[:10], b[:10])
    assert (text.returncode, text.stderr) == (0, "")
    assert "rows: 3 → 5 (+2)" in text.stdout
    assert "+ mar.csv" in text.stdout and "~ feb.csv (rows 1 → 2)" in text.stdout
    assert "~ statistics riders: non-null 3 → 5 (+2);" in text.stdout
    assert "max 12 → 15 (+3)" in text.stdout

    assert home.json("data", "diff", a, b, "--no-stats")["statistics"] == []


def test_diff_of_an_unknown_version_is_exit_3(home: Home, two_versions: tuple[str, str]) -> None:
    result = home.run("data", "diff", two_versions[0], "ds-0000000000000000")
    assert result.returncode == 3
    assert result.stderr.startswith("error: no dataset version 'ds-0000000000000000'")


def test_checkout_writes_the_exact_bytes_and_refuses_to_overwrite(
    home: Home, two_versions: tuple[str, str], tmp_path: Path
) -> None:
    _, b = two_versions
    out = tmp_path / "out"
    result = home.run("data", "checkout", b, out)
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    for name in ("jan.csv", "feb.csv", "mar.csv"):
        assert (out / name).read_bytes() == (tmp_path / "b" / name).read_bytes()

    write(out / "mar.csv", "edited\n")
    refused = home.run("data", "checkout", b, out)
    assert (refused.returncode, refused.stdout) == (4, "")
    assert "mar.csv" in refused.stderr and "--force" in refused.stderr
    assert (out / "mar.csv").read_text() == "edited\n"

    forced = home.run("data", "checkout", b, out, "--force")
    assert forced.returncode == 0, forced.stderr
    assert (out / "mar.csv").read_bytes() == (tmp_path / "b" / "mar.csv").read_bytes()


def test_show_prints_the_version_its_files_and_lineage(
    home: Home, two_versions: tuple[str, str], make_db: Callable[..., Database]
) -> None:
    a, _ = two_versions
    database = make_db(f"sqlite:///{home.path / 'evergreen.db'}")
    with database.session() as s:
        s.add(
            PipelineRunRow(
                id="run-1",
                project="bikes",
                status="succeeded",
                started_at=datetime(2026, 1, 1, tzinfo=UTC),
                dataset_version_id=a,
                code_version={},
                params={},
                outcome={},
            )
        )

    shown = home.json("data", "show", a)
    assert shown["id"] == a
    assert [f["name"] for f in shown["files"]] == ["feb.csv", "jan.csv"]
    assert [r["run_id"] for r in shown["lineage"]["runs"]] == ["run-1"]
    assert shown["lineage"]["model_versions"] == []

    text = home.run("data", "show", a)
    assert (text.returncode, text.stderr) == (0, "")
    assert a in text.stdout and "feb.csv" in text.stdout and "run-1" in text.stdout


def test_snapshot_of_an_s3_url_takes_storage_options_from_the_environment(
    home: Home, s3_server: S3Server, s3_bucket: str
) -> None:
    """fsspec reads ``FSSPEC_S3`` (JSON storage options) as it always does; nothing else."""
    s3_server.filesystem().pipe(f"{s3_bucket}/in/rides.csv", b"city,riders\nOslo,3\n")
    env = {**home.env, "FSSPEC_S3": json.dumps(s3_server.storage_options)}
    remote = Home(home.path, env)

    shown = remote.json("data", "snapshot", f"s3://{s3_bucket}/in/*.csv")
    assert (shown["rows"], shown["source"]) == (1, f"s3://{s3_bucket}/in/*.csv")

    missing = remote.run("data", "snapshot", f"s3://{s3_bucket}/nothing.csv")
    assert missing.returncode == 3
    assert missing.stderr.startswith("error: ") and "Traceback" not in missing.stderr
