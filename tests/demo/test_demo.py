"""The main job, shortened: the real replay through gateway, monitor, controller and registry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evergreen.demo import run_demo
from evergreen.errors import InvalidInput, NotFound


def test_replay_retrains_on_drift_promotes_and_serves_the_new_version(tmp_path: Path) -> None:
    lines: list[str] = []
    summary_path = tmp_path / "demo-summary.json"
    summary = run_demo(
        home=tmp_path / "demo", summary_path=summary_path, batches=9, say=lines.append
    )

    assert json.loads(summary_path.read_text()) == summary
    assert summary["batches"] == 9 == len(summary["per_batch"])
    assert summary["trigger_events"]["manual"] == 1
    assert summary["trigger_events"].get("drift", 0) >= 1
    drift_promoted = [r for r in summary["retrains"] if r["trigger"] == "drift" and r["promoted"]]
    assert drift_promoted, summary["retrains"]
    retrain = drift_promoted[0]
    assert retrain["served_after_seconds"] >= 0
    # The promoted version then answered real requests in a later week.
    later = [b for b in summary["per_batch"] if b["batch"] > retrain["batch"]]
    assert any(retrain["version"] in b["served_versions"] for b in later)
    assert retrain["version"] in summary["versions_promoted"]
    assert summary["versions_registered"][0] == 1
    # Before the first retrain both models are the same one, so their errors are equal.
    first = summary["per_batch"][0]
    assert first["continuous"] == pytest.approx(first["frozen"])
    assert all(b["continuous"] > 0 and b["frozen"] > 0 for b in summary["per_batch"])
    assert any("drift" in line and "promoted" in line for line in lines)


def test_missing_demo_data_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="demo data not found"):
        run_demo(home=tmp_path / "d", data=tmp_path / "absent.csv")


def test_zero_batches_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="at least 1"):
        run_demo(home=tmp_path / "d", summary_path=tmp_path / "s.json", batches=0)
