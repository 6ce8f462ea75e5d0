"""Alert rules over stored monitor series (threshold, min_samples, persistence, cooldown) on a
simulated clock, and delivery with redelivery through real receivers on loopback."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from evergreen.core.clock import SimulatedClock
from evergreen.core.ids import new_id
from evergreen.errors import NotFound
from evergreen.monitoring.alerts import AlertEngine
from evergreen.monitoring.notifiers import try_notifiers
from evergreen.pipeline.alerting import AlertRule, Notifier
from evergreen.pipeline.project import Project
from evergreen.store.alerts import AlertRepository
from evergreen.store.database import Database
from evergreen.store.predictions import PredictionRepository
from evergreen.store.tables import AlertRow, MonitorResultRow
from fixtures.postgres import free_port
from fixtures.receivers import http_receiver

T0 = datetime(2026, 11, 27, 8, tzinfo=UTC)
PASS = timedelta(minutes=10)
MODEL = "bike-demand"
SECRETS = {"HOOK_SECRET": "whsec-1"}


class World:
    """A store, a simulated clock and an engine; ``observe`` stores a monitor pass's result and
    evaluates the project on it, ``PASS`` after the previous one."""

    def __init__(self, db: Database, **engine: Any) -> None:
        self.clock = SimulatedClock(T0)
        self.results = PredictionRepository(db)
        self.alerts = AlertRepository(db)
        options = {"redelivery": timedelta(minutes=1), **engine}
        self.engine = AlertEngine(self.alerts, self.clock, SECRETS.get, **options)

    def result(self, value: float, rows: int = 1000, *, kind: str = "performance.rmse",
               version: int = 7, feature: str | None = None) -> MonitorResultRow:  # fmt: skip
        now = self.clock.now()
        row = MonitorResultRow(
            id=new_id("mon"), at=now, model=MODEL, version=version, kind=kind, value=value,
            rows=rows, details={}, feature=feature, window_start=now - PASS, window_end=now,
        )  # fmt: skip
        self.results.add_result(row)
        return row

    def observe(self, project: Project, *results: MonitorResultRow) -> list[AlertRow]:
        fired = self.engine.evaluate(project, results)
        self.clock.advance(PASS)
        return fired

    def series(self, project: Project, values: list[float], **options: Any) -> list[list[str]]:
        """Messages fired by each pass of ``values``."""
        return [
            [a.message for a in self.observe(project, self.result(v, **options))] for v in values
        ]


@pytest.fixture
def world(sqlite_url: str, make_db: Callable[..., Database]) -> Callable[..., World]:
    return lambda **engine: World(make_db(sqlite_url), **engine)


def project(*rules: AlertRule, notifiers: tuple[Notifier, ...] = ()) -> Project:
    return Project(name=MODEL, source="data.csv", target="cnt", alerts=list(rules),
                   notifiers=list(notifiers))  # fmt: skip


def rule(**options: Any) -> AlertRule:
    spec: dict[str, Any] = {"name": "rmse-high", "series": "performance.rmse", "above": 80.0}
    return AlertRule(**{**spec, **options})


def hook(url: str, **options: Any) -> Notifier:
    spec = {"kind": "webhook", "name": "hook", "url": url, "secret_env": "HOOK_SECRET",
            "timeout": 2, "retries": 1, "backoff": 0.01}  # fmt: skip
    return Notifier(**{**spec, **options})


def test_fires_after_persistence_passes_with_a_message_people_read(world: Any) -> None:
    w = world()
    p = project(rule(persistence=3, min_samples=100))
    assert w.observe(p, w.result(90.0, rows=640)) == []
    assert w.observe(p, w.result(95.5, rows=655)) == []
    [alert] = w.observe(p, w.result(92.3, rows=672))
    assert alert.message == (
        "bike-demand v7: performance.rmse 92.3 above 80 for 3 passes (672 labelled rows)"
    )
    assert (alert.project, alert.model, alert.version, alert.rule) == (MODEL, MODEL, 7, "rmse-high")
    assert (alert.series, alert.feature, alert.value) == ("performance.rmse", None, 92.3)
    assert alert.at == T0 + 2 * PASS
    assert [p["value"] for p in alert.details["passes"]] == [90.0, 95.5, 92.3]
    assert [p["rows"] for p in alert.details["passes"]] == [640, 655, 672]
    assert alert.details["rule"]["persistence"] == 3
    assert alert.details["notify"] == ["log"]
    assert alert.status == "delivered"  # through the log notifier, the default
    assert [a.id for a in w.alerts.list()] == [alert.id]


def test_a_pass_back_under_the_threshold_breaks_the_streak(world: Any) -> None:
    w = world()
    p = project(rule(persistence=2, cooldown=0))
    fired = w.series(p, [90, 70, 90, 90, 79.9, 81])
    assert [len(f) for f in fired] == [0, 0, 0, 1, 0, 0]


def test_below_thresholds_and_both_sides(world: Any) -> None:
    w = world()
    p = project(rule(name="band", series="performance.r2", below=0.5, above=0.99, cooldown=0))
    fired = w.series(p, [0.7, 0.4, 0.995, 0.98], kind="performance.r2")
    assert fired == [
        [],
        ["bike-demand v7: performance.r2 0.4 below 0.5 for 1 pass (1000 labelled rows)"],
        ["bike-demand v7: performance.r2 0.995 above 0.99 for 1 pass (1000 labelled rows)"],
        [],
    ]


def test_thin_results_neither_fire_nor_break_a_streak(world: Any) -> None:
    w = world()
    p = project(rule(persistence=2, min_samples=100))
    assert w.observe(p, w.result(500.0, rows=99)) == []  # far above, but on too few rows
    assert w.observe(p, w.result(90.0, rows=100)) == []  # one pass: the thin one does not count
    assert w.observe(p, w.result(10.0, rows=5)) == []  # thin and fine: no reset either
    [alert] = w.observe(p, w.result(91.0, rows=300))
    assert [(x["value"], x["rows"]) for x in alert.details["passes"]] == [(90.0, 100), (91.0, 300)]


def test_cooldown_is_per_rule_model_and_feature(world: Any) -> None:
    w = world()
    drift = rule(name="drift", series="input_drift.feature", above=0.2, cooldown="1h")
    p = project(drift)

    def observe(**values: float) -> list[str]:
        rows = [w.result(v, kind="input_drift.feature", feature=f) for f, v in values.items()]
        return sorted(a.feature or "" for a in w.observe(p, *rows))

    assert observe(temp=0.3, hum=0.1) == ["temp"]
    assert observe(temp=0.3, hum=0.4) == ["hum"]  # temp cools down; hum is another series
    for _ in range(4):  # up to 50 minutes after the first alert
        assert observe(temp=0.3, hum=0.4) == []
    assert w.clock.now() - T0 == timedelta(minutes=60)
    assert observe(temp=0.3, hum=0.4) == ["temp"]  # an hour later
    [newest] = w.alerts.list(limit=1)
    assert newest.message == (
        "bike-demand v7: input_drift.feature of temp 0.3 above 0.2 for 1 pass (1000 rows)"
    )


def test_a_rule_with_a_feature_watches_only_that_feature(world: Any) -> None:
    w = world()
    p = project(rule(name="temp", series="input_drift.feature", feature="temp", above=0.2))
    hum = w.result(0.9, kind="input_drift.feature", feature="hum")
    temp = w.result(0.1, kind="input_drift.feature", feature="temp")
    assert w.observe(p, hum, temp) == []
    [alert] = w.observe(p, w.result(0.25, kind="input_drift.feature", feature="temp"))
    assert alert.feature == "temp"


def test_persistence_counts_passes_of_one_version(world: Any) -> None:
    w = world()
    p = project(rule(persistence=2))
    assert w.observe(p, w.result(90.0, version=7)) == []
    assert w.observe(p, w.result(90.0, version=8)) == []  # a new version starts afresh
    [alert] = w.observe(p, w.result(90.0, version=8))
    assert alert.version == 8


def test_only_the_newest_result_of_a_series_in_a_pass_counts(world: Any) -> None:
    w = world()
    p = project(rule())
    old = w.result(99.0)
    w.clock.advance(timedelta(minutes=1))
    assert w.observe(p, w.result(50.0), old) == []


def test_delivers_to_the_notifiers_a_rule_names(world: Any) -> None:
    w = world()
    with http_receiver() as receiver:
        p = project(rule(notify=["hook", "log"]), notifiers=(hook(receiver.url),))
        [alert] = w.observe(p, w.result(85.0))
    assert alert.status == "delivered" and alert.attempts == 1
    assert alert.delivered_at == T0
    assert set(alert.deliveries) == {"hook", "log"}
    assert alert.deliveries["hook"] == {"ok": True, "error": None, "tries": 1,
                                        "at": T0.isoformat()}  # fmt: skip
    [request] = receiver.requests
    assert request.headers["X-Evergreen-Alert"] == alert.id
    assert w.alerts.get(alert.id).status == "delivered"


def test_undelivered_alerts_are_kept_and_redelivered_once_the_receiver_is_up(
    world: Any, caplog: pytest.LogCaptureFixture
) -> None:
    w = world()
    port = free_port()  # nothing listens there yet
    p = project(rule(notify=["hook", "log"]), notifiers=(hook(f"http://127.0.0.1:{port}/hook"),))
    with caplog.at_level(logging.WARNING, logger="evergreen.alerts"):
        [alert] = w.engine.evaluate(p, [w.result(85.0)])
        assert alert.status == "undelivered" and alert.attempts == 1
        assert alert.delivered_at is None
        assert alert.deliveries["log"]["ok"]
        failed = alert.deliveries["hook"]
        assert not failed["ok"] and failed["tries"] == 2
        assert failed["error"].startswith(f"POST http://127.0.0.1:{port}/hook failed")
        assert any("undelivered after round 1 of 10" in r.getMessage() for r in caplog.records)

        # Not before its wait (a minute after the first round) is over.
        assert w.engine.deliver_pending([p]) == []
        w.clock.advance(timedelta(minutes=1))
        with http_receiver(port=port) as receiver:
            [again] = w.engine.deliver_pending([p])
        assert again.id == alert.id
        assert (again.status, again.attempts) == ("delivered", 2)
        assert again.delivered_at == w.clock.now()
        assert again.deliveries["hook"]["ok"] and again.deliveries["hook"]["tries"] == 3
        assert len(receiver.requests) == 1
        assert w.engine.deliver_pending([p]) == []  # nothing left to do
    logged = [r for r in caplog.records if r.getMessage().startswith(f"alert {alert.id}: ")]
    assert len(logged) == 1  # the log notifier took it in round 1 and was not asked again


def test_redelivery_backs_off_and_gives_up_after_max_attempts(
    world: Any, caplog: pytest.LogCaptureFixture
) -> None:
    w = world(max_attempts=3)
    p = project(rule(notify=["hook"]), notifiers=(hook(f"http://127.0.0.1:{free_port()}/"),))
    [alert] = w.engine.evaluate(p, [w.result(85.0)])  # round 1
    assert w.engine.deliver_pending([p]) == []
    w.clock.advance(timedelta(minutes=1))
    assert w.engine.deliver_pending([p])[0].attempts == 2  # round 2, a minute later
    w.clock.advance(timedelta(seconds=119))
    assert w.engine.deliver_pending([p]) == []  # the wait doubled: two minutes
    w.clock.advance(timedelta(seconds=1))
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="evergreen.alerts"):
        [last] = w.engine.deliver_pending([p])
    assert (last.status, last.attempts) == ("undelivered", 3)
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "stays undelivered for good after 3 delivery rounds" in record.getMessage()
    w.clock.advance(timedelta(days=1))
    assert w.engine.deliver_pending([p]) == []
    assert w.alerts.get(alert.id).status == "undelivered"


def test_a_notifier_that_is_down_does_not_hold_up_the_pass(world: Any) -> None:
    w = world(budget=timedelta(seconds=1))
    slow = hook(f"http://127.0.0.1:{free_port()}/", retries=100, backoff=0.2)
    p = project(rule(name="a", notify=["hook", "log"]), rule(name="b", notify=["hook"]),
                notifiers=(slow,))  # fmt: skip
    start = time.monotonic()
    first, second = w.engine.evaluate(p, [w.result(85.0)])
    assert time.monotonic() - start < 2.5
    assert first.status == "undelivered"
    assert first.deliveries["log"]["ok"]  # sent alongside the hook, not after it
    assert first.deliveries["hook"]["error"].endswith("no time left for another try")
    # The second alert's round did not try the notifier that had just failed again.
    assert (second.attempts, second.status) == (1, "undelivered")
    skipped = second.deliveries["hook"]
    assert skipped["error"].startswith("not tried: failed earlier in this round")
    assert skipped["tries"] == 0 and skipped["at"] == first.deliveries["hook"]["at"]
    # Both wait for the next round; then each is tried again.
    assert w.engine.deliver_pending([p]) == []
    w.clock.advance(timedelta(minutes=1))
    assert [a.attempts for a in w.engine.deliver_pending([p])] == [2, 2]


def test_a_missing_secret_is_an_error_that_names_it(world: Any) -> None:
    w = world()
    with http_receiver() as receiver:
        p = project(rule(notify=["hook"]), notifiers=(hook(receiver.url, secret_env="NOPE"),))
        [alert] = w.observe(p, w.result(85.0))
    assert alert.status == "undelivered" and receiver.requests == []
    assert "environment variable NOPE" in alert.deliveries["hook"]["error"]


def test_try_notifiers_sends_a_test_alert(world: Any) -> None:
    with http_receiver() as receiver:
        p = project(notifiers=(hook(receiver.url), hook(f"http://127.0.0.1:{free_port()}/",
                                                        name="down")))  # fmt: skip
        outcomes = try_notifiers(p, T0, secrets=SECRETS.get)
        only = try_notifiers(p, T0, only="log", secrets=SECRETS.get)
    assert outcomes["hook"].ok and not outcomes["down"].ok
    assert set(outcomes) == {"hook", "down"} and set(only) == {"log"}
    [request] = receiver.requests
    assert b'"test":true' in request.body
    with pytest.raises(NotFound, match="has no notifier 'nope'; it has: down, hook, log"):
        try_notifiers(p, T0, only="nope")


def test_two_controllers_never_send_an_alert_twice(world: Any) -> None:
    w = world()
    other = AlertEngine(w.alerts, w.clock, SECRETS.get)
    with http_receiver() as receiver:
        p = project(*[rule(name=f"r{i}", notify=["hook"]) for i in range(6)],
                    notifiers=(hook(receiver.url),))  # fmt: skip
        raised = w.engine.check(p, [w.result(85.0)])  # stored, not delivered yet
        barrier = threading.Barrier(2)

        def deliver(engine: AlertEngine) -> list[AlertRow]:
            barrier.wait()
            return engine.deliver_pending([p])

        with ThreadPoolExecutor(2) as pool:
            mine, theirs = pool.map(deliver, [w.engine, other])
    assert len(raised) == 6
    assert sorted(a.id for a in mine + theirs) == sorted(a.id for a in raised)
    ids = sorted(r.headers["X-Evergreen-Alert"] for r in receiver.requests)
    assert ids == sorted(a.id for a in raised)
    assert {a.status for a in w.alerts.list()} == {"delivered"}
