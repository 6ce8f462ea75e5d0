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

    def worse(a: float, b: float) -> bool:
        return a < b if metric.greater_is_better else a > b

    broken: list[str] = []
    if trigger.bound is not None and worse(value, trigger.bound):
        broken.append(f"beyond the bound {trigger.bound:.4g}")
    own = version.metrics.get(metric.name)
    limit: float | None = None
    if trigger.margin is not None and isinstance(own, int | float):
        factor = 1 - trigger.margin if metric.greater_is_better else 1 + trigger.margin
        limit = float(own) * factor
        if worse(value, limit):
            broken.append(f"{trigger.margin:.0%} worse than its own holdout score {float(own):.4g}")
    if not broken:
        return None
    window = {
        "start": result.window_start.isoformat() if result.window_start else None,
        "end": result.window_end.isoformat() if result.window_end else None,
    }
    return PerformanceSignal(
        reason=(
            f"{project.name} v{version.version}: live {metric.name} {value:.4g} on "
            f"{result.rows} labelled predictions is " + " and ".join(broken)
        ),
        evidence={
            "metric": metric.name,
            "value": value,
            "labelled": result.rows,
            "bound": trigger.bound,
            "margin": trigger.margin,
            "holdout_score": own,
            "limit": limit,
            "window": window,
            "monitor_result": result.id,
            "details": result.details,
        },
    )
