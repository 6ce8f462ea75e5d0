"""E-mail over SMTP (smtplib): a plain-text message to every recipient, optionally after
STARTTLS and a login (the password read from ``password_env``).

An SMTP 4xx reply, a refused connection or a timeout is worth another try; a 5xx reply (bad
credentials, refused recipients) is not.
"""

from __future__ import annotations

import json
import smtplib
import ssl
from email.message import EmailMessage
from typing import Any

from evergreen.monitoring.notifiers.base import DeliveryError, Sender


def email_message(alert: dict[str, Any], sender: str, recipients: tuple[str, ...]) -> EmailMessage:
    prefix = "[evergreen test]" if alert.get("test") else "[evergreen]"
    message = EmailMessage()
    message["Subject"] = " ".join(f"{prefix} {alert['message']}".split())  # one line
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["X-Evergreen-Alert"] = str(alert["id"])
    lines = [
        str(alert["message"]),
        "",
        f"project: {alert['project']}",
        f"model:   {alert['model']}" + (f" v{alert['version']}" if alert["version"] else ""),
        f"rule:    {alert['rule']} (series {alert['series']}"
        + (f", feature {alert['feature']})" if alert["feature"] else ")"),
        f"value:   {alert['value']:.6g}",
        f"at:      {alert['at']}",
        f"alert:   {alert['id']}",
        "",
        "details:",
        json.dumps(alert["details"], indent=2, default=str),
    ]
    message.set_content("\n".join(lines) + "\n")
    return message


class SmtpSender(Sender):
    def send_once(self, alert: dict[str, Any], timeout: float) -> None:
        spec = self.spec
        host, sender = spec.host or "", spec.sender or ""  # the spec requires both for smtp
        message = email_message(alert, sender, spec.recipients)
        password = self.secret(spec.password_env, "password_env") if spec.password_env else None
        where = f"SMTP {host}:{spec.port}"
        try:
            with smtplib.SMTP(host, spec.port, timeout=timeout) as client:
                if spec.starttls:
                    client.starttls(context=ssl.create_default_context())
                if spec.username:
                    client.login(spec.username, password or "")
                client.send_message(message, from_addr=sender, to_addrs=list(spec.recipients))
        except smtplib.SMTPRecipientsRefused as exc:
            refused = ", ".join(sorted(exc.recipients))
            reason = f"{where} refused every recipient: {refused}"
            raise DeliveryError(reason, retry=False) from None
        except smtplib.SMTPResponseException as exc:
            error = exc.smtp_error
            text = error.decode(errors="replace") if isinstance(error, bytes) else str(error)
            reply = f"{where} replied {exc.smtp_code} {text}"
            raise DeliveryError(reply, retry=400 <= exc.smtp_code < 500) from None
        except smtplib.SMTPNotSupportedError as exc:
            raise DeliveryError(f"{where}: {exc}", retry=False) from None
        except ssl.SSLCertVerificationError as exc:
            reason = f"{where}: its TLS certificate is not trusted here: {exc.verify_message}"
            raise DeliveryError(reason, retry=False) from None
        except (smtplib.SMTPException, OSError) as exc:  # refused, reset, timed out, TLS failed
            reason = str(exc) or type(exc).__name__
            raise DeliveryError(f"{where} failed: {reason}", retry=True) from None
