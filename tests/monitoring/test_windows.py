"""Windows of the prediction log with labels joined, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from evergreen.core.clock import SimulatedClock
from evergreen.monitoring.windows import read_window
from evergreen.serving import PredictionLogWriter
from evergreen.serving.prediction_log import Served
from evergreen.store.artifacts import ArtifactStore
from evergreen.store.database import Database
from evergreen.store.endpoints import FeedbackRepository
from evergreen.store.predictions import PredictionRepository

START = datetime(2026, 3, 1, tzinfo=UTC)


def log(
    writer: PredictionLogWriter,
    clock: SimulatedClock,
    first: int,
    count: int,
    *,
    version: int = 1,
    served: Served | None = None,
    rows_per_request: int = 1,
) -> None:
    """Requests ``req-<first>``... a minute apart, each of ``rows_per_request`` rows; then one
    flush (one segment)."""
    for n in range(first, first + count):
        x = np.arange(rows_per_request, dtype=float) + n
        writer.record("m", version, f"req-{n}", pd.DataFrame({"x": x}), x * 2, served)
        clock.advance(timedelta(minutes=1))
    writer.flush()


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(START)


@pytest.fixture
def writer(
    db: Database, artifacts: ArtifactStore, clock: SimulatedClock
) -> Iterator[PredictionLogWriter]:
    writer = PredictionLogWriter(
        artifacts, PredictionRepository(db), clock=clock, flush_interval=60
    )
    yield writer
    writer.close()


def test_newest_rows_span_segments_and_labels_join_however_late(
    db: Database, artifacts: ArtifactStore, writer: PredictionLogWriter, clock: SimulatedClock
) -> None:
    predictions, feedback = PredictionRepository(db), FeedbackRepository(db)
    for first in (0, 40, 80):
        log(writer, clock, first, 40)
    before = read_window(predictions, artifacts, "m", 1, now=clock.now(), last_rows=50)
    assert before.rows == 50 and before.labelled.empty
    assert before.frame["request_id"].tolist() == [f"req-{n}" for n in range(70, 120)]
    assert before.start == START + timedelta(minutes=70)
    assert before.end == START + timedelta(minutes=119)

    arrived = clock.advance(timedelta(days=30))  # a month late
    feedback.add([(f"req-{n}", n * 2 + 1) for n in range(60, 100)], arrived)
    feedback.add([("req-100", "not-a-number")], arrived)
    after = read_window(predictions, artifacts, "m", 1, now=clock.now(), last_rows=50)
    labelled = after.labelled
    assert labelled["request_id"].tolist() == [f"req-{n}" for n in range(70, 101)]
    assert labelled["label"].iloc[0] == 141 and labelled["label"].iloc[-1] == "not-a-number"
    assert (labelled["label_at"] == pd.Timestamp(arrived)).all()
    assert after.frame["label"].iloc[31:].isna().all()


def test_window_by_time_and_version(
    db: Database, artifacts: ArtifactStore, writer: PredictionLogWriter, clock: SimulatedClock
) -> None:
    predictions = PredictionRepository(db)
    log(writer, clock, 0, 30)
    log(writer, clock, 30, 30, version=2)
    log(writer, clock, 60, 30)
    window = read_window(
        predictions, artifacts, "m", 1, now=clock.now(), last=timedelta(minutes=45)
    )
    assert window.frame["request_id"].tolist() == [f"req-{n}" for n in range(60, 90)]
    assert window.start == clock.now() - timedelta(minutes=45) and window.end == clock.now()
    both = read_window(predictions, artifacts, "m", 1, now=clock.now(), last_rows=1000)
    assert both.rows == 60  # version 2's rows are not version 1's


def test_shadow_rows_stay_out_unless_asked_for(
    db: Database, artifacts: ArtifactStore, writer: PredictionLogWriter, clock: SimulatedClock
) -> None:
    predictions = PredictionRepository(db)
    log(writer, clock, 0, 10, served=Served("ep", "champion"))
    log(writer, clock, 10, 5, served=Served("ep", "challenger", role="shadow"))
    log(writer, clock, 15, 10, served=Served("ep", "champion"))
    primary = read_window(predictions, artifacts, "m", 1, now=clock.now(), last_rows=12)
    assert primary.frame["request_id"].tolist() == [f"req-{n}" for n in (8, 9, *range(15, 25))]
    assert "role" not in primary.frame.columns
    shadow = read_window(
        predictions,
        artifacts,
        "m",
        1,
        now=clock.now(),
        last_rows=100,
        role="shadow",
        variant="challenger",
    )
    assert shadow.rows == 5
    anyone = read_window(predictions, artifacts, "m", 1, now=clock.now(), last_rows=100, role=None)
    assert anyone.rows == 25


def test_a_shadow_window_has_its_primarys_inputs(
    db: Database, artifacts: ArtifactStore, writer: PredictionLogWriter, clock: SimulatedClock
) -> None:
    predictions = PredictionRepository(db)
    log(writer, clock, 0, 6, served=Served("ep", "champion"), rows_per_request=2)
    # the shadow (version 2) answers requests 2..5 together, logging no inputs of its own
    ids = [f"req-{n}" for n in range(2, 6)]
    writer.record_together(
        "m",
        2,
        ids,
        [2] * 4,
        pd.DataFrame({"x": np.zeros(8)}),
        np.arange(8.0),
        Served("ep", "challenger", role="shadow"),
        inputs_logged=True,
    )
    writer.flush()
    shadow = read_window(
        predictions, artifacts, "m", 2, now=clock.now(), last_rows=100, role="shadow"
    )
    assert shadow.frame["request_id"].tolist() == [i for i in ids for _ in range(2)]
    assert shadow.frame["x"].tolist() == [n + k for n in range(2, 6) for k in (0.0, 1.0)]
    assert shadow.frame["prediction"].tolist() == list(np.arange(8.0))
    assert list(shadow.frame.columns) == [
        "request_id",
        "ts",
        "x",
        "prediction",
        "label",
        "label_at",
    ]


def test_a_list_label_labels_the_rows_of_its_request_in_order(
    db: Database, artifacts: ArtifactStore, writer: PredictionLogWriter, clock: SimulatedClock
) -> None:
    predictions, feedback = PredictionRepository(db), FeedbackRepository(db)
    log(writer, clock, 0, 3, rows_per_request=4)
    feedback.add([("req-0", [1.5, 2.5, 3.5, 4.5]), ("req-2", 7)], clock.now())
    window = read_window(predictions, artifacts, "m", 1, now=clock.now(), last_rows=100)
    assert window.frame["label"].tolist()[:4] == [1.5, 2.5, 3.5, 4.5]
    assert window.frame["label"].iloc[4:8].isna().all()
    assert window.frame["label"].tolist()[8:] == [7, 7, 7, 7]
    assert len(window.labelled) == 8


def test_reading_labels_in_bulk_returns_each_once_with_its_time(db: Database) -> None:
    predictions, feedback = PredictionRepository(db), FeedbackRepository(db)
    feedback.add([(f"r{n}", n) for n in range(3000)], START)
    feedback.add([('odd "id" \\ here', {"a": 1})], START + timedelta(seconds=1))
    wanted = [f"r{n}" for n in range(0, 3000, 2)] + ['odd "id" \\ here', "missing"]
    labels = predictions.labels(wanted)
    found = dict(zip(labels.request_id.to_pylist(), labels.label, strict=True))
    assert len(found) == 1501 and found["r2998"] == 2998 and found['odd "id" \\ here'] == {"a": 1}
    times = dict(zip(labels.request_id.to_pylist(), labels.at, strict=True))
    assert times['odd "id" \\ here'] == np.datetime64("2026-03-01T00:00:01", "us")


def test_ids_holding_the_separator_and_labels_of_every_json_kind(db: Database) -> None:
    predictions, feedback = PredictionRepository(db), FeedbackRepository(db)
    kinds = [("a", 1), ("b", 2.5), ("c", "yes"), ("d", None), ("e", True), ("f\x1fg", [1, 2])]
    feedback.add(kinds, START)
    for wanted in (["a", "b"], [k for k, _ in kinds]):  # numbers only; then every kind
        labels = predictions.labels(wanted)
        found = dict(zip(labels.request_id.to_pylist(), labels.label, strict=True))
        assert found == {k: v for k, v in kinds if k in wanted}
        assert (labels.at == np.datetime64("2026-03-01T00:00:00", "us")).all()
