"""How automation level 2 delivers a new version: shadow, live comparison, a canary with growing
traffic, promotion; each step gated on live evidence from the serving experiment's verdict, and
an automatic rollback when the new version regresses."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field, field_validator

from evergreen.core.durations import Duration


class RolloutSpec(BaseModel):
    """- ``shadow_requests``: requests the candidate answers in shadow before it is judged;
    - ``canary_steps``: the candidate's traffic share at each canary step, growing;
    - ``step_requests``: requests per canary step before the next;
    - ``min_labels``: labelled requests the comparison needs (0 judges on errors and agreement
      alone);
    - ``alpha``: the sequential test's level: significantly worse rolls back;
    - ``max_error_rate``: a candidate erring more often than this is rolled back;
    - ``min_agreement``: for classification, the share of shadow answers equal to the champion's
      below which the candidate is rolled back before any canary;
    - ``timeout``: a rollout that has not finished by then is abandoned (champion kept)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: str = "rollout/v1"
    shadow_requests: int = Field(default=200, ge=1)
    canary_steps: tuple[float, ...] = (0.1, 0.25, 0.5)
    step_requests: int = Field(default=200, ge=1)
    min_labels: int = Field(default=100, ge=0)
    alpha: float = Field(default=0.05, gt=0.0, lt=1.0)
    max_error_rate: float = Field(default=0.01, ge=0.0, le=1.0)
    min_agreement: float | None = Field(default=None, ge=0.0, le=1.0)
    timeout: Duration = timedelta(days=7)

    @field_validator("canary_steps")
    @classmethod
    def _growing(cls, steps: tuple[float, ...]) -> tuple[float, ...]:
        if any(not 0.0 < s < 1.0 for s in steps):
            raise ValueError("canary_steps are traffic shares strictly between 0 and 1")
        if list(steps) != sorted(set(steps)):
            raise ValueError("canary_steps must grow: e.g. (0.1, 0.25, 0.5)")
        return steps
