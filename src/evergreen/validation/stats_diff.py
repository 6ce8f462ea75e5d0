"""How each column's statistics moved between two datasets (what ``evergreen data diff`` shows
beside the file and schema changes).

A delta lists, for every column in both, the summary figures that differ: count, null share,
distinct values, and for numeric columns min, max, mean and std; for categorical and boolean
columns, the frequent values that appeared or disappeared. Columns whose figures are all equal
are left out, so an unchanged dataset has no deltas.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from evergreen.validation.statistics import ColumnStatistics, DatasetStatistics

_NUMBERS = ("count", "null_ratio", "distinct", "min", "max", "mean", "std")
# Float noise from merged moments is not a change.
_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Change:
    a: float | None
    b: float | None

    @property
    def delta(self) -> float | None:
        return None if self.a is None or self.b is None else self.b - self.a


@dataclass(frozen=True)
class ColumnDelta:
    column: str
    kind_a: str
    kind_b: str
    changes: dict[str, Change] = field(default_factory=dict)
    values_added: list[str] = field(default_factory=list)
    values_removed: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "kind_a": self.kind_a,
            "kind_b": self.kind_b,
            "changes": {
                name: {"a": c.a, "b": c.b, "delta": c.delta} for name, c in self.changes.items()
            },
            "values_added": self.values_added,
            "values_removed": self.values_removed,
        }

    def describe(self) -> str:
        """One line: ``temp: mean 0.49 → 0.51 (+0.02); nulls 0.0% → 1.2%``."""
        parts = [f"kind {self.kind_a} → {self.kind_b}"] if self.kind_a != self.kind_b else []
        for name, change in self.changes.items():
            parts.append(f"{_LABELS.get(name, name)} {_show(name, change)}")
        if self.values_added:
            parts.append("new values " + ", ".join(self.values_added[:5]))
        if self.values_removed:
            parts.append("values gone " + ", ".join(self.values_removed[:5]))
        return f"{self.column}: " + "; ".join(parts)


_LABELS = {"null_ratio": "nulls", "count": "non-null"}


def _show(name: str, change: Change) -> str:
    def one(value: float | None) -> str:
        if value is None:
            return "—"
        if name == "null_ratio":
            return f"{value:.1%}"
        return f"{value:.6g}"

    delta = change.delta
    if delta is None or name == "null_ratio":
        return f"{one(change.a)} → {one(change.b)}"
    return f"{one(change.a)} → {one(change.b)} ({delta:+.4g})"


def statistics_delta(a: DatasetStatistics, b: DatasetStatistics) -> list[ColumnDelta]:
    """The columns (of both, in ``a``'s order) whose statistics differ from ``a`` to ``b``."""
    deltas = []
    for name, column_a in a.columns.items():
        column_b = b.columns.get(name)
        if column_b is None:
            continue
        delta = _column_delta(column_a, column_b)
        if (
            delta.changes
            or delta.values_added
            or delta.values_removed
            or delta.kind_a != delta.kind_b
        ):
            deltas.append(delta)
    return deltas


def _column_delta(a: ColumnStatistics, b: ColumnStatistics) -> ColumnDelta:
    changes = {}
    for name in _NUMBERS:
        value_a, value_b = _figure(a, name), _figure(b, name)
        if not _same(value_a, value_b):
            changes[name] = Change(value_a, value_b)
    top_a, top_b = set(a.top_values or {}), set(b.top_values or {})
    return ColumnDelta(
        a.name,
        a.kind,
        b.kind,
        changes,
        values_added=sorted(top_b - top_a),
        values_removed=sorted(top_a - top_b),
    )


def _figure(column: ColumnStatistics, name: str) -> float | None:
    value = getattr(column, name)
    return None if value is None else float(value)


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return abs(a - b) <= _TOLERANCE * max(1.0, abs(a), abs(b))
