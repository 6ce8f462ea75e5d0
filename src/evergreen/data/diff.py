"""What changed between two dataset versions: files, row counts and schema."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from evergreen.store.tables import DatasetVersionRow


@dataclass(frozen=True)
class FileChange:
    name: str
    sha256_a: str
    sha256_b: str
    rows_a: int
    rows_b: int


@dataclass(frozen=True)
class DtypeChange:
    column: str
    dtype_a: str
    dtype_b: str


@dataclass(frozen=True)
class DatasetDiff:
    a: str
    b: str
    rows_a: int
    rows_b: int
    files_added: list[str] = field(default_factory=list)
    files_removed: list[str] = field(default_factory=list)
    files_changed: list[FileChange] = field(default_factory=list)
    files_unchanged: int = 0
    columns_added: list[str] = field(default_factory=list)
    columns_removed: list[str] = field(default_factory=list)
    dtypes_changed: list[DtypeChange] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return self.a == self.b or not (
            self.files_added
            or self.files_removed
            or self.files_changed
            or self.columns_added
            or self.columns_removed
            or self.dtypes_changed
        )

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rows_delta": self.rows_b - self.rows_a}


def diff_versions(a: DatasetVersionRow, b: DatasetVersionRow) -> DatasetDiff:
    files_a = {f["name"]: f for f in a.files}
    files_b = {f["name"]: f for f in b.files}
    changed = [
        FileChange(
            name,
            files_a[name]["sha256"],
            files_b[name]["sha256"],
            files_a[name]["rows"],
            files_b[name]["rows"],
        )
        for name in sorted(files_a.keys() & files_b.keys())
        if files_a[name]["sha256"] != files_b[name]["sha256"]
    ]
    schema_a, schema_b = dict(a.schema_json), dict(b.schema_json)
    return DatasetDiff(
        a=a.id,
        b=b.id,
        rows_a=a.rows,
        rows_b=b.rows,
        files_added=sorted(files_b.keys() - files_a.keys()),
        files_removed=sorted(files_a.keys() - files_b.keys()),
        files_changed=changed,
        files_unchanged=len(files_a.keys() & files_b.keys()) - len(changed),
        columns_added=[c for c in b.columns if c not in schema_a],
        columns_removed=[c for c in a.columns if c not in schema_b],
        dtypes_changed=[
            DtypeChange(c, str(schema_a[c]), str(schema_b[c]))
            for c in a.columns
            if c in schema_b and str(schema_a[c]) != str(schema_b[c])
        ],
    )
