"""The outcome of validating one batch: its anomalies and, when a reference was given, drift."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, computed_field

from evergreen.validation.anomalies import Anomaly
from evergreen.validation.drift.base import DriftReport
from evergreen.validation.html import render_html
from evergreen.validation.parsing import parse_model
from evergreen.validation.statistics import DatasetStatistics, compute_statistics


class ValidationReport(BaseModel):
    """Anomalies and drift of one batch; it ``passed`` when no anomaly is an error.

    Drift never fails a report by itself: whether drift should stop a run or trigger a
    retrain is the caller's policy.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    anomalies: list[Anomaly]
    drift: DriftReport | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def passed(self) -> bool:
        return not self.errors

    @property
    def errors(self) -> list[Anomaly]:
        """The error-severity anomalies, in report order."""
        return [anomaly for anomaly in self.anomalies if anomaly.severity == "error"]

    @property
    def warnings(self) -> list[Anomaly]:
        """The warning-severity anomalies, in report order."""
        return [anomaly for anomaly in self.anomalies if anomaly.severity == "warning"]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-compatible dict, including the derived ``passed``."""
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], *, source: str = "<validation report>"
    ) -> ValidationReport:
        """Read a report written by ``to_dict`` (derived fields are recomputed)."""
        inputs = {key: value for key, value in data.items() if key != "passed"}
        drift = inputs.get("drift")
        if isinstance(drift, Mapping):
            derived = ("drift_share", "dataset_drift")
            inputs["drift"] = {key: value for key, value in drift.items() if key not in derived}
        return parse_model(cls, inputs, source=source, what="validation report")

    def to_html(
        self,
        reference: DatasetStatistics | pd.DataFrame | None = None,
        current: DatasetStatistics | pd.DataFrame | None = None,
        *,
        title: str = "Validation report",
    ) -> str:
        """A self-contained HTML page: anomalies, drift, and a plot per drifted column.

        The plots compare the ``reference`` and ``current`` data (frames or their statistics);
        without both, the page has the tables only.
        """
        return render_html(
            title,
            self.passed,
            self.anomalies,
            self.drift,
            _statistics(reference),
            _statistics(current),
        )

    def summary(self) -> str:
        """A few readable lines: the verdict, one line per anomaly, then drift."""
        errors, warnings = len(self.errors), len(self.warnings)
        verdict = "passed" if self.passed else "FAILED"
        lines = [f"validation {verdict}: {_count(errors, 'error')}, {_count(warnings, 'warning')}"]
        lines += [f"  {a.severity:<7} {a.check}: {a.message}" for a in self.anomalies]
        lines.append(_drift_line(self.drift))
        return "\n".join(lines)


def _statistics(data: DatasetStatistics | pd.DataFrame | None) -> DatasetStatistics | None:
    return compute_statistics(data) if isinstance(data, pd.DataFrame) else data


def _drift_line(drift: DriftReport | None) -> str:
    if drift is None:
        return "drift: not checked"
    tested = len(drift.tested_columns)
    line = (
        f"drift: {len(drift.drifted_columns)} of {tested} tested columns drifted "
        f"({drift.drift_share:.0%}; dataset drift at {drift.share_threshold:.0%}: "
        f"{'yes' if drift.dataset_drift else 'no'})"
    )
    if drift.drifted_columns:
        line += f": {', '.join(drift.drifted_columns)}"
    if drift.skipped_columns:
        line += f"; skipped {', '.join(drift.skipped_columns)}"
    return line


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
