"""Policies side by side on the real bike-sharing data (in the repository: examples/data), in
worker processes: the shape the literature knows, on real drift."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from evergreen.backtest.policies import parse_policies
from evergreen.backtest.replay import Options
from evergreen.backtest.runner import run_backtest
from evergreen.backtest.stream import make_stream
from evergreen.errors import InvalidInput

BIKE = Path(__file__).resolve().parents[2] / "examples/data/bike_sharing_hour.csv"


@pytest.mark.slow
def test_on_bike_sharing_triggered_retraining_beats_never_with_few_retrains(
    tmp_path: Path,
) -> None:
    stream = make_stream(
        pd.read_csv(BIKE),
        target="cnt",
        time_column="dteday",
        batch_period="7d",
        drop=("instant", "casual", "registered"),
    )
    lines: list[str] = []
    result = run_backtest(
        stream,
        parse_policies("never,performance"),
        Options(),
        workers=2,
        state=tmp_path,
        say=lines.append,
    )
    assert result.metric == "rmse" and result.greater_is_better is False
    assert result.task == "regression"
    assert result.batches == len(stream) == 105
    never = result.policies["never"]
    every_batch = result.batches - 1  # what every:1 retrains, by its definition
    performance = result.policies["performance"]
    # demand grows by 64% from 2011 to 2012: the first model falls far behind
    assert performance.mean_metric < 0.75 * never.mean_metric
    assert 1 <= performance.retrains <= every_batch / 3
    assert len(lines) == 2
    # each policy kept its own evergreen home
    assert sorted(p.name for p in tmp_path.iterdir()) == ["never", "performance"]
    assert (tmp_path / "performance" / "state" / "evergreen.db").is_file()


def test_a_metric_for_the_other_task_is_refused() -> None:
    frame = pd.DataFrame({"x": range(40), "y": [0.5 * i for i in range(40)]})
    stream = make_stream(frame, target="y", batch_size=10)
    with pytest.raises(InvalidInput, match="metric 'accuracy' is for classification"):
        run_backtest(stream, parse_policies("never"), Options(metric="accuracy"))
