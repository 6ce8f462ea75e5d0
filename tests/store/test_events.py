"""Trigger events as a durable work queue with leases, on every backend."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from evergreen.core.ids import new_id
from evergreen.store.database import Database
from evergreen.store.events import EventRepository
from evergreen.store.tables import TriggerEventRow

T0 = datetime(2026, 1, 1, tzinfo=UTC)
LEASE = timedelta(minutes=5)


def event(at: datetime = T0, project: str = "bikes") -> TriggerEventRow:
    return TriggerEventRow(
        id=new_id("evt"),
        created_at=at,
        project=project,
        kind="manual",
        reason="test",
        evidence={"rows": 10},
        status="pending",
        attempts=0,
    )


def stored(events: EventRepository, event_id: str) -> TriggerEventRow:
    row = events.get(event_id)
    assert row is not None
    return row


def claim(events: EventRepository, owner: str, now: datetime = T0) -> TriggerEventRow:
    row = events.claim(owner, now=now, lease=LEASE)
    assert row is not None, f"{owner} found nothing to claim"
    return row


@pytest.fixture
def events(db: Database) -> EventRepository:
    return EventRepository(db)


def test_claim_leases_the_oldest_pending_event(events: EventRepository) -> None:
    newer = events.add(event(T0 + timedelta(minutes=1)))
    older = events.add(event(T0))

    claimed = events.claim("a", now=T0, lease=LEASE)

    assert claimed is not None
    assert claimed.id == older.id
    assert (claimed.status, claimed.lease_owner, claimed.attempts) == ("leased", "a", 1)
    assert claimed.lease_expires_at == T0 + LEASE
    assert stored(events, newer.id).status == "pending"


def test_second_claimer_gets_the_next_event_then_none(events: EventRepository) -> None:
    first = events.add(event(T0))
    second = events.add(event(T0 + timedelta(seconds=1)))

    a, b = claim(events, "a"), claim(events, "b")

    assert (a.id, a.lease_owner) == (first.id, "a")
    assert (b.id, b.lease_owner) == (second.id, "b")
    assert events.claim("c", now=T0, lease=LEASE) is None


def test_claim_on_an_empty_queue_is_none(events: EventRepository) -> None:
    assert events.claim("a", now=T0, lease=LEASE) is None


def test_expired_lease_can_be_claimed_again(events: EventRepository) -> None:
    added = events.add(event())
    events.claim("a", now=T0, lease=LEASE)

    assert events.claim("b", now=T0 + LEASE - timedelta(seconds=1), lease=LEASE) is None
    retaken = claim(events, "b", now=T0 + LEASE + timedelta(seconds=1))

    assert (retaken.id, retaken.lease_owner, retaken.attempts) == (added.id, "b", 2)
    assert not events.finish(added.id, "a", status="done", at=T0 + LEASE)
    assert events.finish(added.id, "b", status="done", at=T0 + LEASE)


def test_finish_by_the_wrong_owner_returns_false(events: EventRepository) -> None:
    added = events.add(event())
    events.claim("a", now=T0, lease=LEASE)

    assert not events.finish(added.id, "b", status="done", at=T0)

    row = stored(events, added.id)
    assert (row.status, row.lease_owner, row.finished_at) == ("leased", "a", None)


def test_finish_of_an_unclaimed_event_returns_false(events: EventRepository) -> None:
    added = events.add(event())
    assert not events.finish(added.id, "a", status="done", at=T0)
    assert not events.finish("evt-missing", "a", status="done", at=T0)
    assert stored(events, added.id).status == "pending"


def test_finished_events_are_recorded_and_never_claimed_again(events: EventRepository) -> None:
    done = events.add(event())
    failed = events.add(event(T0 + timedelta(seconds=1)))
    claim(events, "a")
    claim(events, "a")
    at = T0 + timedelta(minutes=1)

    assert events.finish(done.id, "a", status="done", at=at, run_id="run-1")
    assert events.finish(failed.id, "a", status="failed", at=at, error="boom")

    row = stored(events, done.id)
    assert (row.status, row.run_id, row.finished_at) == ("done", "run-1", at)
    row = stored(events, failed.id)
    assert (row.status, row.error, row.finished_at) == ("failed", "boom", at)
    assert events.open_events("bikes") == []
    assert events.claim("b", now=T0 + 2 * LEASE, lease=LEASE) is None


def test_an_event_is_given_up_after_max_attempts(events: EventRepository) -> None:
    events.add(event())
    now = T0
    for _ in range(2):
        assert events.claim("a", now=now, lease=LEASE, max_attempts=2) is not None
        now += 2 * LEASE
    assert events.claim("a", now=now, lease=LEASE, max_attempts=2) is None


def test_open_events_are_a_projects_pending_and_leased_ones_oldest_first(
    events: EventRepository,
) -> None:
    leased = events.add(event(T0))
    pending = events.add(event(T0 + timedelta(seconds=2)))
    events.add(event(T0 + timedelta(seconds=1), project="other"))
    events.claim("a", now=T0, lease=LEASE)

    assert [e.id for e in events.open_events("bikes")] == [leased.id, pending.id]
    assert [e.project for e in events.list()] == ["bikes", "other", "bikes"]
    assert len(events.list("bikes")) == 2


def test_concurrent_claims_never_hand_one_event_to_two_owners(events: EventRepository) -> None:
    total, workers = 120, 4
    for i in range(total):
        events.add(event(T0 + timedelta(milliseconds=i)))
    start = threading.Barrier(workers)

    def drain(owner: str) -> list[str]:
        start.wait()
        claimed = []
        while (row := events.claim(owner, now=T0, lease=LEASE)) is not None:
            assert row.lease_owner == owner
            claimed.append(row.id)
        return claimed

    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(drain, [f"controller-{n}" for n in range(workers)]))

    everything = [event_id for claimed in results for event_id in claimed]
    assert len(everything) == len(set(everything)) == total
    for owner, claimed in enumerate(results):
        for event_id in claimed:
            row = stored(events, event_id)
            assert (row.lease_owner, row.attempts) == (f"controller-{owner}", 1)
