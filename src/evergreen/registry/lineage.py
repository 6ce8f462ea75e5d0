"""Lineage of a model version: the run that trained it, its steps, the trigger event that
started it (and that event's evidence), the dataset version and the code.

*Why was this model retrained, on what, and with which code?* has one answer here; the way back,
from a dataset version to every model trained on it, is ``data.lineage``.
"""

from __future__ import annotations

from typing import Any

from evergreen.data.snapshots import DatasetStore
from evergreen.errors import NotFound
from evergreen.registry.registry import Registry
from evergreen.store.events import EventRepository
from evergreen.store.runs import RunRepository


def model_lineage(
    registry: Registry,
    runs: RunRepository,
    events: EventRepository,
    datasets: DatasetStore,
    name: str,
    version: int,
) -> dict[str, Any]:
    """A JSON-ready record of where version ``version`` of ``name`` came from."""
    row = registry.get_version(name, version)
    record: dict[str, Any] = {
        "model": name,
        "version": row.version,
        "stage": row.stage,
        "created_at": row.created_at.isoformat(),
        "artifact_sha256": row.artifact_sha256,
        "code_version": row.code_version,
        "gate": row.gate,
        "validation": row.validation,
        "run": None,
        "trigger": None,
        "dataset": None,
    }
    run = runs.get_run(row.run_id) if row.run_id else None
    if run is not None:
        record["run"] = {
            "id": run.id,
            "status": run.status,
            "started_at": run.started_at.isoformat(),
            "finished_at": run.finished_at.isoformat() if run.finished_at else None,
            "params": run.params,
            "steps": [
                {"name": s.name, "status": s.status, "outputs": s.outputs}
                for s in runs.steps(run.id)
            ],
        }
    event_id = (run.trigger_event_id if run is not None else None) or row.tags.get(
        "trigger_event_id"
    )
    event = events.get(event_id) if event_id else None
    if event is not None:
        record["trigger"] = {
            "id": event.id,
            "kind": event.kind,
            "reason": event.reason,
            "created_at": event.created_at.isoformat(),
            "evidence": event.evidence,
        }
    elif row.tags.get("reason"):
        record["trigger"] = {"id": None, "kind": "manual", "reason": row.tags["reason"]}
    if row.dataset_version_id:
        try:
            dataset = datasets.get(row.dataset_version_id)
        except NotFound:
            dataset = None
        if dataset is not None:
            record["dataset"] = {
                "id": dataset.id,
                "source": dataset.source,
                "rows": dataset.rows,
                "files": [f["name"] for f in dataset.files],
                "created_at": dataset.created_at.isoformat(),
            }
    return record
