"""One HTTP POST for the webhook notifiers, with httpx; its failures as :class:`DeliveryError`.

Every POST goes through one client per process (building one costs about 0.1 s: its TLS
context), which also keeps connections to a receiver open between alerts.
"""

from __future__ import annotations

import threading

import httpx

from evergreen.monitoring.notifiers.base import DeliveryError

RETRY_STATUS = frozenset({429, 500, 502, 503, 504})

_client: httpx.Client | None = None
_client_lock = threading.Lock()


def _shared_client() -> httpx.Client:
    global _client
    with _client_lock:
        if _client is None:
            _client = httpx.Client(headers={"User-Agent": "evergreen-alerts"})
        return _client


def post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> None:
    """POST ``body`` to ``url``; any 2xx answer is a delivery."""
    try:
        response = _shared_client().post(url, content=body, headers=headers, timeout=timeout)
    except httpx.TimeoutException:
        raise DeliveryError(f"POST {url} timed out after {timeout:g}s", retry=True) from None
    except httpx.TransportError as exc:
        raise DeliveryError(f"POST {url} failed: {exc or type(exc).__name__}", retry=True) from None
    if response.is_success:
        return
    status = response.status_code
    text = " ".join(response.text.split())[:200]
    reason = f"POST {url} answered {status} {response.reason_phrase}"
    reason += f": {text}" if text else ""
    if status in RETRY_STATUS or status >= 500:
        raise DeliveryError(reason, retry=True, retry_after=_retry_after(response))
    raise DeliveryError(reason, retry=False)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    try:
        return min(float(value), 300.0) if value else None
    except ValueError:  # an HTTP date: fall back to the notifier's own back-off
        return None
