"""The ``log`` notifier: a WARNING on the ``evergreen.alerts`` logger. It always exists."""

from __future__ import annotations

from typing import Any

from evergreen.monitoring.notifiers.base import Sender, log


class LogSender(Sender):
    def send_once(self, alert: dict[str, Any], timeout: float) -> None:
        prefix = "[test] " if alert.get("test") else ""
        log.warning("%salert %s: %s", prefix, alert["id"], alert["message"], extra={"alert": alert})
