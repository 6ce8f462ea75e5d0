"""The alerts repository, and the monitor-series read rules need, on every backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from evergreen.core.ids import new_id
from evergreen.errors import InvalidInput, NotFound
from evergreen.store.alerts import AlertRepository
from evergreen.store.database import Database
from evergreen.store.predictions import PredictionRepository
from evergreen.store.tables import AlertRow, MonitorResultRow

T0 = datetime(2026, 11, 27, 8, tzinfo=UTC)
STALE = T0 - timedelta(minutes=1)  # rounds claimed before this are abandoned


def alert(at: datetime = T0, **fields: Any) -> AlertRow:
    row: dict[str, Any] = {
        "id": new_id("alert"), "at": at, "project": "bikes", "model": "bikes", "version": 3,
        "rule": "rmse-high", "series": "performance.rmse", "feature": None, "value": 92.3,
        "message": "bikes v3: performance.rmse 92.3 above 80 for 1 pass (672 labelled rows)",
        "details": {"notify": ["log"]}, "status": "pending", "attempts": 0, "deliveries": {},
        "delivered_at": None,
    }  # fmt: skip
    return AlertRow(**{**row, **fields})


@pytest.fixture
def alerts(db: Database) -> AlertRepository:
    return AlertRepository(db)


def test_list_filters_by_project_status_and_time_newest_first(alerts: AlertRepository) -> None:
    a = alerts.add(alert(T0))
    b = alerts.add(alert(T0 + timedelta(hours=1), status="undelivered"))
    c = alerts.add(alert(T0 + timedelta(hours=2), project="taxis", model="taxis"))
    assert [r.id for r in alerts.list()] == [c.id, b.id, a.id]
    assert [r.id for r in alerts.list(project="bikes")] == [b.id, a.id]
    assert [r.id for r in alerts.list(status="undelivered")] == [b.id]
    assert [r.id for r in alerts.list(since=T0 + timedelta(minutes=30))] == [c.id, b.id]
    assert [r.id for r in alerts.list(limit=1)] == [c.id]
    stored = alerts.get(a.id)
    assert stored.at == T0 and stored.details == {"notify": ["log"]} and stored.feature is None


def test_last_is_per_rule_model_and_feature(alerts: AlertRepository) -> None:
    alerts.add(alert(T0, feature="temp", series="input_drift.feature"))
    newest_temp = alerts.add(alert(T0 + timedelta(hours=1), feature="temp"))
    whole = alerts.add(alert(T0 + timedelta(minutes=5)))
    alerts.add(alert(T0 + timedelta(hours=2), rule="other"))
    assert alerts.last("bikes", "rmse-high", "bikes", "temp").id == newest_temp.id  # type: ignore[union-attr]
    assert alerts.last("bikes", "rmse-high", "bikes", None).id == whole.id  # type: ignore[union-attr]
    assert alerts.last("bikes", "rmse-high", "bikes", "hum") is None
    assert alerts.last("taxis", "rmse-high", "bikes", None) is None


def test_delivery_outcomes_and_what_is_left_to_deliver(alerts: AlertRepository) -> None:
    pending = alerts.add(alert(T0))
    failing = alerts.add(alert(T0 + timedelta(minutes=1)))
    done = alerts.add(alert(T0 + timedelta(minutes=2)))
    other = alerts.add(alert(T0 + timedelta(minutes=3), project="taxis"))
    outcome = {"hook": {"ok": False, "error": "POST ... failed", "tries": 4, "at": T0.isoformat()}}
    alerts.record_delivery(failing.id, status="undelivered", deliveries=outcome, attempts=1,
                           delivered_at=None)  # fmt: skip
    alerts.record_delivery(done.id, status="delivered", deliveries={"log": {"ok": True}},
                           attempts=1, delivered_at=T0)  # fmt: skip
    assert [r.id for r in alerts.to_deliver(["bikes"], 10, STALE)] == [pending.id, failing.id]
    assert [r.id for r in alerts.to_deliver(None, 10, STALE)] == [
        pending.id, failing.id, other.id
    ]  # fmt: skip
    assert [r.id for r in alerts.to_deliver(["bikes"], 1, STALE)] == [pending.id]
    stored = alerts.get(failing.id)
    assert (stored.status, stored.attempts, stored.deliveries) == ("undelivered", 1, outcome)
    assert alerts.get(done.id).delivered_at == T0
    with pytest.raises(NotFound, match="no alert 'alert-nope'"):
        alerts.record_delivery("alert-nope", status="delivered", deliveries={}, attempts=1,
                               delivered_at=T0)  # fmt: skip


def test_series_tail_reads_one_series_newest_first_skipping_thin_results(
    db: Database, alerts: AlertRepository
) -> None:
    results = PredictionRepository(db)

    def add(minutes: int, rows: int, **fields: Any) -> str:
        spec: dict[str, Any] = {
            "id": new_id("mon"), "at": T0 + timedelta(minutes=minutes), "model": "bikes",
            "version": 3, "kind": "input_drift.feature", "value": 0.3, "rows": rows,
            "details": {}, "feature": "temp", **fields,
        }  # fmt: skip
        results.add_result(MonitorResultRow(**spec))
        return str(spec["id"])

    first = add(0, 500)
    add(10, 20)  # thin
    third = add(20, 500)
    add(25, 500, feature="hum")
    add(26, 500, version=4)
    add(27, 500, kind="input_drift")  # another series, per feature
    model_wide = add(28, 500, kind="input_drift", feature=None)
    add(30, 500)  # after `until`
    tail = alerts.series_tail(model="bikes", version=3, kind="input_drift.feature",
                              feature="temp", until=T0 + timedelta(minutes=20), min_rows=100,
                              limit=5)  # fmt: skip
    assert [r.id for r in tail] == [third, first]
    whole = alerts.series_tail(model="bikes", version=3, kind="input_drift", feature=None,
                               until=T0 + timedelta(hours=1), min_rows=0, limit=5)  # fmt: skip
    assert [r.id for r in whole] == [model_wide]  # the whole-model series has no feature


def test_a_delivery_round_is_claimed_once(alerts: AlertRepository) -> None:
    row = alerts.add(alert(T0))
    assert alerts.claim(row.id, 0, T0, STALE)
    assert not alerts.claim(row.id, 0, T0, STALE)  # another controller saw the same row
    stored = alerts.get(row.id)
    assert (stored.attempts, stored.status, stored.claimed_at) == (1, "delivering", T0)
    alerts.record_delivery(row.id, status="delivered", deliveries={}, attempts=1,
                           delivered_at=T0)  # fmt: skip
    assert not alerts.claim(row.id, 1, T0, STALE)  # nothing left to deliver


def test_a_round_in_flight_is_not_claimed_again_until_it_is_abandoned(
    alerts: AlertRepository,
) -> None:
    row = alerts.add(alert(T0))
    assert alerts.claim(row.id, 0, T0, STALE)
    # a controller that lists alerts after the claim sees attempts 1 and must not start round 2
    assert alerts.to_deliver(["bikes"], 10, STALE) == []
    assert not alerts.claim(row.id, 1, T0 + timedelta(seconds=5), STALE)
    # the claimer died: once its claim is older than the stale bound, the round is taken over
    later = T0 + timedelta(minutes=2)
    assert [r.id for r in alerts.to_deliver(["bikes"], 10, later - timedelta(minutes=1))] == [
        row.id
    ]
    assert alerts.claim(row.id, 1, later, later - timedelta(minutes=1))
    assert (alerts.get(row.id).attempts, alerts.get(row.id).claimed_at) == (2, later)


def test_a_round_ends_delivered_or_undelivered(alerts: AlertRepository) -> None:
    row = alerts.add(alert(T0))
    with pytest.raises(InvalidInput, match="ends delivered or undelivered, not 'delivering'"):
        alerts.record_delivery(row.id, status="delivering", deliveries={}, attempts=1,
                               delivered_at=None)  # fmt: skip
    assert alerts.get(row.id).status == "pending"
