"""WeCom and DingTalk group robots against a local HTTP server: the documented markdown JSON
shapes, DingTalk's timestamp + sign, and robot error codes."""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import parse_qs, quote_plus, urlsplit

import psycopg
import pytest

from alerts.notify import (
    DingTalkChannel,
    Dispatcher,
    WeComChannel,
    add_subscription,
    dingtalk_sign,
    enqueue,
    render,
    render_digest,
)
from alerts.notify.channels.wecom import WECOM_MAX_BYTES
from tests.alerts.test_notify_notification import OUTAGE, SO2
from tests.fixtures.notify import T0, Clock, case_event, http_endpoint, outbox

OK = (200, b'{"errcode":0,"errmsg":"ok"}')
T0_MS = int(T0.timestamp() * 1000)


def test_wecom_markdown_message() -> None:
    message = render(SO2)
    with http_endpoint(OK) as endpoint:
        result = WeComChannel(allow_private_targets=True).send(
            f"{endpoint.url}/cgi-bin/webhook/send?key=K-1", None, message
        )
    assert (result.ok, result.status_code) == (True, 200)
    [request] = endpoint.requests
    assert request.path == "/cgi-bin/webhook/send?key=K-1"
    assert request.headers["Content-Type"] == "application/json; charset=utf-8"
    assert request.json() == {"msgtype": "markdown", "markdown": {"content": message.markdown}}
    assert request.json()["markdown"]["content"].startswith("### 【严重】超标")


def test_wecom_content_is_cut_to_4096_bytes_at_a_character_boundary() -> None:
    digest = render_digest([SO2] * 60)
    assert len(digest.markdown.encode()) > WECOM_MAX_BYTES
    with http_endpoint(OK) as endpoint:
        assert (
            WeComChannel(allow_private_targets=True).send(f"{endpoint.url}/?key=k", None, digest).ok
        )
    content = endpoint.requests[0].json()["markdown"]["content"]
    assert len(content.encode()) <= WECOM_MAX_BYTES and content.endswith("…")
    assert digest.markdown.startswith(content[:-1])


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        ((200, b'{"errcode":45009,"errmsg":"api freq out of limit"}'), "robot error 45009"),
        ((200, b'{"errcode":93000,"errmsg":"invalid webhook url"}'), "robot error 93000"),
        ((200, b"<html>proxy</html>"), "robot answered without JSON"),
        ((502, b"bad gateway"), "HTTP 502"),
    ],
)
def test_robot_errors_are_failures(answer: tuple[int, bytes], error: str) -> None:
    with http_endpoint(answer) as endpoint:
        wecom = WeComChannel(allow_private_targets=True).send(
            f"{endpoint.url}/?key=k", None, render(SO2)
        )
        ding = DingTalkChannel(allow_private_targets=True).send(
            f"{endpoint.url}/?access_token=t", None, render(SO2)
        )
    for result in (wecom, ding):
        assert not result.ok and result.error is not None and result.error.startswith(error)
        assert result.response == answer[1].decode()


def test_dingtalk_markdown_message_without_a_secret() -> None:
    message = render(OUTAGE)
    with http_endpoint(OK) as endpoint:
        result = DingTalkChannel(allow_private_targets=True, clock=Clock()).send(
            f"{endpoint.url}/robot/send?access_token=tok", None, message
        )
    assert result.ok
    [request] = endpoint.requests
    assert request.path == "/robot/send?access_token=tok"  # unsigned: no timestamp, no sign
    assert request.json() == {
        "msgtype": "markdown",
        "markdown": {"title": message.subject_zh, "text": message.markdown},
    }


def test_dingtalk_signature() -> None:
    secret = "SEC0123456789abcdef+/="
    with http_endpoint(OK) as endpoint:
        assert (
            DingTalkChannel(allow_private_targets=True, clock=Clock())
            .send(f"{endpoint.url}/robot/send?access_token=tok", secret, render(SO2))
            .ok
        )
    [request] = endpoint.requests
    # the receiving side, as DingTalk documents it
    string_to_sign = f"{T0_MS}\n{secret}".encode()
    expected = base64.b64encode(
        hmac.new(secret.encode(), string_to_sign, hashlib.sha256).digest()
    ).decode()
    query = parse_qs(urlsplit(request.path).query)
    assert query == {"access_token": ["tok"], "timestamp": [str(T0_MS)], "sign": [expected]}
    assert f"&sign={quote_plus(expected)}" in request.path  # URL-encoded on the wire
    assert dingtalk_sign(secret, T0_MS) == expected
    assert request.json()["msgtype"] == "markdown"


@pytest.mark.integration
def test_a_dingtalk_subscription_is_signed_with_its_secret(db: psycopg.Connection) -> None:
    n = case_event(db)
    with http_endpoint(OK) as endpoint:
        add_subscription(
            db,
            subscriber="duty-room",
            channel="dingtalk",
            secret="SECabc",
            target=f"{endpoint.url}/robot/send?access_token=tok",
            allow_private_targets=True,
        )
        enqueue(db, n)
        clock = Clock()
        d = Dispatcher(
            lambda: db,
            {"dingtalk": DingTalkChannel(allow_private_targets=True, clock=clock)},
            clock=clock,
        )
        assert d.deliver_due(db).notifications_sent == 1
    query = parse_qs(urlsplit(endpoint.requests[0].path).query)
    assert query["sign"] == [dingtalk_sign("SECabc", T0_MS)]
    assert outbox(db)[0][2] == "sent"
    logged = db.execute("SELECT target FROM delivery_log").fetchone()
    assert logged == (f"{endpoint.url}/robot/send?access_token=***",)
