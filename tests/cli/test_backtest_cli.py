"""`evergreen backtest` as a user runs it: the table, the JSON report, the PNG and HTML files,
and one clear line for each kind of bad input."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from cli.process import EVERGREEN
from evergreen.backtest.synthetic import synthetic_stream

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def evergreen(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(EVERGREEN), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "COLUMNS": "200"},
        timeout=600,
        check=False,
    )


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("backtest")
    frame = synthetic_stream("sea", 1600, drift_at=[800], concepts=(2, 3))
    frame.to_csv(folder / "sea.csv", index=False)
    return folder / "sea.csv"


@pytest.mark.slow
def test_backtest_writes_json_png_and_html(data: Path, tmp_path: Path) -> None:
    done = evergreen(
        "backtest",
        "--data", str(data),
        "--target", "y",
        "--batch-size", "400",
        "--policies", "never,performance",
        "--model", "logistic",
        "--workers", "1",
        "--json", "out/report.json",
        "--plot", "out/plot.png",
        "--html", "out/report.html",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "1,600 rows in 4 batches" in done.stdout
    assert "accuracy (higher is better)" in done.stdout
    report = json.loads((tmp_path / "out/report.json").read_text())
    assert report["metric"] == "accuracy"
    assert report["greater_is_better"] is True
    assert set(report["policies"]) == {"never", "performance"}
    for policy in report["policies"].values():
        assert isinstance(policy["mean_metric"], float)
        assert isinstance(policy["retrains"], int)
        assert isinstance(policy["seconds"], float)
        assert len(policy["per_batch"]) == 3
        assert all(0.0 <= v <= 1.0 for v in policy["per_batch"])
    assert report["policies"]["never"]["retrains"] == 0
    assert report["policies"]["performance"]["retrains"] == 1
    assert (tmp_path / "out/plot.png").read_bytes().startswith(PNG_MAGIC)
    page = (tmp_path / "out/report.html").read_text()
    assert "never" in page and "performance" in page and "data:image/png;base64," in page


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--data", "missing.csv", "--batch-size", "400"], 3, "missing.csv: no such data file"),
        (["--target", "label", "--batch-size", "400"], 2, "target column 'label' is not in"),
        (
            ["--time-column", "when", "--batch-size", "400"],
            2,
            "time column 'when' is not in the data",
        ),
        (
            ["--batch-size", "400", "--policies", "never,sometimes"],
            2,
            "unknown policy 'sometimes'",
        ),
        (["--batch-size", "1000"], 2, "--batch-size 1000 leaves fewer than two batches"),
        (["--batch-period", "7d"], 2, "--batch-period 7d needs --time-column"),
        (["--batch-size", "400", "--model", "xgb"], 2, "unknown model 'xgb'"),
    ],
    ids=["missing-file", "target", "time-column", "policy", "batch-size", "period", "model"],
)
def test_bad_input_is_one_line(
    data: Path, tmp_path: Path, args: list[str], code: int, message: str
) -> None:
    defaults = {"--data": str(data), "--target": "y"}
    for flag, value in defaults.items():
        if flag not in args:
            args = [flag, value, *args]
    done = evergreen("backtest", *args, cwd=tmp_path)
    assert done.returncode == code, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ")
    assert message in lines[0]
