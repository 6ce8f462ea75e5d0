"""Alert rules and where alerts go: specs written in the project file.

A rule watches one monitor series (``series``: a monitor result kind such as ``input_drift``,
``prediction_drift``, ``performance.rmse``, ``detector.adwin``; optionally one ``feature``)
and fires when the value is above ``above`` or below ``below`` (with both: outside that band)
for ``persistence`` passes in a row, each on at least ``min_samples`` rows (thinner passes are
skipped); once fired it stays quiet for ``cooldown``. Notifiers deliver with retries and
back-off; an alert that some notifier could not take is kept, marked undelivered and tried again
later. See ``docs/alerts.md``; :mod:`evergreen.monitoring.alerts` evaluates the rules.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from evergreen.core.durations import Duration
from evergreen.core.ids import check_name


class Notifier(BaseModel):
    """One destination. ``log`` needs nothing; ``webhook`` and ``slack`` need ``url``
    (``webhook`` signs the JSON body with HMAC-SHA256 of the secret in the environment variable
    ``secret_env``); ``smtp`` needs ``host``, ``sender`` and ``recipients`` (and reads the
    password, if any, from ``password_env``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: Literal["log", "webhook", "slack", "smtp"]
    name: str = ""
    url: str | None = None
    secret_env: str | None = None
    host: str | None = None
    port: int = Field(default=25, ge=1, le=65535)
    starttls: bool = False
    username: str | None = None
    password_env: str | None = None
    sender: str | None = None
    recipients: tuple[str, ...] = ()
    timeout: Duration = timedelta(seconds=5)
    retries: int = Field(default=3, ge=0)
    backoff: Duration = timedelta(seconds=1)

    @model_validator(mode="after")
    def _complete(self) -> Notifier:
        if self.kind in ("webhook", "slack") and not self.url:
            raise ValueError(f"a {self.kind} notifier needs url=")
        if self.kind == "smtp" and not (self.host and self.sender and self.recipients):
            raise ValueError("an smtp notifier needs host=, sender= and recipients=")
        if self.username and not self.password_env:
            raise ValueError(
                "an smtp login needs password_env=: the environment variable holding the password"
            )
        if not self.name:
            object.__setattr__(self, "name", self.kind)
        check_name(self.name, "notifier name")
        return self


class AlertRule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: str = "alert-rule/v1"
    name: str
    series: str
    feature: str | None = None
    above: float | None = None
    below: float | None = None
    min_samples: int = Field(default=1, ge=0)
    persistence: int = Field(default=1, ge=1)
    cooldown: Duration = timedelta(hours=1)
    notify: tuple[str, ...] = ("log",)

    @model_validator(mode="after")
    def _has_threshold(self) -> AlertRule:
        check_name(self.name, "alert rule name")
        if self.above is None and self.below is None:
            raise ValueError(f"alert rule {self.name!r} needs above= or below=")
        if self.above is not None and self.below is not None and self.below > self.above:
            raise ValueError(
                f"alert rule {self.name!r}: below={self.below:g} is over above={self.above:g}, "
                "so every value would fire; for a band, set below= under above="
            )
        if not self.notify:
            raise ValueError(f"alert rule {self.name!r}: notify= names no notifier")
        return self
