"""The notifier kinds: a spec's ``kind`` to the sender that delivers it."""

from __future__ import annotations

from evergreen.monitoring.notifiers.base import Secrets, Sender
from evergreen.monitoring.notifiers.log import LogSender
from evergreen.monitoring.notifiers.slack import SlackSender
from evergreen.monitoring.notifiers.smtp import SmtpSender
from evergreen.monitoring.notifiers.webhook import WebhookSender
from evergreen.pipeline.alerting import Notifier

LOG = Notifier(kind="log")
"""The notifier every project has, declared or not."""

_KINDS: dict[str, type[Sender]] = {
    "log": LogSender,
    "webhook": WebhookSender,
    "slack": SlackSender,
    "smtp": SmtpSender,
}


def sender_for(spec: Notifier, secrets: Secrets) -> Sender:
    return _KINDS[spec.kind](spec, secrets)
