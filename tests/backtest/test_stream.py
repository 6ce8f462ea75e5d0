"""Batches: by row count or by period, in time order, encoded; and the errors for bad input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evergreen.backtest.stream import EPOCH, infer_task, make_stream, read_table
from evergreen.errors import InvalidInput, NotFound


def _frame(rows: int = 100) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "x": rng.normal(size=rows),
            "colour": rng.choice(["red", "green"], rows),
            "flag": rng.choice([True, False], rows),
            "y": rng.normal(size=rows),
        }
    )


def test_batches_by_size_keep_the_row_order_and_a_short_last_batch() -> None:
    stream = make_stream(_frame(100), target="y", batch_size=30)
    assert stream.bounds == [(0, 30), (30, 60), (60, 90), (90, 100)]
    assert stream.task == "regression"
    assert stream.features == ["x", "colour", "flag"]
    assert stream.batch(1)["y"].tolist() == _frame(100)["y"].iloc[30:60].tolist()
    assert stream.times == [EPOCH + timedelta(days=d) for d in (1, 2, 3, 4)]
    # text and booleans become numbers the model can take
    assert set(stream.frame["colour"]) == {0, 1}
    assert stream.frame["flag"].dtype == np.int8


def test_batches_by_period_follow_the_time_column_not_the_file_order() -> None:
    frame = _frame(60)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    frame["when"] = [(start + timedelta(hours=4 * i)).isoformat() for i in range(60)]
    shuffled = frame.sample(frac=1.0, random_state=1)
    stream = make_stream(shuffled, target="y", time_column="when", batch_period="1d")
    # 6 rows a day, 10 days; the time column is not a feature
    assert [b - a for a, b in stream.bounds] == [6] * 10
    assert "when" not in stream.features
    assert stream.frame["x"].tolist() == frame["x"].tolist()
    assert stream.times[0] == start + timedelta(hours=20)
    assert stream.times[-1] == start + timedelta(days=9, hours=20)


def test_integer_targets_with_few_values_are_classes() -> None:
    assert infer_task(pd.Series([0, 1, 1, 0])) == "classification"
    assert infer_task(pd.Series(["a", "b"])) == "classification"
    assert infer_task(pd.Series(np.arange(100))) == "regression"
    assert infer_task(pd.Series([0.5, 1.0])) == "regression"


def test_drop_leaves_columns_out_and_rows_without_a_label_go() -> None:
    frame = _frame(40)
    frame.loc[3, "y"] = np.nan
    stream = make_stream(frame, target="y", batch_size=13, drop=("colour",))
    assert stream.features == ["x", "flag"]
    assert len(stream.frame) == 39


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"target": "nope", "batch_size": 10}, "target column 'nope' is not in the data"),
        (
            {"target": "y", "time_column": "when", "batch_size": 10},
            "time column 'when' is not in the data",
        ),
        ({"target": "y", "batch_size": 51}, "--batch-size 51 leaves fewer than two batches"),
        ({"target": "y", "batch_size": 0}, "at least 1"),
        ({"target": "y", "batch_period": "1d"}, "--batch-period 1d needs --time-column"),
        ({"target": "y"}, "give exactly one of --batch-size N and --batch-period"),
        ({"target": "y", "batch_size": 10, "drop": ("zzz",)}, "dropped column 'zzz'"),
        ({"target": "y", "batch_size": 10, "task": "ranking"}, "--task must be"),
    ],
)
def test_bad_input_is_one_clear_error(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        make_stream(_frame(100), **kwargs)  # type: ignore[arg-type]


def test_a_period_too_long_for_the_data() -> None:
    frame = _frame(10)
    frame["when"] = pd.date_range("2024-01-01", periods=10, freq="h").astype(str)
    with pytest.raises(InvalidInput, match="puts all 10 rows in one batch"):
        make_stream(frame, target="y", time_column="when", batch_period="7d")
    with pytest.raises(InvalidInput, match="--batch-period: 'soon' is not a duration"):
        make_stream(frame, target="y", time_column="when", batch_period="soon")


def test_reads_csv_and_parquet_and_names_a_missing_file(tmp_path: Path) -> None:
    frame = _frame(20)
    frame.to_csv(tmp_path / "d.csv", index=False)
    frame.to_parquet(tmp_path / "d.parquet", index=False)
    assert read_table(tmp_path / "d.csv")["x"].tolist() == pytest.approx(frame["x"].tolist())
    assert read_table(tmp_path / "d.parquet").equals(frame)
    with pytest.raises(NotFound, match="no such data file"):
        read_table(tmp_path / "missing.csv")
