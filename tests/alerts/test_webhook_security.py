"""Issue 15, webhooks: the signature covers the timestamp (a captured request cannot be
replayed under a fresh one), and targets on loopback, link-local, private or other non-global
addresses are refused — when the subscription is stored and again, after DNS resolution, when
each request is sent — unless SOURCEWATCH_NOTIFY_ALLOW_PRIVATE_TARGETS allows them."""

from __future__ import annotations

import socket
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import psycopg
import pytest

from alerts.notify import (
    SubscriptionError,
    WebhookChannel,
    add_subscription,
    render,
    verify_webhook,
    webhook_signature,
)
from alerts.notify.channels.webhook import REPLAY_WINDOW_S
from alerts.notify.channels.wecom import WeComChannel
from schemas.core.addresses import TargetRefused, check_address
from tests.alerts.test_notify_notification import SO2
from tests.fixtures.notify import T0, Clock, http_endpoint

# --- the signature --------------------------------------------------------------------------


def test_a_replayed_request_under_a_fresh_timestamp_fails_verification() -> None:
    """Before, the HMAC covered the body only: a captured request could be sent again with a
    new X-Sourcewatch-Timestamp and still verify."""
    with http_endpoint((204, b"")) as endpoint:
        channel = WebhookChannel(clock=Clock(), allow_private_targets=True)
        assert channel.send(endpoint.url, "s3cret", render(SO2)).ok
    [request] = endpoint.requests
    stamp = request.headers["X-Sourcewatch-Timestamp"]
    signature = request.headers["X-Sourcewatch-Signature"]
    assert stamp == str(int(T0.timestamp()))
    assert verify_webhook("s3cret", stamp, signature, request.body, now=T0)
    # the attacker replays it an hour later, with the timestamp of then
    later = T0 + timedelta(hours=1)
    fresh = str(int(later.timestamp()))
    assert not verify_webhook("s3cret", fresh, signature, request.body, now=later)
    # or with the old timestamp: outside the replay window
    assert not verify_webhook("s3cret", stamp, signature, request.body, now=later)
    edge = T0 + timedelta(seconds=REPLAY_WINDOW_S)
    assert verify_webhook("s3cret", stamp, signature, request.body, now=edge)
    # a changed body, a wrong secret, a malformed timestamp
    assert not verify_webhook("s3cret", stamp, signature, request.body + b" ", now=T0)
    assert not verify_webhook("other", stamp, signature, request.body, now=T0)
    assert not verify_webhook("s3cret", "-1", signature, request.body, now=T0)
    assert signature == webhook_signature("s3cret", stamp, request.body)


# --- the targets ----------------------------------------------------------------------------

REFUSED = [
    "http://127.0.0.1:9/hook",
    "http://localhost:9/hook",  # a name: refused after resolution
    "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://10.1.2.3/hook",
    "http://172.16.0.1/hook",
    "http://192.168.1.1/hook",
    "http://100.64.0.1/hook",
    "http://0.0.0.0/hook",
    "http://[fe80::1]/hook",
    "http://[fd00::1]/hook",
    "http://224.0.0.1/hook",
]


@pytest.mark.integration
@pytest.mark.parametrize("target", REFUSED)
def test_a_subscription_to_a_non_global_address_is_refused(
    db: psycopg.Connection, target: str
) -> None:
    with pytest.raises(SubscriptionError, match="address"):
        add_subscription(db, subscriber="x", channel="webhook", target=target, secret="k")
    assert db.execute("SELECT count(*) FROM subscriptions").fetchone() == (0,)
    add_subscription(
        db, subscriber="x", channel="webhook", target=target, secret="k", allow_private_targets=True
    )


@pytest.mark.integration
def test_a_subscription_to_a_global_address_is_accepted(db: psycopg.Connection) -> None:
    add_subscription(db, subscriber="x", channel="webhook", target="http://8.8.8.8/h", secret="k")
    add_subscription(
        db, subscriber="y", channel="webhook", target="https://[2001:4860::8888]/h", secret="k"
    )


def test_the_address_rules() -> None:
    for address in ("8.8.8.8", "2001:4860::8888", "::ffff:8.8.8.8"):
        check_address(address)
    for address in ("127.0.0.1", "::1", "10.0.0.1", "169.254.1.1", "fe80::1%eth0", "192.0.2.1"):
        with pytest.raises(TargetRefused):
            check_address(address)
        check_address(address, allow_private=True)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_sending_to_a_loopback_receiver_is_refused_unless_allowed(host: str) -> None:
    with http_endpoint((200, b"ok")) as endpoint:
        url = endpoint.url.replace("127.0.0.1", host) + "/hook"
        refused = WebhookChannel().send(url, "k", render(SO2))
        robot = WeComChannel().send(url + "?key=k", None, render(SO2))
        assert endpoint.requests == []
        assert WebhookChannel(allow_private_targets=True).send(url, "k", render(SO2)).ok
    assert not refused.ok and "refused" in (refused.error or "")
    assert "loopback" in (refused.error or "")
    assert not robot.ok and "loopback" in (robot.error or "")
    assert len(endpoint.requests) == 1


Resolver = Callable[..., list[tuple[Any, ...]]]


def resolving(monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[str]]) -> list[str]:
    """``socket.getaddrinfo`` answering the next of ``answers[host]`` each time (the DNS of a
    rebinding attacker: a short TTL and another address every time); the hosts asked."""
    real = socket.getaddrinfo
    asked: list[str] = []

    def getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        if host not in answers:
            return real(host, port, *args, **kwargs)
        asked.append(host)
        address = answers[host][min(asked.count(host), len(answers[host])) - 1]
        return real(address, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


@pytest.mark.integration
def test_dns_rebinding_after_the_subscription_is_refused_at_send_time(
    db: psycopg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The name resolved to a public address when the subscription was stored, and to the
    loopback when the request is sent: the request is refused, the receiver sees nothing."""
    with http_endpoint((200, b"ok")) as endpoint:
        port = endpoint.url.rsplit(":", 1)[1]
        asked = resolving(monkeypatch, {"hooks.rebind.test": ["8.8.8.8", "127.0.0.1"]})
        target = f"http://hooks.rebind.test:{port}/hook"
        add_subscription(db, subscriber="x", channel="webhook", target=target, secret="k")
        result = WebhookChannel(timeout_s=2).send(target, "k", render(SO2))
    assert asked == ["hooks.rebind.test", "hooks.rebind.test"]
    assert not result.ok and "loopback" in (result.error or "")
    assert endpoint.requests == []


def test_the_request_goes_to_the_address_that_was_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One resolution per request, and the connection to its (checked) address: no second
    lookup between the check and the connection for a rebinding DNS to answer."""
    with http_endpoint((200, b"ok")) as endpoint:
        port = endpoint.url.rsplit(":", 1)[1]
        asked = resolving(monkeypatch, {"pinned.test": ["127.0.0.1", "192.0.2.1"]})
        channel = WebhookChannel(timeout_s=2, allow_private_targets=True)
        assert channel.send(f"http://pinned.test:{port}/hook", "k", render(SO2)).ok
    assert asked == ["pinned.test"]
    assert endpoint.requests[0].headers["Host"] == f"pinned.test:{port}"
