"""The prediction-log segment index and monitor results, on every backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from evergreen.store.database import Database
from evergreen.store.predictions import PredictionRepository
from evergreen.store.tables import MonitorResultRow, PredictionSegmentRow

T0 = datetime(2026, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


def segment(n: int, *, model: str = "bikes", version: int = 1) -> PredictionSegmentRow:
    """Segment ``n`` covers hour ``n`` and was written right after it."""
    return PredictionSegmentRow(
        id=f"seg-{model}-{n}",
        model=model,
        version=version,
        first_at=T0 + n * HOUR,
        last_at=T0 + (n + 1) * HOUR,
        rows=100 + n,
        artifact_sha256=f"{n:064x}",
        created_at=T0 + (n + 1) * HOUR + timedelta(seconds=5),
    )


def result(n: int, *, model: str = "bikes", value: float = 0.125) -> MonitorResultRow:
    return MonitorResultRow(
        id=f"mon-{model}-{n}",
        at=T0 + n * HOUR,
        model=model,
        version=1,
        kind="psi",
        value=value,
        rows=100,
        details={"column": "temp"},
    )


@pytest.fixture
def predictions(db: Database) -> PredictionRepository:
    return PredictionRepository(db)


def test_segments_round_trip_in_creation_order(predictions: PredictionRepository) -> None:
    for n in (2, 0, 1):
        predictions.add_segment(segment(n))
    predictions.add_segment(segment(0, model="other"))

    stored = predictions.segments("bikes")
    assert [s.id for s in stored] == ["seg-bikes-0", "seg-bikes-1", "seg-bikes-2"]
    first = stored[0]
    assert (first.first_at, first.last_at, first.rows) == (T0, T0 + HOUR, 100)
    assert first.artifact_sha256 == "0" * 64


def test_segments_filter_by_version_and_time(predictions: PredictionRepository) -> None:
    for n in range(4):
        predictions.add_segment(segment(n, version=1 if n < 2 else 2))

    later = ["seg-bikes-2", "seg-bikes-3"]
    assert [s.id for s in predictions.segments("bikes", version=2)] == later
    # ``after`` keeps segments ending strictly later; segment 1 ends at T0 + 2h.
    after = predictions.segments("bikes", after=T0 + 2 * HOUR)
    assert [s.id for s in after] == later
    created = predictions.segments("bikes", created_after=T0 + 3 * HOUR)
    assert [s.id for s in created] == later
    assert predictions.segments("bikes", version=1, after=T0 + 2 * HOUR) == []
    assert predictions.segments("unknown") == []


def test_monitor_results_newest_first(predictions: PredictionRepository) -> None:
    for n in range(3):
        predictions.add_result(result(n, value=0.1 * n))
    predictions.add_result(result(9, model="other"))

    stored = predictions.results("bikes")
    assert [r.id for r in stored] == ["mon-bikes-2", "mon-bikes-1", "mon-bikes-0"]
    assert stored[0].value == pytest.approx(0.2)
    assert stored[0].details == {"column": "temp"}
    assert [r.id for r in predictions.results(limit=2)] == ["mon-other-9", "mon-bikes-2"]


def test_monitor_values_keep_double_precision(predictions: PredictionRepository) -> None:
    value = 0.1234567890123456
    predictions.add_result(result(0, value=value))
    assert predictions.results("bikes")[0].value == value
