"""Notifiers against real receivers on loopback: an HTTP server and an SMTP server (aiosmtpd)."""

from __future__ import annotations

import json
import logging
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from evergreen.monitoring.notifiers import alert_payload, sender_for
from evergreen.monitoring.notifiers.webhook import sign, verify
from evergreen.pipeline.alerting import Notifier
from evergreen.store.tables import AlertRow
from fixtures.postgres import free_port
from fixtures.receivers import http_receiver, smtp_receiver

DOCS = Path(__file__).resolve().parents[2] / "docs" / "alerts.md"
SECRET = "whsec-4f1c9a"
SECRETS = {"HOOK_SECRET": SECRET, "SMTP_PASSWORD": "hunter2"}
FAST = {"timeout": 2, "backoff": 0.01}


def payload(message: str = "bike-demand v7: performance.rmse 92.3 above 80") -> dict[str, Any]:
    row = AlertRow(
        id="alert-0001",
        at=datetime(2026, 11, 27, 16, tzinfo=UTC),
        project="bike-demand",
        model="bike-demand",
        version=7,
        rule="rmse-high",
        series="performance.rmse",
        feature=None,
        value=92.3,
        message=message,
        details={"passes": [{"value": 92.3, "rows": 672}]},
        status="pending",
        attempts=0,
        deliveries={},
        delivered_at=None,
    )
    return alert_payload(row)


def docs_verify() -> Any:
    """The receiver's ``verify`` exactly as docs/alerts.md shows it."""
    text = DOCS.read_text()
    snippet = re.search(r"<!-- verify-snippet -->\n```python\n(.*?)```", text, re.S)
    assert snippet is not None, "docs/alerts.md lost its verification snippet"
    namespace: dict[str, Any] = {}
    exec(snippet.group(1), namespace)
    return namespace["verify"]


def webhook(url: str, **options: Any) -> Notifier:
    return Notifier(kind="webhook", name="hook", url=url, secret_env="HOOK_SECRET",
                    **{**FAST, **options})  # fmt: skip


def test_webhook_posts_the_alert_signed_over_timestamp_and_body() -> None:
    alert = payload()
    with http_receiver() as receiver:
        outcome = sender_for(webhook(receiver.url), SECRETS.get).send(alert)
    assert (outcome.ok, outcome.tries, outcome.error) == (True, 1, None)
    [request] = receiver.requests
    assert request.path == "/hook"
    assert json.loads(request.body) == alert
    headers = request.headers
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Evergreen-Alert"] == "alert-0001"
    assert abs(int(headers["X-Evergreen-Timestamp"]) - time.time()) < 60
    assert headers["X-Evergreen-Signature"] == sign(
        SECRET, headers["X-Evergreen-Timestamp"], request.body
    )
    # What a receiver runs, copied from the docs: authentic, and not with another secret,
    # another body, or an old timestamp re-signed by nobody (a replay).
    receiver_verify = docs_verify()
    assert receiver_verify(SECRET, headers, request.body)
    assert not receiver_verify("another-secret", headers, request.body)
    assert not receiver_verify(SECRET, headers, request.body.replace(b"92.3", b"12.3"))
    stale = {**headers, "X-Evergreen-Timestamp": str(int(time.time()) - 3600)}
    assert not receiver_verify(SECRET, stale, request.body)
    assert verify(SECRET, headers["X-Evergreen-Timestamp"], request.body,
                  headers["X-Evergreen-Signature"], now=time.time())  # fmt: skip
    assert not verify(SECRET, stale["X-Evergreen-Timestamp"], request.body,
                      headers["X-Evergreen-Signature"], now=time.time())  # fmt: skip


def test_webhook_without_its_secret_in_the_environment_sends_nothing() -> None:
    with http_receiver() as receiver:
        outcome = sender_for(webhook(receiver.url), {}.get).send(payload())
    assert not outcome.ok and outcome.tries == 1  # not worth another try
    assert outcome.error is not None and "HOOK_SECRET" in outcome.error
    assert "secret_env of notifier 'hook'" in outcome.error
    assert receiver.requests == []


def test_webhook_retries_after_two_503s_then_delivers() -> None:
    with http_receiver(statuses=(503, 503)) as receiver:
        outcome = sender_for(webhook(receiver.url, retries=3), SECRETS.get).send(payload())
    assert (outcome.ok, outcome.tries) == (True, 3)
    assert len(receiver.requests) == 3
    assert len({r.body for r in receiver.requests}) == 1  # the same alert each time


@pytest.mark.parametrize(
    ("status", "tries"), [(429, 3), (500, 3), (404, 1), (400, 1)], ids=str
)  # fmt: skip
def test_webhook_retries_5xx_and_429_but_not_other_4xx(status: int, tries: int) -> None:
    with http_receiver(statuses=(status,) * 5) as receiver:
        outcome = sender_for(webhook(receiver.url, retries=2), SECRETS.get).send(payload())
    assert not outcome.ok
    assert outcome.tries == tries == len(receiver.requests)
    assert outcome.error is not None and f"answered {status}" in outcome.error


def test_webhook_waits_as_long_as_retry_after_asks() -> None:
    with http_receiver(statuses=(429,)) as receiver:
        receiver.retry_after = "0.5"
        outcome = sender_for(webhook(receiver.url, retries=1), SECRETS.get).send(payload())
    assert (outcome.ok, outcome.tries) == (True, 2)
    assert outcome.seconds >= 0.5  # not the notifier's own 0.01 s back-off


def test_a_receiver_that_is_down_fails_after_the_retries() -> None:
    url = f"http://127.0.0.1:{free_port()}/hook"
    outcome = sender_for(webhook(url, retries=2), SECRETS.get).send(payload())
    assert (outcome.ok, outcome.tries) == (False, 3)
    assert outcome.error is not None and outcome.error.startswith(f"POST {url} failed")


def test_the_deadline_bounds_the_retries() -> None:
    url = f"http://127.0.0.1:{free_port()}/hook"
    spec = webhook(url, retries=50, backoff=0.1)  # unbounded, 50 tries would take days
    start = time.monotonic()
    outcome = sender_for(spec, SECRETS.get).send(payload(), deadline=start + 0.5)
    took = time.monotonic() - start
    assert not outcome.ok and 2 <= outcome.tries < 10
    assert took < 1.5
    assert outcome.error is not None and "no time left for another try" in outcome.error


def test_slack_gets_text_and_blocks() -> None:
    alert = payload("bike-demand v7: rmse <high> & rising")
    with http_receiver() as receiver:
        spec = Notifier(kind="slack", name="chat", url=receiver.url, **FAST)
        outcome = sender_for(spec, {}.get).send(alert)
    assert outcome.ok
    [request] = receiver.requests
    body = json.loads(request.body)
    assert body["text"] == "bike-demand v7: rmse <high> & rising"
    section, context = body["blocks"]
    assert section == {
        "type": "section",
        "text": {"type": "mrkdwn", "text": "*bike-demand v7: rmse &lt;high&gt; &amp; rising*"},
    }
    assert context["type"] == "context"
    assert "rule `rmse-high`" in context["elements"][0]["text"]
    assert "X-Evergreen-Signature" not in request.headers


def test_email_reaches_every_recipient() -> None:
    alert = payload()
    with smtp_receiver() as server:
        spec = Notifier(kind="smtp", name="oncall", host="127.0.0.1", port=server.port,
                        sender="evergreen@example.com",
                        recipients=("ops@example.com", "oncall@example.com"), **FAST)  # fmt: skip
        outcome = sender_for(spec, {}.get).send(alert)
    assert outcome.ok, outcome.error
    [mail] = server.mails
    assert mail.sender == "evergreen@example.com"
    assert mail.recipients == ["ops@example.com", "oncall@example.com"]
    message = mail.message
    assert message["Subject"] == "[evergreen] bike-demand v7: performance.rmse 92.3 above 80"
    assert message["To"] == "ops@example.com, oncall@example.com"
    assert message.get_content_type() == "text/plain"
    body = message.get_content().replace("\r\n", "\n")  # as it came over the wire
    assert body.startswith("bike-demand v7: performance.rmse 92.3 above 80\n")
    assert "rule:    rmse-high (series performance.rmse)" in body
    assert '"rows": 672' in body


def test_email_logs_in_with_the_password_from_the_environment() -> None:
    with smtp_receiver(password="hunter2") as server:
        spec = Notifier(kind="smtp", host="127.0.0.1", port=server.port, username="evergreen",
                        password_env="SMTP_PASSWORD", sender="evergreen@example.com",
                        recipients=("ops@example.com",), **FAST)  # fmt: skip
        good = sender_for(spec, SECRETS.get).send(payload())
        bad = sender_for(spec, {"SMTP_PASSWORD": "wrong"}.get).send(payload())
    assert good.ok, good.error
    assert server.logins == ["evergreen"]
    assert len(server.mails) == 1
    assert not bad.ok and bad.tries == 1  # refused credentials: another try would not help
    assert bad.error is not None and "replied 535" in bad.error


def test_email_over_starttls_with_a_login(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with smtp_receiver(password="hunter2", tls_folder=tmp_path) as server:
        spec = Notifier(kind="smtp", host="127.0.0.1", port=server.port, starttls=True,
                        username="evergreen", password_env="SMTP_PASSWORD",
                        sender="evergreen@example.com", recipients=("ops@example.com",),
                        **FAST)  # fmt: skip
        untrusted = sender_for(spec, SECRETS.get).send(payload())
        monkeypatch.setenv("SSL_CERT_FILE", str(server.ca_file))  # trust the test certificate
        trusted = sender_for(spec, SECRETS.get).send(payload())
        plain = sender_for(spec.model_copy(update={"starttls": False}), SECRETS.get).send(payload())
    assert untrusted.error is not None and untrusted.tries == 1  # a retry would not help
    assert "its TLS certificate is not trusted here: self-signed certificate" in untrusted.error
    assert trusted.ok, trusted.error
    assert server.logins == ["evergreen"] and len(server.mails) == 1
    assert not plain.ok and plain.error is not None  # no login offered before STARTTLS
    assert "SMTP AUTH extension not supported" in plain.error and plain.tries == 1


def test_email_to_a_server_that_is_down_is_retried() -> None:
    spec = Notifier(kind="smtp", host="127.0.0.1", port=free_port(), sender="e@example.com",
                    recipients=("ops@example.com",), retries=1, **FAST)  # fmt: skip
    outcome = sender_for(spec, {}.get).send(payload())
    assert (outcome.ok, outcome.tries) == (False, 2)
    assert outcome.error is not None and outcome.error.startswith("SMTP 127.0.0.1:")


def test_log_notifier_warns_on_evergreen_alerts(caplog: pytest.LogCaptureFixture) -> None:
    alert = payload()
    with caplog.at_level(logging.WARNING, logger="evergreen.alerts"):
        outcome = sender_for(Notifier(kind="log"), {}.get).send(alert)
    assert outcome.ok
    [record] = caplog.records
    assert record.name == "evergreen.alerts" and record.levelno == logging.WARNING
    assert record.getMessage() == f"alert alert-0001: {alert['message']}"
    assert record.alert == alert  # type: ignore[attr-defined]
