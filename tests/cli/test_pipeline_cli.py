"""`evergreen run --resume`, `--no-cache`, `evergreen runs list|show` and `evergreen pipeline
show`, through the real executable."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli.process import BIKE_PROJECT, Landing, NewHome, Trained

pytestmark = pytest.mark.slow  # every test starts `evergreen`: a fresh interpreter


def failing_project(tmp_path: Path, marker: Path) -> Path:
    """The bike project with a step that fails while ``marker`` exists."""
    path = tmp_path / "flaky_project.py"
    path.write_text(
        "import dataclasses\nimport runpy\nfrom pathlib import Path\n\nimport evergreen as eg\n\n"
        f"example = runpy.run_path({str(BIKE_PROJECT)!r})['project']\n\n\n"
        "@eg.step(after='split', outputs=['train'])\n"
        "def check_rows(train):\n"
        f"    if Path({str(marker)!r}).exists():\n"
        "        raise RuntimeError('the feature store is down')\n"
        "    return train\n\n\n"
        "project = dataclasses.replace(example, steps=[check_rows])\n"
    )
    return path


def test_a_failed_run_resumes_from_its_failed_step(
    new_home: NewHome, landing: Landing, tmp_path: Path
) -> None:
    home = new_home()
    marker = tmp_path / "down"
    marker.touch()
    project = failing_project(tmp_path, marker)
    data = landing()

    failed = home.run("run", "--project", project, "--data", data)
    assert failed.returncode == 1
    [line] = failed.stderr.splitlines()
    assert line.startswith("error: run run-")
    assert "failed in step check_rows: RuntimeError: the feature store is down" in line
    run_id = line.split()[2]
    assert f"evergreen run --resume {run_id}" in line
    assert home.json("models", "list") == []

    marker.unlink()
    resumed = home.json("run", "--resume", run_id)  # the project file the run recorded
    assert resumed["status"] == "succeeded", resumed["error"]
    assert resumed["resumed_from"] == run_id
    assert resumed["cached_steps"] == ["validate", "prepare", "split"]
    assert resumed["model_version"] == 1

    shown = home.json("runs", "show", resumed["run_id"])
    statuses = {s["name"]: s["status"] for s in shown["steps"]}
    assert statuses["split"] == "cached" and statuses["check_rows"] == "succeeded"
    assert shown["resumed_from"] == run_id
    listed = home.json("runs", "list")
    assert [r["id"] for r in listed] == [resumed["run_id"], run_id]
    assert [r["status"] for r in listed] == ["succeeded", "failed"]

    again = home.run("run", "--resume", resumed["run_id"])
    assert again.returncode == 4
    assert again.stderr.strip().endswith("succeeded; there is nothing to resume")


def test_rerun_reuses_and_no_cache_retrains(new_home: NewHome, trained: Trained) -> None:
    home = new_home(copy_of=trained.home)
    data = trained.data
    rerun = home.json("run", "--project", BIKE_PROJECT, "--data", data)
    assert rerun["status"] == "succeeded"
    assert "train" in rerun["cached_steps"]
    assert rerun["model_version"] == 1  # nothing new to register
    fresh = home.json("run", "--project", BIKE_PROJECT, "--data", data, "--no-cache")
    assert fresh["cached_steps"] == [] and fresh["model_version"] == 2


def test_pipeline_show_draws_the_graph(new_home: NewHome, tmp_path: Path) -> None:
    home = new_home()
    project = failing_project(tmp_path, tmp_path / "absent")
    text = home.run("pipeline", "show", "--project", project)
    assert text.returncode == 0, text.stderr
    assert "check_rows (project)" in text.stdout
    assert "reads:  train ← split" in text.stdout
    mermaid = home.run("pipeline", "show", "--project", project, "--format", "mermaid")
    assert "check_rows -->|train| train" in mermaid.stdout
    bad = home.run("pipeline", "show", "--project", project, "--format", "svg")
    assert bad.returncode == 2 and "--format must be text or mermaid" in bad.stderr


def test_the_search_example_runs_its_trials_on_the_process_pool(
    new_home: NewHome, landing: Landing
) -> None:
    """The example with two candidates: 12 trials on the default executor (a process pool), a
    progress line per finished trial, the winner registered with how it was chosen."""
    home = new_home()
    project = BIKE_PROJECT.with_name("bike_search_project.py")
    done = home.run("run", "--project", project, "--data", landing(rows=1500), timeout=300)
    assert done.returncode == 0, done.stderr
    trials = [line for line in done.stdout.splitlines() if line.startswith("  trial ")]
    assert len(trials) == 12 and trials[-1].startswith("  trial 12/12 ")
    assert "train: best " in done.stdout
    [version] = home.json("models", "show", "bike-demand-search")["versions"]
    assert version["tags"]["candidate"] in ("boosting", "forest")
    assert version["signature"]["inputs"][-1]["name"] == "rush"  # the project's own step
    assert version["exports"]["onnx"].get("sha256") or version["exports"]["onnx"]["reason"]
