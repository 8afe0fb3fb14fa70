"""System alerts told to staff subscribers, against the real database and through the real
webhook channel to a local HTTP server: one notification per subscriber when an alert opens,
none when it repeats, again when it reopens after a close (and a notice of the close), the
kind filter, staff only, and a failing target retried from the outbox."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest

from alerts.notify import (
    Dispatcher,
    RetryPolicy,
    SubscriptionError,
    SystemNotice,
    WebhookChannel,
    add_subscription,
    enqueue,
    read_notice,
    render,
    render_digest,
    webhook_signature,
)
from alerts.notify.system import system_kind_label
from schemas.staff.accounts import add_staff_user
from schemas.subscriptions import update_subscription
from schemas.system_alerts import ALERT_KINDS, close_alert, raise_alert
from tests.fixtures.notify import T0, Clock, Endpoint, case_event, http_endpoint

pytestmark = pytest.mark.integration


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    with http_endpoint((200, b"ok")) as e:
        yield e


def staff(db: psycopg.Connection, username: str) -> str:
    add_staff_user(db, username, ["viewer"], actor="test")
    return username


def subscribe(db: psycopg.Connection, endpoint: Endpoint, subscriber: str, **options: Any) -> int:
    return add_subscription(
        db,
        subscriber=subscriber,
        channel="webhook",
        target=f"{endpoint.url}/{subscriber}",
        secret=f"secret-{subscriber}",
        allow_private_targets=True,
        **options,
    )


def dispatcher(db: psycopg.Connection, clock: Clock, **options: Any) -> Dispatcher:
    channel = WebhookChannel(allow_private_targets=True, clock=clock)
    return Dispatcher(lambda: db, {"webhook": channel}, clock=clock, **options)


def drops(db: psycopg.Connection, count: int = 5, *, broker: str = "mqtt.example:1883") -> int:
    return raise_alert(
        db,
        "broker-drops",
        broker,
        count,
        message_zh=f"MQTT 代理 {broker} 丢弃了消息：数据可能缺失",
        message_en=f"the MQTT broker {broker} dropped messages: data may be missing",
        details={"topic": "$SYS/broker/publish/messages/dropped", "reason": "internal-detail"},
        at=T0,
    )


def recall_failed(db: psycopg.Connection, mn: str = "MN0001") -> int:
    return raise_alert(
        db,
        "recall-failed",
        mn,
        1,
        message_zh=f"排口 {mn} 补数失败",
        message_en=f"history recall from outlet {mn} failed",
        details={},
        at=T0,
    )


def received(endpoint: Endpoint) -> list[tuple[str, str, str]]:
    """(path, type, action) of every request, in order."""
    return [(r.path, r.json()["type"], r.json().get("action")) for r in endpoint.requests]


def outbox_rows(db: psycopg.Connection) -> list[tuple[Any, ...]]:
    return db.execute(
        "SELECT system_event_id, subscription_id, status FROM notification_outbox ORDER BY id"
    ).fetchall()


def test_an_alert_that_opens_is_sent_once_to_each_staff_subscriber(
    db: psycopg.Connection, endpoint: Endpoint
) -> None:
    a = subscribe(db, endpoint, staff(db, "ops.li"), system_alerts=True)
    b = subscribe(db, endpoint, staff(db, "ops.wang"), system_alerts=True, cases=False)
    subscribe(db, endpoint, staff(db, "inspector.zhao"))  # cases only: not told
    clock = Clock()
    d = dispatcher(db, clock)

    drops(db)
    report = d.deliver_due(db)
    assert report.notifications_sent == 2
    assert sorted(received(endpoint)) == [
        ("/ops.li", "system_alert", "opened"),
        ("/ops.wang", "system_alert", "opened"),
    ]
    assert {r[1] for r in outbox_rows(db)} == {a, b}
    for request in endpoint.requests:
        secret = "secret-" + request.path.lstrip("/")
        timestamp = request.headers["X-Sourcewatch-Timestamp"]
        assert request.headers["X-Sourcewatch-Signature"] == webhook_signature(
            secret, timestamp, request.body
        )
        assert request.headers["X-Sourcewatch-Event"] == "system-1"
        doc = request.json()
        assert doc["kind"] == "broker-drops" and doc["subject"] == "mqtt.example:1883"
        assert doc["count"] == 5 and doc["severity"] == "major"
        assert "系统告警" in doc["title"]["zh"] and "System alert" in doc["title"]["en"]
        assert "internal-detail" not in request.body.decode()  # details stay inside

    # the same open alert again (its count rising): nobody is told again
    drops(db, 7)
    drops(db, 1)
    assert not d.deliver_due(db)
    assert len(endpoint.requests) == 2
    assert db.execute("SELECT count FROM system_alerts").fetchone() == (13,)
    assert len(outbox_rows(db)) == 2


def test_closing_sends_a_notice_and_the_next_occurrence_reopens(
    db: psycopg.Connection, endpoint: Endpoint
) -> None:
    subscribe(db, endpoint, staff(db, "ops.li"), system_alerts=True)
    d = dispatcher(db, Clock())
    first = drops(db)
    assert d.deliver_due(db).notifications_sent == 1

    assert close_alert(db, first, actor="admin.chen", at=T0 + timedelta(hours=1))
    assert close_alert(db, first, actor="admin.chen", at=T0 + timedelta(hours=2)) is False
    assert d.deliver_due(db).notifications_sent == 1
    closed = endpoint.requests[-1].json()
    assert (closed["action"], closed["severity"], closed["closed_by"]) == (
        "closed",
        "info",
        "admin.chen",
    )

    second = drops(db, 2)
    assert second != first
    drops(db, 3)  # a repeat of the reopened alert
    assert d.deliver_due(db).notifications_sent == 1
    assert [a for _, _, a in received(endpoint)] == ["opened", "closed", "reopened"]
    assert endpoint.requests[-1].json()["alert_id"] == second
    assert not d.deliver_due(db)


def test_a_subscription_can_ask_for_some_kinds_only(
    db: psycopg.Connection, endpoint: Endpoint
) -> None:
    subscribe(db, endpoint, staff(db, "ops.li"), system_alerts=True)
    subscribe(
        db,
        endpoint,
        staff(db, "field.zhou"),
        system_alerts=True,
        system_alert_kinds=["recall-failed"],
    )
    d = dispatcher(db, Clock())
    drops(db)
    recall_failed(db)
    assert d.deliver_due(db).notifications_sent == 3
    assert sorted((path, action) for path, _, action in received(endpoint)) == [
        ("/field.zhou", "opened"),
        ("/ops.li", "opened"),
        ("/ops.li", "opened"),
    ]
    [field] = [r.json() for r in endpoint.requests if r.path == "/field.zhou"]
    assert field["kind"] == "recall-failed" and field["subject"] == "MN0001"


def test_only_staff_subscriptions_receive_system_alerts(
    db: psycopg.Connection, endpoint: Endpoint
) -> None:
    with pytest.raises(SubscriptionError, match="staff"):
        subscribe(db, endpoint, "someone@example.org", system_alerts=True)
    case_only = subscribe(db, endpoint, "someone@example.org")
    with pytest.raises(SubscriptionError, match="staff"):
        update_subscription(
            db, case_only, {"system_alerts": True}, actor="admin", allow_private_targets=True
        )
    with pytest.raises(SubscriptionError, match="system_alert_kinds"):
        subscribe(db, endpoint, staff(db, "ops.li"), system_alert_kinds=["broker-drops"])
    with pytest.raises(SubscriptionError, match="system_alert_kinds must be among"):
        subscribe(db, endpoint, "ops.li", system_alerts=True, system_alert_kinds=["disk-full"])
    with pytest.raises(SubscriptionError, match="cases, system_alerts or both"):
        subscribe(db, endpoint, "ops.li", cases=False)

    # a staff user who leaves is no longer told, though the subscription stays
    subscribe(db, endpoint, "ops.li", system_alerts=True)
    db.execute("UPDATE staff_users SET active = false WHERE username = 'ops.li'")
    drops(db)
    assert not dispatcher(db, Clock()).deliver_due(db)
    assert endpoint.requests == []
    assert db.execute("SELECT announced_at IS NOT NULL FROM system_alert_events").fetchall() == [
        (True,)
    ]


def test_case_notifications_skip_a_subscription_for_system_alerts_only(
    db: psycopg.Connection, endpoint: Endpoint
) -> None:
    subscribe(db, endpoint, staff(db, "ops.li"), system_alerts=True, cases=False)
    both = subscribe(db, endpoint, staff(db, "ops.wang"), system_alerts=True)
    n = case_event(db)
    assert enqueue(db, n) == 1
    assert db.execute("SELECT subscription_id FROM notification_outbox").fetchall() == [(both,)]


def test_a_failing_target_is_retried_from_the_outbox(db: psycopg.Connection) -> None:
    with http_endpoint((503, b"busy"), (200, b"ok")) as endpoint:
        subscribe(db, endpoint, staff(db, "ops.li"), system_alerts=True)
        clock = Clock()
        d = dispatcher(db, clock, retry=RetryPolicy(base_delay_s=60))
        drops(db)
        assert d.deliver_due(db).attempts_failed == 1
        assert outbox_rows(db) == [(1, 1, "pending")]
        drops(db)  # the alert repeats meanwhile: still one notification
        clock.advance(seconds=59)
        assert not d.deliver_due(db)
        clock.advance(seconds=1)
        assert d.deliver_due(db).notifications_sent == 1
        assert not d.deliver_due(db)
    assert len(endpoint.requests) == 2
    assert {r.headers["X-Sourcewatch-Event"] for r in endpoint.requests} == {"system-1"}
    assert outbox_rows(db) == [(1, 1, "sent")]
    log = db.execute("SELECT ok, status_code FROM delivery_log ORDER BY id").fetchall()
    assert log == [(False, 503), (True, 200)]


def test_the_text_is_bilingual_and_reads_back() -> None:
    notice = SystemNotice(
        system_event_id=4,
        alert_id=2,
        kind="recall-failed",
        action="reopened",
        subject="MN0001",
        occurred_at=T0,
        first_at=T0,
        last_at=T0 + timedelta(minutes=5),
        count=3,
        message_zh="排口 MN0001 补数失败",
        message_en="history recall from outlet MN0001 failed",
    )
    assert read_notice(notice.to_json()) == notice
    m = render(notice)
    assert m.subject_zh == "【严重】系统告警：补数失败（再次出现）MN0001"
    assert m.subject_en == "[Major] System alert: History recall failed (reopened) MN0001"
    assert "排口 MN0001 补数失败" in m.text and "history recall from outlet" in m.text
    assert "2026-11-28 16:00 北京时间" in m.text and "2026-11-28 08:00 UTC" in m.text
    assert "补数失败" in m.markdown and "History recall failed" in m.markdown
    assert (m.event_ids, m.system_event_ids, m.references) == ((), (4,), "system-4")
    digest = render_digest([notice, notice])
    assert digest.subject_en == "[Digest, Major] 2 notifications"
    assert [d["type"] for d in digest.payload["notifications"]] == ["system_alert"] * 2
    long = SystemNotice(**{**_fields(notice), "message_en": "x" * 5000})
    assert len(long.message_en) == 500


def test_every_system_alert_kind_has_bilingual_labels() -> None:
    for kind in ALERT_KINDS:
        zh, en = system_kind_label(kind)
        assert zh != kind and en != kind, kind


def _fields(notice: SystemNotice) -> dict[str, Any]:
    return {name: getattr(notice, name) for name in SystemNotice.__dataclass_fields__}


def test_each_process_role_may_do_its_part(
    db: psycopg.Connection, endpoint: Endpoint, role_urls: dict[str, str]
) -> None:
    """Ingest opens the alert, the API closes it, the alerts process queues and sends: each
    with its own role's privileges (schemas/core/roles.py)."""
    subscribe(db, endpoint, staff(db, "ops.li"), system_alerts=True)
    with psycopg.connect(role_urls["ingest"], autocommit=True) as ingest:
        alert = drops(ingest)
    with psycopg.connect(role_urls["alerts"], autocommit=True) as alerts:
        assert dispatcher(alerts, Clock()).deliver_due(alerts).notifications_sent == 1
        with psycopg.connect(role_urls["api"], autocommit=True) as api:
            assert close_alert(api, alert, actor="admin.chen", at=T0 + timedelta(hours=1))
        assert dispatcher(alerts, Clock()).deliver_due(alerts).notifications_sent == 1
    assert [a for _, _, a in received(endpoint)] == ["opened", "closed"]


def test_an_alert_left_open_is_reminded_once_per_interval(
    db: psycopg.Connection, endpoint: Endpoint
) -> None:
    subscribe(db, endpoint, staff(db, "ops.li"), system_alerts=True)
    clock = Clock()
    d = dispatcher(db, clock, system_alert_reminder=timedelta(hours=24))
    alert = drops(db)
    assert d.deliver_due(db).notifications_sent == 1
    clock.advance(hours=23, minutes=59)
    drops(db)  # repeats do not move the reminder, nor send
    assert not d.deliver_due(db)
    clock.advance(minutes=1)
    assert d.deliver_due(db).notifications_sent == 1
    assert not d.deliver_due(db)  # one reminder per interval, not per pass
    reminder = endpoint.requests[-1].json()
    assert (reminder["action"], reminder["count"]) == ("reminder", 10)
    assert "仍未关闭" in reminder["title"]["zh"] and "still open" in reminder["title"]["en"]
    clock.advance(hours=24)
    assert d.deliver_due(db).notifications_sent == 1
    close_alert(db, alert, actor="admin.chen", at=clock.now)
    assert d.deliver_due(db).notifications_sent == 1  # the close
    clock.advance(hours=72)
    assert not d.deliver_due(db)  # a closed alert is never reminded of
    assert [a for _, _, a in received(endpoint)] == ["opened", "reminder", "reminder", "closed"]
    # without a reminder interval (SOURCEWATCH_SYSTEM_ALERT_REMINDER_HOURS=0), none
    drops(db)
    assert dispatcher(db, clock).deliver_due(db).notifications_sent == 1
    clock.advance(hours=100)
    assert not dispatcher(db, clock).deliver_due(db)
