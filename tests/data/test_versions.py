"""Comparing, checking out and tracing dataset versions: diff, checkout, lineage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from evergreen.data.snapshots import DatasetStore
from evergreen.errors import InvalidState
from evergreen.store.artifacts import ArtifactStore
from evergreen.store.database import Database
from evergreen.store.datasets import DatasetRepository
from evergreen.store.tables import ModelRow, ModelVersionRow, PipelineRunRow

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def store(db: Database, artifacts: ArtifactStore) -> DatasetStore:
    return DatasetStore(DatasetRepository(db), artifacts)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_diff_names_files_rows_and_schema_changes(store: DatasetStore, tmp_path: Path) -> None:
    a = tmp_path / "a"
    write(a / "kept.csv", "x,y\n1,2\n")
    write(a / "changed.csv", "x,y\n1,2\n")
    write(a / "gone.csv", "x,y\n1,2\n")
    b = tmp_path / "b"
    write(b / "kept.csv", "x,y\n1,2\n")
    write(b / "changed.csv", "x,y\n1,2\n3,4\n")
    write(b / "new.csv", "x,y\n5,6\n")
    old, new = store.snapshot(str(a)), store.snapshot(str(b))

    diff = store.diff(old.id, new.id)

    assert (diff.files_added, diff.files_removed) == (["new.csv"], ["gone.csv"])
    assert [c.name for c in diff.files_changed] == ["changed.csv"]
    assert (diff.files_changed[0].rows_a, diff.files_changed[0].rows_b) == (1, 2)
    assert diff.files_unchanged == 1
    assert (diff.rows_a, diff.rows_b, diff.to_dict()["rows_delta"]) == (3, 4, 1)
    assert (diff.columns_added, diff.columns_removed, diff.dtypes_changed) == ([], [], [])
    assert not diff.identical


def test_diff_reports_column_and_dtype_changes(store: DatasetStore, tmp_path: Path) -> None:
    old = store.snapshot(str(write(tmp_path / "a" / "t.csv", "x,y,z\n1,2,3\n")))
    new = store.snapshot(str(write(tmp_path / "b" / "t.csv", "x,y,w\n1,two,3\n")))

    diff = store.diff(old.id[:8], new.id[:8]).to_dict()

    assert diff["columns_added"] == ["w"]
    assert diff["columns_removed"] == ["z"]
    assert diff["dtypes_changed"] == [{"column": "y", "dtype_a": "int64", "dtype_b": "object"}]


def test_diff_of_a_version_with_itself_is_identical(store: DatasetStore, tmp_path: Path) -> None:
    row = store.snapshot(str(write(tmp_path / "t.csv", "x\n1\n")))
    diff = store.diff(row.id, row.id)
    assert diff.identical and diff.files_unchanged == 1


def test_checkout_refuses_to_overwrite_different_bytes_unless_forced(
    store: DatasetStore, tmp_path: Path
) -> None:
    source = write(tmp_path / "data" / "t.csv", "x\n1\n")
    row = store.snapshot(str(source))
    target = tmp_path / "out"
    assert store.checkout(row.id, target) == [target / "t.csv"]
    assert store.checkout(row.id, target) == [target / "t.csv"]  # same bytes: fine

    write(target / "t.csv", "x\n2\n")
    with pytest.raises(InvalidState, match=r"would overwrite .*t\.csv.*--force"):
        store.checkout(row.id, target)
    assert (target / "t.csv").read_text() == "x\n2\n"

    store.checkout(row.id, target, force=True)
    assert (target / "t.csv").read_bytes() == source.read_bytes()


def test_lineage_lists_the_runs_and_model_versions_that_used_a_version(
    store: DatasetStore, db: Database, tmp_path: Path
) -> None:
    used = store.snapshot(str(write(tmp_path / "a" / "t.csv", "x\n1\n")))
    unused = store.snapshot(str(write(tmp_path / "b" / "t.csv", "x\n2\n")))
    with db.session() as s:
        for i, dataset in enumerate([used.id, used.id, unused.id]):
            s.add(
                PipelineRunRow(
                    id=f"run-{i}",
                    project="bikes",
                    status="succeeded",
                    started_at=T0 + timedelta(hours=i),
                    dataset_version_id=dataset,
                    code_version={},
                    params={},
                    outcome={},
                )
            )
        s.add(ModelRow(id="m-1", name="bike-demand", created_at=T0, task="regression"))
        s.flush()
        s.add(
            ModelVersionRow(
                id="mv-1",
                model_id="m-1",
                version=1,
                created_at=T0,
                stage="production",
                flavor="sklearn",
                artifact_uri="x",
                artifact_sha256="a" * 64,
                artifact_size=1,
                run_id="run-1",
                dataset_version_id=used.id,
                params={},
                metrics={},
                signature={},
                baseline={},
                gate={},
                code_version={},
                tags={},
            )
        )

    lineage = store.lineage(used.id).to_dict()

    assert [r["run_id"] for r in lineage["runs"]] == ["run-0", "run-1"]
    assert lineage["model_versions"] == [
        {"model": "bike-demand", "version": 1, "stage": "production", "run_id": "run-1"}
    ]
    assert store.lineage(unused.id).model_versions == []


def test_load_of_a_multi_file_jsonl_version(store: DatasetStore, tmp_path: Path) -> None:
    write(tmp_path / "d" / "1.jsonl", '{"x": 1}\n')
    write(tmp_path / "d" / "2.jsonl", '{"x": 2}\n')
    row = store.snapshot(str(tmp_path / "d"))
    pd.testing.assert_frame_equal(store.load(row.id), pd.DataFrame({"x": [1, 2]}))
