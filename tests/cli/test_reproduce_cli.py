"""`evergreen reproduce NAME VERSION`: retrain from the recorded data and split, through the
real executable, and say whether metric, predictions and artifact are identical."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli.process import BIKE_PROJECT, NewHome, Trained

pytestmark = pytest.mark.slow  # every test starts `evergreen`: a fresh interpreter


def test_a_version_reproduces_byte_for_byte(new_home: NewHome, trained: Trained) -> None:
    home = new_home(copy_of=trained.home)
    result = home.json("reproduce", "bike-demand", "1")  # the project file the run recorded
    assert result["identical"] is True and result["artifact_identical"] is True
    assert result["reproduced"] == result["recorded"] == trained.result["metrics"]["rmse"]
    assert result["dataset_version"] == trained.result["dataset_version"]
    assert result["recorded_sha256"] == result["reproduced_sha256"]
    assert result["packages_changed"] == {}

    text = home.run("reproduce", "bike-demand", "1")
    assert text.returncode == 0, text.stderr
    assert "(identical); predictions identical; artifact identical" in text.stdout


def test_other_code_does_not_reproduce_and_exits_1(
    new_home: NewHome, trained: Trained, tmp_path: Path
) -> None:
    home = new_home(copy_of=trained.home)
    changed = tmp_path / "bike_project.py"
    changed.write_text(BIKE_PROJECT.read_text().replace("max_iter=150", "max_iter=20"))
    result = home.run("reproduce", "bike-demand", "1", "--project", changed, "--json")
    assert result.returncode == 1, result.stderr
    assert '"identical": false' in result.stdout and '"artifact_identical": false' in result.stdout

    other = tmp_path / "other.py"
    other.write_text(BIKE_PROJECT.read_text().replace('name="bike-demand"', 'name="bikes"'))
    refused = home.run("reproduce", "bike-demand", "1", "--project", other)
    assert refused.returncode == 2
    assert "defines 'bikes'" in refused.stderr
