"""Persistence: a drift counts only once it holds for ``k`` consecutive windows.

A monitor checks one window at a time, so persistence needs state: :class:`DriftTracker` keeps,
per column, how many windows in a row it has drifted, and rewrites each new report so a column
is drifted only when its run reaches ``persistence``. The data set follows from the persistent
columns (their share against the report's ``share_threshold``), so it too drifts only after
``k`` windows in a row in which enough columns drifted. ``to_dict``/``from_dict`` let a monitor
store the tracker between checks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from evergreen.validation.drift.base import DriftReport
from evergreen.validation.parsing import parse_model


class _TrackerState(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str = "drift-tracker/v1"
    persistence: int = Field(ge=1)
    runs: dict[str, int] = Field(default_factory=dict)


class DriftTracker:
    """Per-column runs of drifted windows; see the module docs."""

    def __init__(self, persistence: int = 2, runs: Mapping[str, int] | None = None) -> None:
        state = _TrackerState(persistence=persistence, runs=dict(runs or {}))
        self.persistence = state.persistence
        self.runs: dict[str, int] = state.runs

    def update(self, report: DriftReport) -> DriftReport:
        """Record one window's ``report``; return it with persistence applied."""
        columns = []
        for result in report.columns:
            run = self.runs.get(result.column, 0) + 1 if result.drifted else 0
            self.runs[result.column] = run
            if result.drifted and run < self.persistence:
                result = result.model_copy(
                    update={
                        "drifted": False,
                        "note": (
                            f"drifted in {run} consecutive window(s); "
                            f"{self.persistence} are required"
                        ),
                    }
                )
            columns.append(result)
        return DriftReport(columns=columns, share_threshold=report.share_threshold)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-compatible dict of the tracker's state."""
        state = _TrackerState(persistence=self.persistence, runs=dict(self.runs))
        return state.model_dump(mode="json")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "<drift tracker>") -> DriftTracker:
        """Read a tracker written by ``to_dict``."""
        state = parse_model(_TrackerState, data, source=source, what="drift tracker")
        return cls(state.persistence, state.runs)

    def __repr__(self) -> str:
        return f"DriftTracker(persistence={self.persistence!r}, runs={self.runs!r})"
