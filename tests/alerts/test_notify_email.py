"""The e-mail channel against a local SMTP server (aiosmtpd): a bilingual subject and
plain-text body, refused recipients, and delivery through the dispatcher."""

from __future__ import annotations

import socket
from email.utils import parsedate_to_datetime

import psycopg
import pytest

from alerts.notify import (
    Dispatcher,
    EmailChannel,
    SmtpSettings,
    add_subscription,
    enqueue,
    render,
)
from tests.alerts.test_notify_notification import SO2
from tests.fixtures.notify import T0, Clock, case_event, outbox, smtp_server


def channel(port: int) -> EmailChannel:
    settings = SmtpSettings(
        host="127.0.0.1", port=port, sender="sourcewatch@example.org", timeout_s=5
    )
    return EmailChannel(settings, clock=Clock())


def test_a_bilingual_plain_text_mail() -> None:
    message = render(SO2)
    with smtp_server() as server:
        result = channel(server.port).send("li@example.org", None, message)
    assert (result.ok, result.status_code) == (True, 250)
    [(mail_from, rcpt_tos, mail)] = server.mails
    assert (mail_from, rcpt_tos) == ("sourcewatch@example.org", ["li@example.org"])
    assert mail["Subject"] == (
        "【严重】超标：杭州某热电有限公司 1号排口 二氧化硫小时均值 / "
        "[Major] Exceedance: Hangzhou Power Co. outlet 33010000000001 sulfur dioxide (SO2) "
        "hourly mean"
    )
    assert (mail["From"], mail["To"]) == ("sourcewatch@example.org", "li@example.org")
    assert mail["X-Sourcewatch-Event"] == "7"
    assert parsedate_to_datetime(mail["Date"]) == T0
    assert mail.get_content_type() == "text/plain"
    assert mail.get_content_charset() == "utf-8"
    body = mail.get_content()
    assert body == message.text
    assert "时间：2026-11-28 16:00 北京时间" in body and "Time: 2026-11-28 08:00 UTC" in body


def test_a_recipient_refused_for_good_is_not_retried() -> None:
    with smtp_server(refuse={"gone@example.org"}) as server:
        result = channel(server.port).send("gone@example.org", None, render(SO2))
    assert not result.ok and not result.retryable
    assert result.status_code == 550
    assert server.mails == []


def test_no_server_is_a_failure_to_retry() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = channel(port).send("li@example.org", None, render(SO2))
    assert not result.ok and result.retryable
    assert result.error and result.error.startswith(f"SMTP 127.0.0.1:{port}")


@pytest.mark.integration
def test_subscribed_staff_get_the_mail(db: psycopg.Connection) -> None:
    n = case_event(db, district="西湖区")
    add_subscription(
        db, subscriber="li", channel="email", target="li@example.org", districts=["西湖区"]
    )
    enqueue(db, n)
    with smtp_server() as server:
        d = Dispatcher(lambda: db, {"email": channel(server.port)}, clock=Clock())
        assert d.deliver_due(db).notifications_sent == 1
    [(_, rcpt_tos, mail)] = server.mails
    assert rcpt_tos == ["li@example.org"]
    assert mail["Subject"] == render(n).subject
    assert mail["X-Sourcewatch-Event"] == str(n.event_id)
    assert outbox(db)[0][2] == "sent"
    assert db.execute("SELECT ok, status_code, target FROM delivery_log").fetchall() == [
        (True, 250, "li@example.org")
    ]
