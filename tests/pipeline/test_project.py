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


# -- the drift policy -------------------------------------------------------------------------


def test_the_drift_policy_is_calibrated_by_default() -> None:
    from evergreen.pipeline.project import DriftPolicy

    spec = DriftPolicy().spec
    assert (spec.correction, spec.persistence) == ("bh", 1)
    assert spec.effect_floor("ks") == 0.1


def test_thresholds_given_for_short_go_into_the_spec() -> None:
    from evergreen.pipeline.project import DriftPolicy

    policy = DriftPolicy(p_threshold=0.001, share_threshold=0.3, window_rows=50)  # type: ignore[call-arg]
    assert (policy.spec.p_threshold, policy.spec.share_threshold) == (0.001, 0.3)
    assert policy.spec.correction == "bh"
    assert DriftPolicy.model_validate(policy.model_dump()) == policy


def test_a_policy_stored_before_calibration_keeps_its_decisions() -> None:
    from evergreen.pipeline.project import DriftPolicy

    stored = {"kind": "drift/v1", "p_threshold": 0.01, "share_threshold": 0.5, "min_rows": 10}
    spec = DriftPolicy.model_validate(stored).spec
    assert (spec.p_threshold, spec.correction, spec.min_effect) == (0.01, "none", 0.0)
