"""The generic webhook: the alert as JSON, POSTed and signed with a shared secret.

Headers (see ``docs/alerts.md`` for a receiver's check):

- ``X-Evergreen-Timestamp``: the send time in Unix seconds;
- ``X-Evergreen-Signature``: ``sha256=`` and the hex HMAC-SHA256, keyed with the secret, of the
  timestamp, a ``.`` and the exact body bytes. Signing the timestamp too lets a receiver refuse
  a replayed request (an old timestamp) as well as a forged one;
- ``X-Evergreen-Alert``: the alert id, the same on every redelivery (for de-duplication).

Without ``secret_env`` the request is sent unsigned (no signature header).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

from evergreen.monitoring.notifiers.base import Sender
from evergreen.monitoring.notifiers.http import post

SIGNATURE_HEADER = "X-Evergreen-Signature"
TIMESTAMP_HEADER = "X-Evergreen-Timestamp"
ALERT_HEADER = "X-Evergreen-Alert"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header's value for ``body`` sent at ``timestamp``."""
    material = timestamp.encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), material, hashlib.sha256).hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str, *, now: float,
           tolerance: float = 300.0) -> bool:  # fmt: skip
    """Whether ``signature`` signs ``body`` at ``timestamp`` with ``secret``, and the timestamp
    is within ``tolerance`` seconds of ``now``."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs(now - sent) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


class WebhookSender(Sender):
    def send_once(self, alert: dict[str, Any], timeout: float) -> None:
        url = self.spec.url or ""  # the spec requires a url for this kind
        body = json.dumps(alert, separators=(",", ":"), default=str).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: timestamp,
            ALERT_HEADER: str(alert["id"]),
        }
        if self.spec.secret_env:
            secret = self.secret(self.spec.secret_env, "secret_env")
            headers[SIGNATURE_HEADER] = sign(secret, timestamp, body)
        post(url, body, headers, timeout)
