"""One policy's replay through the real pipeline, registry, trigger queue and clock: the state
it leaves, test-then-train with late labels, and the shape the literature knows."""

from __future__ import annotations

from pathlib import Path

import pytest

from evergreen.backtest.policies import parse_policy
from evergreen.backtest.replay import Options, PolicyReplay, replay_policy
from evergreen.backtest.stream import Stream, make_stream
from evergreen.backtest.synthetic import synthetic_stream
from evergreen.pipeline.triggers import PerformanceTrigger
from evergreen.training.metrics import get_metric

ROWS, BATCH = 4800, 400  # 12 batches; the concept changes at batch 4 and back at batch 8


@pytest.fixture(scope="module")
def sea() -> Stream:
    frame = synthetic_stream("sea", ROWS, drift_at=[1600, 3200], concepts=(2, 3, 2))
    return make_stream(frame, target="y", batch_size=BATCH)


FAST = Options(model="logistic")


@pytest.mark.slow
def test_performance_policy_retrains_after_each_change_and_records_why(
    sea: Stream, tmp_path: Path
) -> None:
    replay = PolicyReplay(sea, parse_policy("performance"), FAST, tmp_path)
    try:
        result = replay.run()
        ctx = replay.ctx
        events = ctx.events.list("backtest")
        versions = ctx.registry.versions("backtest")
        runs = ctx.runs.list_runs("backtest", limit=100)
    finally:
        replay.close()
    assert len(result.per_batch) == len(sea) - 1 == 11
    # the first model is right before the change, then wrong on a fifth of the rows
    assert min(result.per_batch[:3]) > 0.95
    assert result.per_batch[3] < 0.85
    # each change is noticed on its own labelled batch, and the retrained model is right again
    assert result.retrain_batches == [4, 8]
    assert result.promoted_batches == [4, 8]
    assert result.served_versions == [1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3]
    assert min(result.per_batch[4:7]) > 0.95
    assert [e.kind for e in events] == ["manual", "performance", "performance"]
    assert "worse than its holdout score" in events[1].reason
    assert events[1].evidence["live"] < 0.85
    assert all(e.status == "done" for e in events)
    assert {r.trigger_event_id for r in runs} == {e.id for e in events}
    assert [v.version for v in versions] == [1, 2, 3]
    assert versions[-1].stage == "production"
    assert result.triggers == {"performance": 2}


@pytest.mark.slow
def test_triggered_beats_never_with_far_fewer_retrains_than_every_batch(
    sea: Stream, tmp_path: Path
) -> None:
    results = {
        name: replay_policy(sea, parse_policy(name), FAST, tmp_path / name.replace(":", "-"))
        for name in ("never", "every:1", "performance")
    }
    never, every, triggered = results["never"], results["every:1"], results["performance"]
    assert never.retrains == 0 and never.served_versions == [1] * 11
    assert every.retrains == 11
    assert triggered.mean_metric > never.mean_metric + 0.03
    assert triggered.mean_metric >= every.mean_metric
    assert triggered.retrains <= every.retrains / 3


def test_labels_arrive_k_batches_late(sea: Stream, tmp_path: Path) -> None:
    replay = PolicyReplay(
        sea, parse_policy("never"), Options(model="logistic", label_delay=2), tmp_path
    )
    try:
        replay._land(0)
        replay._signal(0, "manual", "first model")
        landed = []
        for index in range(1, 6):
            replay.step(index)
            landed.append(sorted(p.name for p in replay.landing.iterdir()))
    finally:
        replay.close()
    # batch t is predicted at t; its labels land at t + 2; the window keeps the newest five
    assert landed[0] == landed[1] == ["batch-000000.parquet"]
    assert landed[2][-1] == "batch-000001.parquet"
    assert landed[4] == [f"batch-{i:06d}.parquet" for i in range(4)]


def test_the_clock_follows_the_batches(sea: Stream, tmp_path: Path) -> None:
    replay = PolicyReplay(sea, parse_policy("never"), FAST, tmp_path)
    try:
        replay._land(0)
        replay._signal(0, "manual", "first model")
        replay.step(1)
        replay.step(2)
        assert replay.clock.now() == sea.times[2]
        assert replay.ctx.registry.get_version("backtest", 1).created_at == sea.times[0]
    finally:
        replay.close()


@pytest.mark.parametrize(
    ("metric", "live", "holdout", "rule", "fires"),
    [
        ("accuracy", 0.86, 0.95, PerformanceTrigger(margin=0.1), False),
        ("accuracy", 0.85, 0.95, PerformanceTrigger(margin=0.05), True),
        ("rmse", 120.0, 100.0, PerformanceTrigger(margin=0.1), True),
        ("rmse", 105.0, 100.0, PerformanceTrigger(margin=0.1), False),
        ("rmse", 105.0, 100.0, PerformanceTrigger(bound=104.0), True),
        ("accuracy", 0.9, 0.9, PerformanceTrigger(bound=0.91), True),
    ],
)
def test_performance_rule(
    metric: str, live: float, holdout: float, rule: PerformanceTrigger, fires: bool
) -> None:
    assert (rule.breached(get_metric(metric), live, holdout) is not None) is fires
