"""Governance from the CLI: approvers, evidence, refused and forced promotions, aliases, the
audit export and lineage, through the real `evergreen` executable."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from pathlib import Path

import pytest

from cli.process import BIKE_PROJECT, TRAIN_ROWS, Home, Landing, NewHome, Trained

pytestmark = pytest.mark.slow  # every test starts `evergreen`: a fresh interpreter

MODEL = "bike-demand"


def as_(home: Home, actor: str) -> Home:
    return replace(home, env={**home.env, "EVERGREEN_ACTOR": actor})


def test_approvals_gate_production_and_overrides_are_recorded(
    new_home: NewHome, trained: Trained, landing: Landing
) -> None:
    home = as_(new_home(copy_of=trained.home), "carol")
    configured = home.run(
        "models", "configure", MODEL, "--approver", "alice", "--approver", "bob",
        "--required-approvals", "1", "--owner", "team-mobility",
    )  # fmt: skip
    assert configured.returncode == 0, configured.stderr
    assert "approvers alice, bob; 1 approval(s) required" in configured.stdout

    # The pipeline registers version 2 but cannot promote it before someone approves.
    second = home.json("run", "--project", BIKE_PROJECT, "--data", landing(rows=TRAIN_ROWS + 500))
    assert (second["status"], second["model_version"], second["promoted"]) == (
        "succeeded",
        2,
        False,
    )
    evidence = home.json("models", "evidence", MODEL, "2")
    assert evidence["gate_passed"] and evidence["validation_passed"]
    assert evidence["missing"] == ["needs 1 more approval(s) from alice, bob"]

    refused = home.run("models", "promote", MODEL, "2", "--stage", "production")
    assert refused.returncode == 4 and refused.stdout == ""
    [line] = refused.stderr.splitlines()
    assert "cannot promote bike-demand:2 to production: needs 1 more approval" in line

    outsider = as_(home, "mallory").run("models", "approve", MODEL, "2")
    assert outsider.returncode == 4 and "'mallory' is not an approver" in outsider.stderr
    approved = as_(home, "alice").run("models", "approve", MODEL, "2", "--comment", "looks good")
    assert approved.returncode == 0, approved.stderr
    promoted = home.run("models", "promote", MODEL, "2", "--stage", "production")
    assert promoted.returncode == 0, promoted.stderr

    # Back to version 1, which has no approval: only as a recorded override with a reason.
    no_reason = home.run("models", "promote", MODEL, "1", "--stage", "production", "--force")
    assert no_reason.returncode == 2 and "needs a reason" in no_reason.stderr
    forced = home.run(
        "models", "promote", MODEL, "1", "--stage", "production", "--force", "--reason", "rollback"
    )
    assert forced.returncode == 0, forced.stderr

    exported = home.run("models", "audit", MODEL, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    actions = [(r["actor"], r["action"], r["subject"]) for r in rows]
    assert all(r["id"].startswith("audit") for r in rows)
    assert ("carol", "configure", MODEL) in actions
    assert ("alice", "approve", f"{MODEL}:2") in actions
    override = [r for r in rows if r["action"] == "transition" and r["subject"] == f"{MODEL}:1"]
    details = json.loads(override[-1]["details"])
    assert (override[-1]["actor"], override[-1]["reason"]) == ("carol", "rollback")
    assert details["override"] is True
    assert details["evidence"]["missing"] == ["needs 1 more approval(s) from alice, bob"]
    as_json = json.loads(home.run("models", "audit", MODEL, "--format", "json").stdout)
    assert [(e["id"], e["action"]) for e in as_json] == [(r["id"], r["action"]) for r in rows]


def test_aliases_and_lineage(new_home: NewHome, trained: Trained) -> None:
    home = new_home(copy_of=trained.home)
    assert home.run("models", "alias", MODEL, "champion", "1").returncode == 0
    lineage = home.json("models", "lineage", MODEL, "1")
    assert lineage["run"]["id"] == trained.result["run_id"]
    steps = [s["name"] for s in lineage["run"]["steps"]]
    assert steps[0] == "ingest" and {"validate", "train", "register"} <= set(steps)
    assert lineage["dataset"]["id"] == trained.result["dataset_version"]
    assert lineage["validation"]["passed"] is True
    assert lineage["trigger"]["kind"] == "manual"
    assert "git_commit" in lineage["code_version"]

    text = home.run("models", "lineage", MODEL, "1")
    assert f"run {trained.result['run_id']} succeeded" in text.stdout
    assert f"data: {trained.result['dataset_version']}" in text.stdout

    removed = home.run("models", "alias", MODEL, "champion", "--remove")
    assert removed.returncode == 0, removed.stderr
    again = home.run("models", "alias", MODEL, "champion", "--remove")
    assert again.returncode == 3 and "no alias 'champion'" in again.stderr


def test_models_import_from_the_cli(new_home: NewHome, tmp_path: Path) -> None:
    import joblib
    import numpy as np
    import pandas as pd
    import skops.io as sio
    from sklearn.linear_model import LinearRegression

    frame = pd.DataFrame({"temp": np.linspace(0, 1, 30), "hum": np.linspace(1, 0, 30)})
    model = LinearRegression().fit(frame, frame["temp"] * 2)
    (tmp_path / "m.skops").write_bytes(sio.dumps(model))
    joblib.dump(model, tmp_path / "m.joblib")
    home = new_home()

    imported = home.json("models", "import", "outside", tmp_path / "m.skops")
    assert (imported["version"], imported["tags"]["format"]) == (1, "skops")
    assert [c["name"] for c in imported["signature"]["inputs"]] == ["temp", "hum"]

    refused = home.run("models", "import", "outside", tmp_path / "m.joblib")
    assert refused.returncode == 2 and "--trust-pickle" in refused.stderr
    trusted = home.run("models", "import", "outside", tmp_path / "m.joblib", "--trust-pickle")
    assert trusted.returncode == 0, trusted.stderr
    assert "as outside version 2 (2 inputs, regression)" in trusted.stdout
