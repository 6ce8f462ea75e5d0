"""What every notifier shares: one try (``send_once``, per kind) and the retry loop around it.

A try raises :class:`DeliveryError` saying whether another try could help (a connection error,
a timeout, HTTP 5xx or 429, an SMTP 4xx reply) or not (any other refusal, a missing secret).
:meth:`Sender.send` retries the first kind with exponential back-off (``backoff``, then twice
that, ...) up to ``retries`` more times, never past its deadline, and returns an
:class:`Outcome`; it never raises.
"""

from __future__ import annotations

import logging
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from evergreen.pipeline.alerting import Notifier
from evergreen.store.tables import AlertRow

Secrets = Callable[[str], str | None]
"""Reads a named secret (an environment variable's value), None when it is not set."""

log = logging.getLogger("evergreen.alerts")


class DeliveryError(Exception):
    """One try failed; ``retry`` says whether another could succeed."""

    def __init__(self, message: str, *, retry: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry = retry
        self.retry_after = retry_after


@dataclass(frozen=True)
class Outcome:
    """How one notifier did with one alert."""

    ok: bool
    tries: int
    seconds: float
    error: str | None = None

    def describe(self) -> str:
        tries = f"{self.tries} {'try' if self.tries == 1 else 'tries'}, {self.seconds:.2f}s"
        return f"ok ({tries})" if self.ok else f"error: {self.error} ({tries})"


def alert_payload(row: AlertRow, *, test: bool = False) -> dict[str, Any]:
    """The JSON document notifiers send for an alert."""
    return {
        "id": row.id,
        "at": _iso(row.at),
        "project": row.project,
        "model": row.model,
        "version": row.version,
        "rule": row.rule,
        "series": row.series,
        "feature": row.feature,
        "value": row.value,
        "message": row.message,
        "details": row.details,
        "test": test,
    }


def _iso(at: datetime) -> str:
    return at.isoformat()


class Sender(ABC):
    """Delivers alerts to one configured destination."""

    def __init__(self, spec: Notifier, secrets: Secrets) -> None:
        self.spec = spec
        self.secrets = secrets

    @property
    def name(self) -> str:
        return self.spec.name

    @abstractmethod
    def send_once(self, alert: dict[str, Any], timeout: float) -> None:
        """One try; raises :class:`DeliveryError` when it fails."""

    def send(self, alert: dict[str, Any], *, deadline: float = math.inf) -> Outcome:
        """Deliver with retries and back-off, giving up at ``deadline`` (``time.monotonic()``
        seconds) at the latest. Never raises."""
        start = time.monotonic()
        tries = 0
        timeout = self.spec.timeout.total_seconds()
        backoff = self.spec.backoff.total_seconds()
        while True:
            remaining = deadline - time.monotonic()
            tries += 1
            try:
                self.send_once(alert, timeout=max(0.001, min(timeout, remaining)))
                return Outcome(True, tries, time.monotonic() - start)
            except DeliveryError as exc:
                error, retry, retry_after = str(exc), exc.retry, exc.retry_after
            except Exception as exc:  # a notifier must never take the caller down
                log.exception("notifier %s failed unexpectedly", self.name)
                error, retry, retry_after = f"unexpected {type(exc).__name__}: {exc}", False, None
            if not retry or tries > self.spec.retries:
                return Outcome(False, tries, time.monotonic() - start, error)
            wait = backoff * 2 ** (tries - 1)
            if retry_after is not None:
                wait = max(wait, retry_after)
            if time.monotonic() + wait >= deadline:
                error += "; no time left for another try"
                return Outcome(False, tries, time.monotonic() - start, error)
            time.sleep(wait)

    def secret(self, env: str, field: str) -> str:
        """The secret named by ``field`` (``secret_env``, ``password_env``) of this notifier."""
        value = self.secrets(env)
        if not value:
            raise DeliveryError(
                f"environment variable {env} (the {field} of notifier {self.name!r}) is not set; "
                "set it where the controller runs",
                retry=False,
            )
        return value
