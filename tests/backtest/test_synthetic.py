"""River's generators as tables, with the concept switched at the drift points."""

from __future__ import annotations

import pytest

from evergreen.backtest.synthetic import synthetic_stream
from evergreen.errors import InvalidInput


def test_sea_switches_its_threshold_at_the_drift_point() -> None:
    frame = synthetic_stream("sea", 2000, drift_at=[1000], concepts=(2, 3))
    assert list(frame.columns) == ["0", "1", "2", "y"]
    total = frame["0"] + frame["1"]
    before, after = frame.iloc[:1000], frame.iloc[1000:]
    # SEA variant 2 labels x1 + x2 > 7 as positive, variant 3 x1 + x2 > 9.5
    assert ((total.iloc[:1000] > 7) == before["y"].astype(bool)).all()
    assert ((total.iloc[1000:] > 9.5) == after["y"].astype(bool)).all()


def test_agrawal_and_hyperplane() -> None:
    agrawal = synthetic_stream("agrawal", 500, drift_at=[250], concepts=(0, 2))
    assert {"salary", "age", "loan", "y"} <= set(agrawal.columns)
    plane = synthetic_stream("hyperplane", 300)
    assert plane.shape == (300, 11)
    assert set(plane["y"]) == {0, 1}


def test_hyperplane_with_drift_points_changes_concept_not_inputs() -> None:
    from sklearn.linear_model import LogisticRegression

    frame = synthetic_stream("hyperplane", 4000, drift_at=(2000,), concepts=(0, 1))
    x, y = frame.drop(columns="y"), frame["y"]
    model = LogisticRegression().fit(x[:1500], y[:1500])
    assert model.score(x[1500:2000], y[1500:2000]) > 0.95  # the first hyperplane is learnt
    assert model.score(x[2000:], y[2000:]) < 0.85  # a new one from row 2,000
    assert (x[:2000].mean() - x[2000:].mean()).abs().max() < 0.05  # inputs: still uniform


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "stagger", "rows": 10}, "unknown generator 'stagger'"),
        ({"name": "sea", "rows": 10, "drift_at": [10]}, "must lie inside"),
        ({"name": "sea", "rows": 10, "drift_at": [3, 6], "concepts": (0, 1)}, "need 3 concepts"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        synthetic_stream(**kwargs)  # type: ignore[arg-type]
