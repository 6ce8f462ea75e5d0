"""What the monitors watch for a project, beyond input drift (:class:`DriftPolicy`).

Every pass reads a window of the serving version's prediction log: the newest ``window_rows``
rows (by default the serving version's drift policy's ``window_rows``), or the rows of the last
``window`` of time when that is set. Performance is computed on the rows of the window whose
labels have arrived (joined by request id, however late).
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field

from evergreen.core.durations import Duration

DETECTORS = ("page_hinkley", "adwin")


class PageHinkleySpec(BaseModel):
    """Page-Hinkley on the per-request error stream: alarm when the cumulative deviation above
    the running mean, less ``delta`` per step, exceeds ``threshold``."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    delta: float = Field(default=0.005, ge=0.0)
    threshold: float = Field(default=50.0, gt=0.0)
    min_instances: int = Field(default=30, ge=1)


class AdwinSpec(BaseModel):
    """ADWIN on the per-request error stream: alarm when two sub-windows' means differ with
    confidence ``1 - delta``."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    delta: float = Field(default=0.002, gt=0.0, lt=1.0)


class MonitorSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: str = "monitors/v1"
    interval: Duration = timedelta(minutes=1)
    window_rows: int | None = Field(default=None, ge=10)  # None: the drift policy's window_rows
    window: Duration | None = None
    metrics: tuple[str, ...] | None = None  # default: every metric that suits the task
    min_labels: int = Field(default=50, ge=1)
    prediction_drift: bool = True
    data_quality: bool = True
    detectors: tuple[str, ...] = DETECTORS
    page_hinkley: PageHinkleySpec = Field(default_factory=PageHinkleySpec)
    adwin: AdwinSpec = Field(default_factory=AdwinSpec)
