"""Endpoint policies and feedback labels written by many writers at once, on every backend
(gateway workers and operators share one database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from evergreen.store.database import Database
from evergreen.store.endpoints import EndpointRepository, FeedbackRepository
from evergreen.store.tables import AuditEventRow
from store.racing import race

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def audit(n: int, r: int) -> AuditEventRow:
    return AuditEventRow(
        id=f"audit-{r}-{n}",
        at=T0,
        actor=f"op{n}",
        action="put_endpoint",
        subject=f"endpoint/e{r}",
        from_state=None,
        to_state=None,
        reason="",
        details={},
    )


def test_creating_one_endpoint_from_many_writers_at_once_keeps_every_change(
    db: Database,
) -> None:
    writers, rounds = 5, 20
    repositories = [EndpointRepository(db) for _ in range(writers)]

    def write(n: int, r: int) -> str:
        policy = {"variants": [{"model": f"m{n}"}]}
        return repositories[n].put(f"e{r}", policy, at=T0, actor=f"op{n}", audit=audit(n, r)).name

    got, errors = race(writers, rounds, write)

    assert errors == []
    assert all(names == [f"e{r}" for r in range(rounds)] for names in got)
    rows = EndpointRepository(db).list()
    assert len(rows) == rounds
    for row in rows:  # the last writer's policy and name agree: no torn row
        assert row.policy == {"variants": [{"model": f"m{row.updated_by[2:]}"}]}
    with db.session() as s:  # every writer's change is in the audit trail
        assert s.query(AuditEventRow).count() == writers * rounds


def test_labels_for_one_request_from_many_writers_at_once_keep_one(db: Database) -> None:
    writers, rounds = 5, 20
    repositories = [FeedbackRepository(db) for _ in range(writers)]

    def write(n: int, r: int) -> int:
        labels = [(f"req-{r}-{k}", n) for k in range(3)]
        return repositories[n].add(labels, T0 + timedelta(seconds=n))

    got, errors = race(writers, rounds, write)

    assert errors == []
    assert all(counts == [3] * rounds for counts in got)
    ids = [f"req-{r}-{k}" for r in range(rounds) for k in range(3)]
    labels = FeedbackRepository(db).labels(ids)
    assert set(labels) == set(ids)
    assert set(labels.values()) <= set(range(writers))
