"""The webhook channel against a local HTTP server: the signed request, failures, and a
failing endpoint retried by the dispatcher with backoff until it answers 2xx."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
from datetime import timedelta

import psycopg
import pytest

from alerts.notify import (
    Dispatcher,
    RetryPolicy,
    WebhookChannel,
    add_subscription,
    enqueue,
    render,
    render_digest,
    webhook_signature,
)
from tests.alerts.test_notify_notification import OUTAGE, SO2
from tests.fixtures.notify import T0, Clock, case_event, http_endpoint, outbox


def test_the_request_is_signed_with_the_subscription_secret() -> None:
    with http_endpoint((204, b"")) as endpoint:
        result = WebhookChannel(allow_private_targets=True, clock=Clock()).send(
            f"{endpoint.url}/hook", "s3cret", render(SO2)
        )
    assert (result.ok, result.status_code) == (True, 204)
    [request] = endpoint.requests
    assert request.path == "/hook"
    # what a receiver does: HMAC-SHA256 over "<timestamp>." + the raw body with the secret
    timestamp = request.headers["X-Sourcewatch-Timestamp"]
    assert timestamp == str(int(T0.timestamp()))
    signed = timestamp.encode() + b"." + request.body
    expected = hmac.new(b"s3cret", signed, hashlib.sha256).hexdigest()
    assert request.headers["X-Sourcewatch-Signature"] == f"sha256={expected}"
    assert hmac.compare_digest(
        request.headers["X-Sourcewatch-Signature"],
        webhook_signature("s3cret", timestamp, request.body),
    )
    assert request.headers["X-Sourcewatch-Event"] == "7"
    assert request.headers["Content-Type"] == "application/json; charset=utf-8"
    assert request.json() == SO2.to_json()
    assert "二氧化硫" in request.body.decode()  # UTF-8, not \\u escapes


def test_a_digest_names_all_its_events() -> None:
    with http_endpoint() as endpoint:
        assert (
            WebhookChannel(allow_private_targets=True)
            .send(endpoint.url, "k", render_digest([SO2, OUTAGE]))
            .ok
        )
    [request] = endpoint.requests
    assert request.headers["X-Sourcewatch-Event"] == "7,8"
    assert [n["event_id"] for n in request.json()["notifications"]] == [7, 8]


def test_non_2xx_answers_are_failures_with_the_response() -> None:
    with http_endpoint((500, b"internal error")) as endpoint:
        result = WebhookChannel(allow_private_targets=True).send(endpoint.url, "k", render(SO2))
    assert (result.ok, result.status_code, result.response, result.error) == (
        False,
        500,
        "internal error",
        "HTTP 500",
    )
    assert result.retryable


def test_no_answer_is_a_failure() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = WebhookChannel(allow_private_targets=True, timeout_s=2).send(
        f"http://127.0.0.1:{port}/x?token=t0ps3cret", "k", render(SO2)
    )
    assert not result.ok and result.status_code is None
    assert result.error and "refused" in result.error.lower()
    assert "t0ps3cret" not in result.error
    with http_endpoint(delay_s=0.5) as endpoint:
        result = WebhookChannel(allow_private_targets=True, timeout_s=0.1).send(
            endpoint.url, "k", render(SO2)
        )
    assert not result.ok and "timed out" in (result.error or "")


@pytest.mark.integration
def test_a_failing_endpoint_is_retried_with_backoff_until_it_answers(
    db: psycopg.Connection,
) -> None:
    n = case_event(db)
    with http_endpoint((500, b"boom"), (502, b"bad gateway"), (200, b"thanks")) as endpoint:
        add_subscription(
            db,
            subscriber="ops",
            channel="webhook",
            target=f"{endpoint.url}/hook?token=abc",
            secret="s3cret",
            allow_private_targets=True,
        )
        enqueue(db, n)
        clock = Clock()
        d = Dispatcher(
            lambda: db,
            {"webhook": WebhookChannel(allow_private_targets=True, clock=clock)},
            clock=clock,
            retry=RetryPolicy(base_delay_s=60),
        )
        assert d.deliver_due(db).attempts_failed == 1
        clock.advance(seconds=59)
        assert not d.deliver_due(db)
        clock.advance(seconds=1)
        assert d.deliver_due(db).attempts_failed == 1
        clock.advance(seconds=119)
        assert not d.deliver_due(db)
        clock.advance(seconds=1)
        assert d.deliver_due(db).notifications_sent == 1
        clock.advance(hours=1)
        assert not d.deliver_due(db)
    assert len(endpoint.requests) == 3
    assert {r.headers["X-Sourcewatch-Event"] for r in endpoint.requests} == {str(n.event_id)}
    assert all(
        r.headers["X-Sourcewatch-Signature"]
        == webhook_signature("s3cret", r.headers["X-Sourcewatch-Timestamp"], r.body)
        for r in endpoint.requests
    )
    assert outbox(db)[0][2:] == ("sent", 3)
    rows = db.execute(
        "SELECT ok, status_code, response, error, target, at FROM delivery_log ORDER BY id"
    ).fetchall()
    assert [r[:4] for r in rows] == [
        (False, 500, "boom", "HTTP 500"),
        (False, 502, "bad gateway", "HTTP 502"),
        (True, 200, "thanks", None),
    ]
    assert {r[4] for r in rows} == {f"{endpoint.url}/hook?token=***"}  # the key is masked
    assert [r[5] for r in rows] == [T0, T0 + timedelta(seconds=60), T0 + timedelta(seconds=180)]
    assert json.loads(endpoint.requests[-1].body)["event_id"] == n.event_id
