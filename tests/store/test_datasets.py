"""Dataset versions in the metadata store, on every backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from evergreen.store.database import Database
from evergreen.store.datasets import DatasetRepository
from evergreen.store.tables import DatasetVersionRow
from store.racing import race

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def dataset_row(dataset_id: str, created_at: datetime = T0) -> DatasetVersionRow:
    return DatasetVersionRow(
        id=dataset_id,
        created_at=created_at,
        source="/data/day.csv",
        format="csv",
        rows=731,
        columns=["instant", "cnt"],
        files=[{"name": "day.csv", "sha256": "a" * 64, "size": 57569, "rows": 731}],
        schema_json={"instant": "int64", "cnt": "int64"},
        tags={"origin": "uci"},
    )


@pytest.fixture
def datasets(db: Database) -> DatasetRepository:
    return DatasetRepository(db)


def test_add_if_absent_round_trips(datasets: DatasetRepository) -> None:
    datasets.add_if_absent(dataset_row("ds-0123456789abcdef"))
    stored = datasets.get("ds-0123456789abcdef")
    assert stored is not None
    assert stored.files == [{"name": "day.csv", "sha256": "a" * 64, "size": 57569, "rows": 731}]
    assert (stored.columns, stored.tags) == (["instant", "cnt"], {"origin": "uci"})
    assert stored.created_at == T0


def test_add_if_absent_keeps_the_first_version(datasets: DatasetRepository) -> None:
    first = datasets.add_if_absent(dataset_row("ds-1"))
    again = dataset_row("ds-1", created_at=T0 + timedelta(days=1))
    again.tags = {"origin": "copy"}

    returned = datasets.add_if_absent(again)

    assert (returned.created_at, returned.tags) == (first.created_at, {"origin": "uci"})
    assert len(datasets.list()) == 1


def test_find_by_prefix_and_list_newest_first(datasets: DatasetRepository) -> None:
    for n, dataset_id in enumerate(["ds-aaa1", "ds-aaa2", "ds-bbb1"]):
        datasets.add_if_absent(dataset_row(dataset_id, T0 + timedelta(hours=n)))

    assert sorted(d.id for d in datasets.find_by_prefix("ds-aaa")) == ["ds-aaa1", "ds-aaa2"]
    assert [d.id for d in datasets.find_by_prefix("ds-bbb")] == ["ds-bbb1"]
    assert [d.id for d in datasets.list()] == ["ds-bbb1", "ds-aaa2", "ds-aaa1"]
    assert [d.id for d in datasets.list(limit=1)] == ["ds-bbb1"]
    assert datasets.get("ds-zzz") is None


def test_add_if_absent_from_many_writers_at_once_keeps_one_version(db: Database) -> None:
    """Runs of several projects snapshot the same files at the same moment (two controllers
    on one queue): every writer gets the one stored version, none an error."""
    writers, rounds = 6, 30
    repositories = [DatasetRepository(db) for _ in range(writers)]

    def write(n: int, r: int) -> datetime:
        row = dataset_row(f"ds-race-{r}", created_at=T0 + timedelta(seconds=n))
        return repositories[n].add_if_absent(row).created_at

    got, errors = race(writers, rounds, write)

    assert errors == []
    stored = {row.id: row.created_at for row in DatasetRepository(db).list(limit=1000)}
    assert len(stored) == rounds
    for r in range(rounds):  # every writer was handed the version that was kept
        assert {got[n][r] for n in range(writers)} == {stored[f"ds-race-{r}"]}
