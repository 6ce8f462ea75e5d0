"""Schemas versioned with the data: the YAML a person reviewed (or edited) saved with a dataset
version, so that validating against that version uses the reviewed schema, not a fresh guess.

``evergreen data schema VERSION --save`` saves the inferred schema as is; ``--set FILE`` saves
an edited file after checking it parses. Saving again adds to the version's history, and the
newest is current. Without a saved schema, the schema is inferred from the version's statistics.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

from evergreen.core.clock import Clock, SystemClock
from evergreen.core.ids import ordered_id
from evergreen.data.snapshots import DatasetStore
from evergreen.store.datasets import DatasetSchemaRepository
from evergreen.store.tables import DatasetSchemaRow
from evergreen.validation.schema import Schema, infer_schema
from evergreen.validation.statistics import compute_statistics

Origin = Literal["inferred", "edited"]


@dataclass(frozen=True)
class VersionSchema:
    """The schema that applies to a dataset version and where it came from."""

    schema: Schema
    origin: Literal["inferred", "edited", "inferred now"]
    saved: DatasetSchemaRow | None = None


class SavedSchemas:
    def __init__(
        self,
        datasets: DatasetStore,
        repository: DatasetSchemaRepository,
        clock: Clock | None = None,
    ) -> None:
        self.datasets, self.repository = datasets, repository
        self.clock = clock or SystemClock()

    def save(
        self, version: str, schema: Schema, origin: Origin, note: str = ""
    ) -> DatasetSchemaRow:
        """Save ``schema`` as the current schema of ``version`` (an id or unique prefix)."""
        row = self.datasets.get(version)
        text = schema.to_yaml()
        return self.repository.add(
            DatasetSchemaRow(
                id=ordered_id("sch"),
                dataset_version_id=row.id,
                created_at=self.clock.now(),
                origin=origin,
                sha256=hashlib.sha256(text.encode()).hexdigest(),
                yaml_text=text,
                note=note,
            )
        )

    def saved(self, version: str) -> VersionSchema | None:
        """The newest schema saved with ``version``; None when none is."""
        row = self.datasets.get(version)
        current = self.repository.current(row.id)
        if current is None:
            return None
        schema = Schema.from_yaml(current.yaml_text, source=f"schema {current.id} of {row.id}")
        origin: Literal["inferred", "edited"] = (
            "edited" if current.origin == "edited" else "inferred"
        )
        return VersionSchema(schema, origin, current)

    def of(self, version: str, *, label: str | None = None) -> VersionSchema:
        """The saved schema of ``version``, else one inferred from its rows now."""
        found = self.saved(version)
        if found is not None:
            return found
        inferred = infer_schema(compute_statistics(self.datasets.load(version)), label=label)
        return VersionSchema(inferred, "inferred now")

    def history(self, version: str) -> list[DatasetSchemaRow]:
        return self.repository.history(self.datasets.get(version).id)
