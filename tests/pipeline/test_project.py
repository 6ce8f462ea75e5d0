from __future__ import annotations

from pathlib import Path

import pytest

import evergreen as eg
from evergreen.errors import InvalidInput, NotFound
from evergreen.pipeline.project import load_project


def test_load_example_project_resolves_paths_against_its_folder() -> None:
    project = load_project(Path("examples/bike_project.py"))
    assert project.name == "bike-demand"
    assert project.metric_name == "rmse"
    assert project.source_path() == str(Path("examples").resolve() / "data" / "landing")


@pytest.mark.parametrize(
    ("text", "error", "words"),
    [
        ("x = 1\n", InvalidInput, "defines no `project"),
        ("project = (\n", InvalidInput, "syntax error"),
    ],
    ids=["no-project", "syntax-error"],
)
def test_bad_project_files(tmp_path: Path, text: str, error: type[Exception], words: str) -> None:
    file = tmp_path / "p.py"
    file.write_text(text)
    with pytest.raises(error, match=words):
        load_project(file)


def test_missing_project_file(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="no such project file"):
        load_project(tmp_path / "absent.py")


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"name": "bad name!"}, "invalid project name"),
        ({"task": "ranking"}, "task must be"),
        ({"metric": "accuracy"}, "is for classification"),
        ({"metric": "nope"}, "unknown metric"),
        ({"automation": 5}, "automation level"),
    ],
    ids=["name", "task", "metric-task", "metric", "automation"],
)
def test_project_rejects_bad_settings(kwargs: dict[str, object], words: str) -> None:
    base: dict[str, object] = {"name": "p", "source": "x.csv", "target": "y"}
    with pytest.raises(InvalidInput, match=words):
        eg.Project(**{**base, **kwargs})  # type: ignore[arg-type]
