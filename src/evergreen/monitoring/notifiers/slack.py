"""Slack-compatible incoming webhooks (Slack, Mattermost, Rocket.Chat, Discord's ``/slack``):
``{"text": ..., "blocks": [...]}``; the text is the fallback clients show in notifications."""

from __future__ import annotations

import json
from typing import Any

from evergreen.monitoring.notifiers.base import Sender
from evergreen.monitoring.notifiers.http import post


def escape(text: str) -> str:
    """Slack's mrkdwn escaping: only ``&``, ``<`` and ``>`` are special."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_message(alert: dict[str, Any]) -> dict[str, Any]:
    prefix = "[test] " if alert.get("test") else ""
    text = f"{prefix}{alert['message']}"
    where = f"project `{escape(alert['project'])}` · rule `{escape(alert['rule'])}`"
    return {
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{escape(text)}*"}},
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": f"{where} · alert `{escape(str(alert['id']))}`"}
                ],
            },
        ],
    }


class SlackSender(Sender):
    def send_once(self, alert: dict[str, Any], timeout: float) -> None:
        body = json.dumps(slack_message(alert)).encode()
        post(self.spec.url or "", body, {"Content-Type": "application/json"}, timeout)
