"""Subscriptions and enqueue against the real database: filters, severity, idempotent
replays, the caller's transaction, and the NOTIFY that wakes dispatchers."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import psycopg
import pytest

from alerts.notify import (
    SubscriptionError,
    UnknownEvent,
    UnknownSubscription,
    add_subscription,
    deactivate_subscription,
    enqueue,
    enqueue_many,
    get_subscription,
    list_subscriptions,
)
from schemas.core import channels
from schemas.core.listen import listen_statement
from tests.fixtures.notify import case_event, outbox

pytestmark = pytest.mark.integration

HOOK = {"channel": "webhook", "target": "http://127.0.0.1:9/hook", "secret": "s3cret"}


def subscribe(db: psycopg.Connection, **filters: Any) -> int:
    return add_subscription(
        db, subscriber="inspector@example.org", **HOOK, **filters, allow_private_targets=True
    )


def test_an_unfiltered_subscription_gets_every_event(db: psycopg.Connection) -> None:
    sid = subscribe(db)
    n = case_event(db, severity="info", pollutant=None, kind="outage")
    assert enqueue(db, n) == 1
    assert outbox(db) == [(n.event_id, sid, "pending", 0)]
    payload = db.execute("SELECT payload FROM notification_outbox").fetchone()
    assert payload is not None and payload[0] == n.to_json()


@pytest.mark.parametrize(
    ("filters", "event", "matches"),
    [
        ({"districts": ["西湖区"]}, {"district": "西湖区"}, True),
        ({"districts": ["西湖区"]}, {"district": "滨江区"}, False),
        ({"districts": ["西湖区"]}, {"district": None}, False),
        ({"pollutants": ["a21026"]}, {"pollutant": "a21026"}, True),
        ({"pollutants": ["a21026"]}, {"pollutant": "w01018"}, False),
        ({"pollutants": ["a21026"]}, {"pollutant": None, "kind": "outage"}, True),
        ({"kinds": ["exceedance", "fault"]}, {"kind": "fault"}, True),
        ({"kinds": ["exceedance"]}, {"kind": "outage"}, False),
        ({"min_severity": "major"}, {"severity": "major"}, True),
        ({"min_severity": "major"}, {"severity": "critical"}, True),
        ({"min_severity": "major"}, {"severity": "warning"}, False),
        ({"min_severity": "critical"}, {"severity": "major"}, False),
        ({"min_severity": "info"}, {"severity": "info"}, True),
    ],
)
def test_filters(
    db: psycopg.Connection, filters: dict[str, Any], event: dict[str, Any], matches: bool
) -> None:
    subscribe(db, **filters)
    assert enqueue(db, case_event(db, **event)) == int(matches)


def test_enterprise_filter(db: psycopg.Connection) -> None:
    mine = case_event(db, mn="MN1", uscc="91330000000000001X")
    other = case_event(db, mn="MN2", uscc="91330000000000002X")
    subscribe(db, enterprise_ids=[mine.enterprise_id])
    assert mine.enterprise_id != other.enterprise_id
    assert (enqueue(db, mine), enqueue(db, other)) == (1, 0)


def test_all_filters_must_match(db: psycopg.Connection) -> None:
    sid = subscribe(db, districts=["西湖区"], kinds=["exceedance"], min_severity="major")
    subscribe(db, districts=["滨江区"])
    n = case_event(db, district="西湖区", severity="critical")
    assert enqueue(db, n) == 1
    assert [r[1] for r in outbox(db)] == [sid]
    assert enqueue(db, case_event(db, district="西湖区", severity="warning")) == 0


def test_each_matching_subscription_gets_one_row_and_replays_add_nothing(
    db: psycopg.Connection,
) -> None:
    a, b = subscribe(db), subscribe(db, min_severity="warning")
    subscribe(db, min_severity="critical")
    n = case_event(db, severity="major")
    assert enqueue(db, n) == 2
    assert enqueue(db, n) == 0
    assert enqueue(db, n) == 0
    assert [(r[0], r[1]) for r in outbox(db)] == [(n.event_id, a), (n.event_id, b)]
    # a new subscription hears about the replayed event once, the others not again
    c = subscribe(db)
    assert enqueue(db, n) == 1
    assert sorted(r[1] for r in outbox(db)) == [a, b, c]


def test_each_transition_of_a_case_is_its_own_notification(db: psycopg.Connection) -> None:
    subscribe(db)
    opened = case_event(db, action="opened")
    escalated = case_event(db, action="escalated", severity="critical", case_id=opened.case_id)
    assert enqueue(db, opened) + enqueue(db, escalated) == 2
    assert [r[0] for r in outbox(db)] == [opened.event_id, escalated.event_id]


def test_inactive_subscriptions_get_nothing(db: psycopg.Connection) -> None:
    sid = subscribe(db)
    deactivate_subscription(db, sid)
    assert enqueue(db, case_event(db)) == 0


def test_enqueue_is_part_of_the_callers_transaction(
    database_url: str, db: psycopg.Connection
) -> None:
    subscribe(db)
    n = case_event(db)
    with psycopg.connect(database_url) as conn:  # not autocommit: the caller's transaction
        assert enqueue(conn, n) == 1
        conn.rollback()
        assert outbox(db) == []
        assert enqueue(conn, n) == 1
        assert outbox(db) == []  # not visible before the caller commits
        conn.commit()
    assert len(outbox(db)) == 1


def test_enqueue_notifies_dispatchers_on_commit(database_url: str, db: psycopg.Connection) -> None:
    subscribe(db)
    n = case_event(db)
    with psycopg.connect(database_url, autocommit=True) as listener:
        listener.execute(listen_statement([channels.NOTIFICATIONS]))
        enqueue(db, n)
        got = [x.payload for x in listener.notifies(timeout=5, stop_after=1)]
        assert got == [str(n.event_id)]
        enqueue(db, n)  # a replay enqueues nothing and wakes nobody
        assert list(listener.notifies(timeout=0.2)) == []


def test_an_unknown_event_is_a_clear_error_and_the_callers_transaction_survives(
    database_url: str, db: psycopg.Connection
) -> None:
    subscribe(db)
    with psycopg.connect(database_url) as conn:  # the evaluator's transaction
        n = case_event(conn)  # the transition, written in this transaction
        with pytest.raises(UnknownEvent, match="999999"):
            enqueue(conn, replace(n, event_id=999_999))
        assert enqueue(conn, n) == 1
        conn.commit()
    assert [r[0] for r in outbox(db)] == [n.event_id]


def test_enqueue_many_is_enqueue_of_each_in_order(
    database_url: str, db: psycopg.Connection
) -> None:
    """The evaluator's notifications of a batch, in one statement: the rows, their order (by
    notification, then by subscription), payloads, count and wake-ups of one enqueue each."""
    every, west = subscribe(db), subscribe(db, districts=["西湖区"], min_severity="major")
    a = case_event(db, district="西湖区", severity="critical")  # both subscriptions
    b = case_event(db, district="滨江区", severity="critical", mn="MN2")  # every only
    c = case_event(db, district="西湖区", severity="warning", mn="MN3")  # every only
    with psycopg.connect(database_url, autocommit=True) as listener:
        listener.execute(listen_statement([channels.NOTIFICATIONS]))
        assert enqueue_many(db, [b, a, c]) == 4
        got = sorted(x.payload for x in listener.notifies(timeout=5, stop_after=3))
        assert got == sorted(str(n.event_id) for n in (a, b, c))
        assert enqueue_many(db, [b, a, c]) == 0  # a replay: nothing, and nobody woken
        assert list(listener.notifies(timeout=0.2)) == []
    assert outbox(db) == [
        (b.event_id, every, "pending", 0),
        (a.event_id, every, "pending", 0),
        (a.event_id, west, "pending", 0),
        (c.event_id, every, "pending", 0),
    ]
    payloads = db.execute("SELECT event_id, payload FROM notification_outbox ORDER BY id")
    assert [(e, p) for e, p in payloads] == [(n.event_id, n.to_json()) for n in (b, a, a, c)]
    assert enqueue_many(db, []) == 0


def test_one_unknown_event_among_many_enqueues_none(
    database_url: str, db: psycopg.Connection
) -> None:
    subscribe(db)
    with psycopg.connect(database_url) as conn:  # the evaluator's transaction
        n, m = case_event(conn), case_event(conn, mn="MN2")
        with pytest.raises(UnknownEvent, match="one of .*999999"):
            enqueue_many(conn, [n, replace(m, event_id=999_999), m])
        assert enqueue_many(conn, [n, m]) == 2
        conn.commit()
    assert [r[0] for r in outbox(db)] == [n.event_id, m.event_id]


# Subscription management ------------------------------------------------------------------


def test_add_list_deactivate(db: psycopg.Connection) -> None:
    a = add_subscription(
        db,
        subscriber="li@example.org",
        channel="email",
        target="li@example.org",
        districts=["西湖区", "西湖区"],
        kinds=["exceedance"],
        pollutants=["a21026"],
        min_severity="warning",
        max_per_hour=5,
        digest_after=3,
    )
    b = add_subscription(
        db,
        subscriber="ops",
        channel="dingtalk",
        target="https://oapi.dingtalk.com/robot/send?access_token=abc",
        secret="SECxyz",
    )
    sub = get_subscription(db, a)
    assert (sub.channel, sub.districts, sub.kinds, sub.pollutants) == (
        "email",
        ("西湖区",),
        ("exceedance",),
        ("a21026",),
    )
    assert (sub.min_severity, sub.max_per_hour, sub.digest_after, sub.active) == (
        "warning",
        5,
        3,
        True,
    )
    assert "SECxyz" not in repr(get_subscription(db, b))
    assert [s.id for s in list_subscriptions(db)] == [a, b]
    assert [s.id for s in list_subscriptions(db, subscriber="ops")] == [b]

    enqueue(db, case_event(db, severity="major", district="西湖区"))
    assert deactivate_subscription(db, b) == 1  # its pending notification is cancelled
    assert deactivate_subscription(db, b) == 0
    assert [s.id for s in list_subscriptions(db)] == [a]
    assert [s.active for s in list_subscriptions(db, include_inactive=True)] == [True, False]
    assert [r[2] for r in outbox(db)] == ["pending", "failed"]
    with pytest.raises(UnknownSubscription):
        deactivate_subscription(db, 12345)
    with pytest.raises(UnknownSubscription):
        get_subscription(db, 12345)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"channel": "sms", "target": "13800000000"}, "channel must be one of"),
        ({"channel": "webhook", "target": "ftp://x/y", "secret": "k"}, "http"),
        ({"channel": "webhook", "target": "http://x/hook"}, "secret"),
        ({"channel": "webhook", "target": " http://x/hook", "secret": "k"}, "spaces"),
        ({"channel": "email", "target": "not-an-address"}, "e-mail address"),
        ({"channel": "email", "target": "a@b.cn, c@d.cn"}, "e-mail address"),
        ({"channel": "email", "target": "a@b.cn", "secret": "k"}, "no secret"),
        ({"channel": "mqtt", "target": "alerts/#"}, "wildcards"),
        ({"channel": "mqtt", "target": "$SYS/x"}, "topic"),
        ({"channel": "wecom", "target": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"}, "key"),
        ({"channel": "dingtalk", "target": "https://oapi.dingtalk.com/robot/send"}, "access_token"),
        ({"channel": "mqtt", "target": "t", "kinds": ["storm"]}, "kinds"),
        ({"channel": "mqtt", "target": "t", "kinds": "exceedance"}, "list of strings"),
        ({"channel": "mqtt", "target": "t", "min_severity": "minor"}, "min_severity"),
        ({"channel": "mqtt", "target": "t", "max_per_hour": 0}, "max_per_hour"),
        ({"channel": "mqtt", "target": "t", "digest_after": 0}, "digest_after"),
        ({"channel": "mqtt", "target": "t", "pollutants": ["SO2"]}, "unknown pollutant codes: SO2"),
        ({"channel": "mqtt", "target": "t", "districts": [""]}, "non-empty"),
        ({"channel": "mqtt", "target": "t", "subscriber": " "}, "subscriber"),
    ],
)
def test_bad_subscriptions_are_refused_clearly(
    db: psycopg.Connection, fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(SubscriptionError, match=message.replace("$", r"\$")):
        add_subscription(db, **{"subscriber": "x", **fields})
    assert list_subscriptions(db, include_inactive=True) == []
