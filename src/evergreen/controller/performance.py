"""The performance trigger: is the serving version's live metric worse than the project allows?

It reads the monitor's ``performance.<metric>`` series for the production version (the metric on
the labelled rows of the newest window) and compares it with an absolute ``bound`` or with the
version's own holdout score less a relative ``margin``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from evergreen.pipeline.project import Project
from evergreen.store.tables import ModelVersionRow, MonitorResultRow
from evergreen.training.metrics import get_metric


@dataclass(frozen=True)
class PerformanceSignal:
    reason: str
    evidence: dict[str, Any]


def series_name(metric: str) -> str:
    return f"performance.{metric}"


def check_performance(
    project: Project, version: ModelVersionRow, result: MonitorResultRow | None
) -> PerformanceSignal | None:
    """A signal when ``result`` (the newest performance value of ``version``) breaks the
    project's performance trigger; None when it holds, or there is too little evidence."""
    trigger = project.triggers.performance
    if trigger is None or result is None:
        return None
    metric = get_metric(trigger.metric or project.metric_name)
    if result.rows < trigger.min_labels:
        return None
    value = float(result.value)
    own = version.metrics.get(metric.name)
    holdout = float(own) if isinstance(own, int | float) else None
    why = trigger.breached(metric, value, holdout)
    if why is None:
        return None
    window = {
        "start": result.window_start.isoformat() if result.window_start else None,
        "end": result.window_end.isoformat() if result.window_end else None,
    }
    return PerformanceSignal(
        reason=(
            f"{project.name} v{version.version}: live {metric.name} {value:.4g} on "
            f"{result.rows} labelled predictions {why}"
        ),
        evidence={
            "metric": metric.name,
            "value": value,
            "labelled": result.rows,
            "bound": trigger.bound,
            "margin": trigger.margin,
            "holdout_score": holdout,
            "limit": trigger.limit(metric, holdout),
            "window": window,
            "monitor_result": result.id,
            "details": result.details,
        },
    )
