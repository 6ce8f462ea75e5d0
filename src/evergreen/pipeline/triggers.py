"""When a project retrains: the trigger spec, and the guards that keep a burst of signals or a
flapping metric from thrashing production.

The controller evaluates it (``evergreen.controller``): drift and performance come from the
monitors, new data from the project's source, the schedule from a cron expression in a time zone.
Each signal becomes a trigger event; the guards decide whether that event runs now, waits, or is
recorded as suppressed (with the reason).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from evergreen.core.durations import Duration
from evergreen.training.metrics import Metric

TRIGGER_KINDS = ("manual", "schedule", "new_data", "drift", "performance", "rollback")


class PerformanceTrigger(BaseModel):
    """Retrain when the live metric of the serving version, on labelled predictions, is worse
    than ``bound`` (absolute) or worse than the version's own validation score by ``margin``
    (relative: 0.1 is ten percent worse). ``metric`` defaults to the project's metric; the
    window is the newest ``window_rows`` labelled predictions, judged once ``min_labels`` of them
    have labels."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: str = "performance-trigger/v1"
    metric: str | None = None
    bound: float | None = None
    margin: float | None = Field(default=None, ge=0.0)
    window_rows: int = Field(default=1000, ge=10)
    min_labels: int = Field(default=100, ge=1)

    @model_validator(mode="after")
    def _one_rule(self) -> PerformanceTrigger:
        if self.bound is None and self.margin is None:
            raise ValueError("a performance trigger needs bound= (absolute) or margin= (relative)")
        return self

    def limit(self, metric: Metric, holdout: float | None) -> float | None:
        """The worst live value the margin allows, given the version's holdout score."""
        if self.margin is None or holdout is None:
            return None
        slack = abs(holdout) * self.margin
        return holdout - slack if metric.greater_is_better else holdout + slack

    def breached(self, metric: Metric, live: float, holdout: float | None) -> str | None:
        """Why ``live`` breaks this rule (worse than ``bound``, or worse than ``holdout`` by the
        relative ``margin``), or None when it does not."""
        if self.bound is not None and metric.better(self.bound, live):
            return f"is worse than the bound {self.bound:.4g}"
        limit = self.limit(metric, holdout)
        if limit is not None and metric.better(limit, live):
            return (
                f"is more than {self.margin:.0%} worse than its holdout score {holdout:.4g} "
                f"(limit {limit:.4g})"
            )
        return None


class Triggers(BaseModel):
    """Which signals start a retrain, and the guards on them.

    - ``drift``, ``new_data``: as before; ``schedule``: a cron expression (five fields, or six
      with seconds) evaluated in ``timezone``; ``performance``: see :class:`PerformanceTrigger`.
      Manual triggers (CLI, API) are always accepted.
    - ``debounce``: signals closer than this to a pending or running event join it.
    - ``cooldown``: after a triggered run finishes, automatic signals wait this long.
    - ``max_runs`` per ``period``: a cap on automatic retrains.
    - ``min_champion``: a production version serves at least this long before an automatic
      run may replace it (the candidate is still trained and registered).
    A candidate that does not beat the champion at the gate never replaces it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: str = "triggers/v2"
    drift: bool = True
    new_data: bool = False
    schedule: str | None = None
    timezone: str = "UTC"
    performance: PerformanceTrigger | None = None
    debounce: Duration = timedelta(0)
    cooldown: Duration = timedelta(0)
    max_runs: int | None = Field(default=None, ge=1)
    period: Duration = timedelta(days=1)
    min_champion: Duration = timedelta(0)

    @model_validator(mode="before")
    @classmethod
    def _upgrade(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("kind") == "triggers/v1":
            data = {**data, "kind": "triggers/v2"}
        return data

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r}; use an IANA name such as 'UTC' or 'Europe/Paris'"
            ) from None
        return value

    @field_validator("schedule")
    @classmethod
    def _valid_cron(cls, value: str | None) -> str | None:
        if value is not None:
            check_cron(value)
        return value

    def next_fire(self, after: datetime) -> datetime | None:
        """The first scheduled time strictly after ``after`` (timezone-aware, UTC), or None
        without a schedule."""
        if self.schedule is None:
            return None
        return next_cron_time(self.schedule, self.timezone, after)


def check_cron(expression: str) -> None:
    """Raise ValueError naming what is wrong with a cron expression."""
    from croniter import croniter

    fields = expression.split()
    if len(fields) not in (5, 6):
        raise ValueError(
            f"cron expression {expression!r} has {len(fields)} fields; write five "
            "(minute hour day-of-month month day-of-week), e.g. '0 3 * * *' for 03:00 daily"
        )
    if not croniter.is_valid(expression):
        raise ValueError(
            f"cron expression {expression!r} is not valid; e.g. '0 3 * * *' is 03:00 daily, "
            "'*/15 * * * *' every quarter hour, '0 6 * * mon' Mondays at 06:00"
        )


def next_cron_time(expression: str, timezone: str, after: datetime) -> datetime:
    """The first time ``expression`` fires strictly after ``after``, read in ``timezone``
    (so '0 3 * * *' is 03:00 local time across daylight-saving changes), returned in UTC."""
    from datetime import UTC

    from croniter import croniter

    if after.tzinfo is None:
        raise ValueError("next_cron_time needs a timezone-aware time")
    local = after.astimezone(ZoneInfo(timezone))
    fired: datetime = croniter(expression, local).get_next(datetime)
    return fired.astimezone(UTC)
