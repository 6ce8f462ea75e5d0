"""`evergreen data schema`, `validate` and `drift` as CI gates: their exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from cli.process import ROOT, Home, NewHome

pytestmark = pytest.mark.slow  # every test starts `evergreen`: a fresh interpreter

DAY_CSV = ROOT / "examples" / "data" / "bike_sharing_day.csv"


@pytest.fixture
def years(tmp_path: Path) -> dict[str, Path]:
    """The bike-sharing days of 2011, of 2012, and 2011 with one broken temperature."""
    frame = pd.read_csv(DAY_CSV)
    files = {name: tmp_path / f"{name}.csv" for name in ("2011", "2012", "broken")}
    frame[frame["yr"] == 0].to_csv(files["2011"], index=False)
    frame[frame["yr"] == 1].to_csv(files["2012"], index=False)
    broken = frame[frame["yr"] == 0].astype({"temp": object})
    broken.loc[5, "temp"] = "n/a?"
    broken.to_csv(files["broken"], index=False)
    return files


@pytest.fixture
def home(new_home: NewHome) -> Home:
    return new_home()


def test_validate_passes_a_batch_against_a_dataset_version(
    home: Home, years: dict[str, Path]
) -> None:
    version = home.run("data", "snapshot", years["2011"]).stdout.strip()

    result = home.run("data", "validate", years["2011"], "--reference", version)

    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    assert result.stdout.startswith("validation passed: 0 errors")


def test_validate_fails_a_broken_batch_with_exit_1_and_names_it(
    home: Home, years: dict[str, Path], tmp_path: Path
) -> None:
    schema = tmp_path / "schema.yaml"
    written = home.run("data", "schema", years["2011"], "-o", schema)
    assert written.returncode == 0, written.stderr
    report, page = tmp_path / "report.json", tmp_path / "report.html"

    result = home.run(
        "data", "validate", years["broken"], "--schema", schema, "--json", report, "--html", page
    )

    assert result.returncode == 1, result.stderr
    assert "kind_mismatch: column 'temp' mixes numbers and text: 'n/a?' at row 6" in result.stdout
    data = json.loads(report.read_text())
    assert data["passed"] is False
    assert [(a["check"], a["column"], a["observed"]) for a in data["anomalies"]] == [
        ("kind_mismatch", "temp", "categorical")
    ]
    assert page.read_text().startswith("<!DOCTYPE html>")


def test_schema_prints_yaml_to_stdout(home: Home, years: dict[str, Path]) -> None:
    result = home.run("data", "schema", years["2011"])
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    assert result.stdout.startswith("columns:\n- name: instant\n")


def test_validate_exits_2_when_the_input_cannot_be_read(
    home: Home, years: dict[str, Path], tmp_path: Path
) -> None:
    malformed = tmp_path / "malformed.csv"
    malformed.write_text("station,rentals\nDupont Circle,3\nUnion Station,4,5\n")
    missing = tmp_path / "missing.csv"
    typo = tmp_path / "schema.yaml"
    typo.write_text("columns:\n  - name: temp\n    kind: numeric\n    nulable: true\n")

    for args, named in [
        ((missing, "--reference", years["2011"]), str(missing)),
        ((malformed, "--reference", years["2011"]), str(malformed)),
        ((years["2011"], "--schema", typo), "unknown key 'nulable' (did you mean 'nullable'?)"),
    ]:
        result = home.run("data", "validate", *args)
        assert (result.returncode, result.stdout) == (2, ""), (args, result.stderr)
        [line] = result.stderr.splitlines()
        assert line.startswith("error: ") and named in line


def test_drift_exits_1_on_dataset_drift_and_0_without(
    home: Home, years: dict[str, Path], tmp_path: Path
) -> None:
    report, page = tmp_path / "drift.json", tmp_path / "drift.html"

    drifted = home.run(
        "data", "drift", years["2011"], years["2012"], "--share-threshold", "0.3",
        "--json", report, "--html", page,
    )  # fmt: skip
    same = home.run("data", "drift", years["2011"], years["2011"])

    assert drifted.returncode == 1, drifted.stderr
    data = json.loads(report.read_text())
    assert data["dataset_drift"] is True
    drifted_columns = [c["column"] for c in data["columns"] if c["drifted"]]
    assert "cnt" in drifted_columns
    assert page.read_text().count("<svg") == len(drifted_columns)
    assert (same.returncode, same.stderr) == (0, ""), same.stderr
    assert "dataset drift at 50%: no" in same.stdout


def test_a_schema_saved_with_a_version_is_the_one_validation_uses(
    home: Home, years: dict[str, Path], tmp_path: Path
) -> None:
    version = home.run("data", "snapshot", years["2011"]).stdout.strip()
    saved = home.run("data", "schema", version, "--save")
    assert saved.returncode == 0, saved.stderr
    assert f"saved as the schema of {version}" in saved.stderr
    assert "name: temp" in saved.stdout  # the YAML alone on stdout

    # Tighten it: no day of 2011 may be warmer than 0.8 (the data reaches 0.849), an error.
    edited = tmp_path / "edited.yaml"
    text = home.run("data", "schema", version).stdout
    lines = text.splitlines()
    at = lines.index("- name: temp")
    top = next(i for i in range(at, len(lines)) if lines[i].startswith("  max:"))
    lines[top] = "  max: 0.8\n  checks: {out_of_range: error}"
    edited.write_text("\n".join(lines) + "\n")
    assert home.run("data", "validate", years["2011"], "--reference", version).returncode == 0

    stored = home.run("data", "schema", version, "--set", edited)
    assert stored.returncode == 0, stored.stderr
    shown = home.run("data", "schema", version).stdout
    assert "max: 0.8\n" in shown and "out_of_range: error" in shown

    result = home.run("data", "validate", years["2011"], "--reference", version)
    assert result.returncode == 1
    assert "column 'temp'" in result.stdout

    typo = tmp_path / "typo.yaml"
    typo.write_text(edited.read_text().replace("nullable:", "nulable:", 1))
    refused = home.run("data", "schema", version, "--set", typo)
    assert refused.returncode == 2
    assert "nulable" in refused.stderr and "did you mean 'nullable'" in refused.stderr

    history = home.json("data", "schema", version, "--history")
    assert [h["origin"] for h in history] == ["edited", "inferred"]
