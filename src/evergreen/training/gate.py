"""The promotion gate: a candidate against the production version, on the same holdout."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from evergreen.training.metrics import get_metric
from evergreen.training.slices import SliceScore


class GateSpec(BaseModel):
    """When a candidate may replace production.

    ``min_improvement`` is relative to the production score (0.0: at least as good;
    0.01: one percent better); ``max_value``/``min_value`` are absolute bounds on the metric.
    ``slices`` names holdout columns whose every slice (value, or quantile bin of a many-valued
    number; see :mod:`evergreen.training.slices`) with at least ``min_slice_rows`` rows may be
    at most ``max_slice_regression`` worse than production on that slice (0.1: ten percent).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: str = "gate/v1"
    min_improvement: float = Field(default=0.0, ge=-1.0, le=1.0)
    max_value: float | None = None
    min_value: float | None = None
    slices: tuple[str, ...] = ()
    max_slice_regression: float = Field(default=0.1, ge=0.0)
    min_slice_rows: int = Field(default=30, ge=1)


class GateVerdict(BaseModel):
    model_config = ConfigDict(frozen=True)
    passed: bool
    metric: str
    candidate: float
    baseline: float | None
    baseline_version: int | None
    reason: str
    slices: list[dict[str, Any]] = []

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump()


def judge(
    spec: GateSpec,
    metric_name: str,
    candidate: float,
    baseline: float | None,
    baseline_version: int | None,
    slices: Sequence[SliceScore] = (),
) -> GateVerdict:
    """Decide and say why. A first model (no baseline) passes on the absolute bounds alone;
    with a baseline, it must also beat it overall and regress on no slice beyond the bound."""
    metric = get_metric(metric_name)

    def verdict(passed: bool, reason: str) -> GateVerdict:
        return GateVerdict(
            passed=passed,
            metric=metric_name,
            candidate=candidate,
            baseline=baseline,
            baseline_version=baseline_version,
            reason=reason,
            slices=[s.to_dict() for s in slices],
        )

    if spec.max_value is not None and candidate > spec.max_value:
        return verdict(False, f"{metric_name} {candidate:.4g} is above the bound {spec.max_value}")
    if spec.min_value is not None and candidate < spec.min_value:
        return verdict(False, f"{metric_name} {candidate:.4g} is below the bound {spec.min_value}")
    if baseline is None:
        return verdict(True, f"no production version to beat; {metric_name} {candidate:.4g}")
    margin = abs(baseline) * spec.min_improvement
    required = baseline + margin if metric.greater_is_better else baseline - margin
    ok = candidate >= required if metric.greater_is_better else candidate <= required
    word = "beats" if ok else "does not beat"
    reason = (
        f"candidate {metric_name} {candidate:.4g} {word} production v{baseline_version} "
        f"{baseline:.4g} (required {'≥' if metric.greater_is_better else '≤'} {required:.4g}) "
        "on the same holdout"
    )
    if not ok:
        return verdict(False, reason)
    regressed = [
        (s, r)
        for s in slices
        if (r := s.regression(metric.greater_is_better)) is not None
        and r > spec.max_slice_regression
    ]
    if regressed:
        worst = sorted(regressed, key=lambda pair: -pair[1])[:3]
        named = "; ".join(
            f"{s.column}={s.value} ({s.rows} rows): {s.candidate:.4g} vs {s.baseline:.4g}, {r:+.0%}"
            for s, r in worst
        )
        return verdict(
            False,
            f"{reason}, but {len(regressed)} slice(s) regress by more than "
            f"{spec.max_slice_regression:.0%}: {named}",
        )
    if slices:
        reason += f"; no slice regresses by more than {spec.max_slice_regression:.0%}"
    return verdict(True, reason)
