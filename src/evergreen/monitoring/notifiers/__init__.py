"""Notifiers: where alerts go. One module per kind behind :mod:`.base` (``log``, ``webhook``:
signed JSON, ``slack``: Slack-compatible incoming webhooks, ``smtp``), :mod:`.registry` from a
spec's kind to its sender, and :mod:`.delivery`: rounds of delivery with their records."""

from __future__ import annotations

from evergreen.monitoring.notifiers.base import (
    DeliveryError,
    Outcome,
    Secrets,
    Sender,
    alert_payload,
)
from evergreen.monitoring.notifiers.delivery import (
    Delivery,
    notifiers_of,
    sample_alert,
    try_notifiers,
)
from evergreen.monitoring.notifiers.registry import LOG, sender_for

__all__ = [
    "LOG",
    "Delivery",
    "DeliveryError",
    "Outcome",
    "Secrets",
    "Sender",
    "alert_payload",
    "notifiers_of",
    "sample_alert",
    "sender_for",
    "try_notifiers",
]
