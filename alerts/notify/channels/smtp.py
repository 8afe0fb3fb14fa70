"""E-mail channel: one bilingual plain-text message per notification over SMTP.

The SMTP settings are passed in (the alerts process reads them from its settings); nothing
is read from the environment here. A new SMTP session is opened per message: notification
volume is low, and a kept-open session would time out between cases anyway.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from alerts.notify.channels.base import DeliveryResult
from alerts.notify.message import Message

__all__ = ["EmailChannel", "SmtpSettings"]


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    host: str
    port: int = 25
    sender: str = "sourcewatch@localhost"  # the From: address
    starttls: bool = False  # STARTTLS after connecting (port 587)
    tls: bool = False  # implicit TLS from the start (port 465)
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout_s: float = 30.0


def _utcnow() -> datetime:
    return datetime.now(UTC)


class EmailChannel:
    def __init__(self, settings: SmtpSettings, *, clock: Callable[[], datetime] = _utcnow) -> None:
        self.settings = settings
        self.clock = clock

    def build(self, target: str, message: Message) -> EmailMessage:
        mail = EmailMessage()
        mail["Subject"] = message.subject
        mail["From"] = self.settings.sender
        mail["To"] = target
        mail["Date"] = format_datetime(self.clock())
        mail["Message-ID"] = make_msgid("sourcewatch")
        mail["X-Sourcewatch-Event"] = message.references
        mail.set_content(message.text, charset="utf-8")
        return mail

    def send(self, target: str, secret: str | None, message: Message) -> DeliveryResult:
        mail = self.build(target, message)
        s = self.settings
        try:
            smtp = (
                smtplib.SMTP_SSL(
                    s.host, s.port, timeout=s.timeout_s, context=ssl.create_default_context()
                )
                if s.tls
                else smtplib.SMTP(s.host, s.port, timeout=s.timeout_s)
            )
            with smtp:
                if s.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if s.username:
                    smtp.login(s.username, s.password or "")
                smtp.send_message(mail)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            return DeliveryResult.failure(
                f"recipient refused: {exc.recipients}",
                status_code=codes[0] if codes else None,
                retryable=not all(500 <= c < 600 for c in codes),
            )
        except smtplib.SMTPResponseException as exc:
            detail = (
                exc.smtp_error.decode("utf-8", "replace")
                if isinstance(exc.smtp_error, bytes)
                else str(exc.smtp_error)
            )
            return DeliveryResult.failure(
                f"SMTP {exc.smtp_code}: {detail}", status_code=exc.smtp_code, response=detail
            )
        except (smtplib.SMTPException, OSError) as exc:
            return DeliveryResult.failure(f"SMTP {s.host}:{s.port}: {exc}")
        return DeliveryResult(True, 250, "accepted")

    def close(self) -> None:
        pass
