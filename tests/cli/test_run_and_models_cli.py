"""`evergreen run`, `evergreen models ...` and `evergreen db upgrade`."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from cli.process import BIKE_PROJECT, TRAIN_ROWS, Landing, NewHome, Trained
from evergreen.store.database import Database

pytestmark = pytest.mark.slow  # every test starts `evergreen`: a fresh interpreter

MODEL = "bike-demand"


def stages(versions: list[dict[str, object]]) -> dict[object, object]:
    return {v["version"]: v["stage"] for v in versions}


def test_run_trains_registers_and_promotes_the_first_version(trained: Trained) -> None:
    result = trained.result
    assert result["status"] == "succeeded"
    assert (result["model_version"], result["promoted"], result["error"]) == (1, True, None)
    assert re.fullmatch(r"ds-[0-9a-f]{16}", result["dataset_version"])
    assert result["metrics"]["rmse"] > 0
    assert result["gate"]["passed"] is True


def test_models_list_and_show_describe_the_production_version(
    new_home: NewHome, trained: Trained
) -> None:
    home = new_home(copy_of=trained.home)

    [listed] = home.json("models", "list")
    summary = {k: listed[k] for k in ("name", "target", "versions", "latest", "production")}
    assert summary == {"name": MODEL, "target": "cnt", "versions": 1, "latest": 1, "production": 1}

    shown = home.json("models", "show", MODEL)
    assert (shown["name"], shown["target"]) == (MODEL, "cnt")
    [version] = shown["versions"]
    assert (version["version"], version["stage"]) == (1, "production")
    assert version["metrics"]["rmse"] == trained.result["metrics"]["rmse"]
    assert version["dataset_version"] == trained.result["dataset_version"]
    assert version["run_id"] == trained.result["run_id"]
    artifact = version["artifact"]
    [blob] = (home.path / "artifacts").rglob(artifact["sha256"])
    assert hashlib.sha256(blob.read_bytes()).hexdigest() == artifact["sha256"]
    assert blob.stat().st_size == artifact["size"]


def test_more_data_registers_version_2_and_promote_moves_production_back(
    new_home: NewHome, trained: Trained, landing: Landing
) -> None:
    home = new_home(copy_of=trained.home)

    second = home.json("run", "--project", BIKE_PROJECT, "--data", landing(rows=TRAIN_ROWS + 500))
    assert (second["status"], second["model_version"], second["promoted"]) == ("succeeded", 2, True)
    assert second["dataset_version"] != trained.result["dataset_version"]

    back = home.run("models", "promote", MODEL, "1", "--stage", "production")
    assert (back.returncode, back.stderr) == (0, ""), back.stderr
    assert back.stdout.strip() == f"{MODEL} version 1 is now in production"
    assert stages(home.json("models", "show", MODEL)["versions"]) == {
        1: "production",
        2: "archived",
    }


MODEL_ERRORS = {
    "unknown-version": (
        ["models", "promote", MODEL, "99", "--stage", "production"],
        3,
        f"see `evergreen models show {MODEL}`",
    ),
    "unknown-stage": (["models", "promote", MODEL, "1", "--stage", "live"], 2, "'live'"),
    "unknown-model": (["models", "show", "nope"], 3, "see `evergreen models list`"),
}


@pytest.mark.parametrize(
    ("args", "exit_code", "hint"), MODEL_ERRORS.values(), ids=MODEL_ERRORS.keys()
)
def test_models_errors_are_one_line_with_their_exit_code(
    new_home: NewHome, trained: Trained, args: list[str], exit_code: int, hint: str
) -> None:
    home = new_home(copy_of=trained.home)
    result = home.run(*args)
    assert (result.returncode, result.stdout) == (exit_code, "")
    [line] = result.stderr.splitlines()
    assert line.startswith("error: ")
    assert hint in line


def test_run_on_data_missing_a_schema_column_registers_nothing(
    new_home: NewHome, trained: Trained, landing: Landing
) -> None:
    home = new_home(copy_of=trained.home)

    result = home.run("run", "--project", BIKE_PROJECT, "--data", landing(drop=["temp"]))

    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("error: ")
    assert "data validation found 1 error(s)" in line
    assert "missing_column: column 'temp'" in line
    assert stages(home.json("models", "show", MODEL)["versions"]) == {1: "production"}


def write_project(tmp_path: Path, source: str) -> Path:
    path = tmp_path / "project.py"
    path.write_text(source)
    return path


PROJECT_ERRORS: dict[str, tuple[Callable[[Path], Path], int, str]] = {
    "missing": (lambda tmp: tmp / "missing.py", 3, "no such project file"),
    "no-project": (
        lambda tmp: write_project(tmp, "import evergreen as eg\n\nproject_name = 'bikes'\n"),
        2,
        "defines no `project = evergreen.Project(...)`",
    ),
    "syntax-error": (lambda tmp: write_project(tmp, "project = (\n"), 2, "syntax error"),
}


@pytest.mark.parametrize(
    ("make_file", "exit_code", "message"), PROJECT_ERRORS.values(), ids=PROJECT_ERRORS.keys()
)
def test_run_with_a_bad_project_file_fails_in_one_line(
    new_home: NewHome,
    landing: Landing,
    tmp_path: Path,
    make_file: Callable[[Path], Path],
    exit_code: int,
    message: str,
) -> None:
    home = new_home()
    project_file = make_file(tmp_path)

    result = home.run("run", "--project", project_file, "--data", landing())

    assert (result.returncode, result.stdout) == (exit_code, "")
    [line] = result.stderr.splitlines()
    assert line.startswith(f"error: {project_file}")
    assert message in line


def test_db_upgrade_prints_the_head_revision(
    new_home: NewHome, make_db: Callable[..., Database]
) -> None:
    home = new_home()

    result = home.run("db", "upgrade")

    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    revision = re.fullmatch(r"database at revision (\S+)\n", result.stdout)
    assert revision is not None, result.stdout
    db = make_db(f"sqlite:///{home.path / 'evergreen.db'}", migrate=False)
    assert revision[1] == db.current_revision() == db.head_revision()
