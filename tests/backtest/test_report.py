"""The report: JSON in the documented shape, the table, a PNG and a self-contained HTML page."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest

from evergreen.backtest import report
from evergreen.backtest.replay import Options, PolicyResult
from evergreen.backtest.runner import BacktestResult

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def result() -> BacktestResult:
    return BacktestResult(
        metric="rmse",
        greater_is_better=False,
        task="regression",
        options=Options(label_delay=1),
        rows=400,
        batches=4,
        batch_times=["2000-01-02T00:00:00+00:00"] * 4,
        policies={
            "never": PolicyResult("never", per_batch=[10.0, 20.0, 30.0], served_versions=[1] * 3),
            "every:1": PolicyResult(
                "every:1",
                per_batch=[10.0, 12.0, 11.0],
                served_versions=[1, 2, 3],
                retrain_batches=[1, 2, 3],
                promoted_batches=[1, 2],
                seconds=3.5,
            ),
        },
    )


def test_json_has_the_documented_shape(result: BacktestResult, tmp_path: Path) -> None:
    report.write_json(result, tmp_path / "out" / "r.json")
    data = json.loads((tmp_path / "out" / "r.json").read_text())
    assert data["metric"] == "rmse"
    assert data["greater_is_better"] is False
    every = data["policies"]["every:1"]
    assert every["mean_metric"] == pytest.approx(11.0)
    assert every["retrains"] == 3
    assert every["per_batch"] == [10.0, 12.0, 11.0]
    assert every["seconds"] == 3.5
    assert every["promotions"] == 2
    assert data["policies"]["never"]["mean_metric"] == pytest.approx(20.0)
    assert data["label_delay"] == 1
    assert result.best() == "every:1"


def test_table_names_the_direction_and_the_best(result: BacktestResult) -> None:
    from rich.console import Console

    console = Console(record=True, width=160)
    console.print(report.table(result))
    text = console.export_text()
    assert "rmse (lower is better)" in text
    assert re.search(r"every:1 \(best\)\s+│\s+11 ", text)
    assert "label delay 1" in text


def test_png_and_html(result: BacktestResult, tmp_path: Path) -> None:
    png = report.write_png(result, tmp_path / "plot.png")
    assert (tmp_path / "plot.png").read_bytes() == png
    assert png.startswith(PNG_MAGIC)
    report.write_html(result, tmp_path / "r.html", png)
    page = (tmp_path / "r.html").read_text()
    assert "never" in page and "every:1" in page
    embedded = re.search(r'src="data:image/png;base64,([^"]+)"', page)
    assert embedded is not None
    assert base64.b64decode(embedded.group(1)) == png
    assert "http" not in page  # self-contained: nothing to fetch
