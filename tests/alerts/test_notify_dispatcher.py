"""The dispatcher against the real database, with a recording channel behind the real
interface: delivery, the log, retries with backoff, rate limits, digests, two dispatchers at
once, and the LISTEN loop."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import psycopg
import pytest

from alerts.notify import (
    DeliveryReport,
    DeliveryResult,
    Dispatcher,
    Message,
    RetryPolicy,
    add_subscription,
    enqueue,
)
from tests.fixtures.mqtt import wait_until
from tests.fixtures.notify import T0, Clock, RecordingChannel, case_event, outbox

pytestmark = pytest.mark.integration


def subscribe(
    db: psycopg.Connection, target: str = "http://127.0.0.1:9/hook", **options: Any
) -> int:
    return add_subscription(
        db,
        subscriber="inspector",
        channel="webhook",
        target=target,
        secret="k",
        allow_private_targets=True,
        **options,
    )


def events(db: psycopg.Connection, count: int, **options: Any) -> list[int]:
    ids = []
    for _ in range(count):
        n = case_event(db, **options)
        enqueue(db, n)
        ids.append(n.event_id)
    return ids


def dispatcher(
    db: psycopg.Connection, channel: RecordingChannel, clock: Clock, **options: Any
) -> Dispatcher:
    return Dispatcher(lambda: db, {"webhook": channel}, clock=clock, **options)


def log(db: psycopg.Connection) -> list[tuple[Any, ...]]:
    return db.execute(
        "SELECT outbox_id, digest_of, at, ok, status_code, error FROM delivery_log ORDER BY id"
    ).fetchall()


def next_attempts(db: psycopg.Connection) -> list[Any]:
    return [r[0] for r in db.execute("SELECT next_attempt_at FROM notification_outbox ORDER BY id")]


def test_due_rows_are_sent_once_logged_and_marked(db: psycopg.Connection) -> None:
    sid = subscribe(db)
    ids = events(db, 2)
    channel, clock = RecordingChannel(), Clock()
    report = dispatcher(db, channel, clock).deliver_due(db)
    assert (report.messages_sent, report.notifications_sent, report.attempts_failed) == (2, 2, 0)
    assert [s.message.event_ids for s in channel.sent] == [(ids[0],), (ids[1],)]
    assert {(s.target, s.secret) for s in channel.sent} == {("http://127.0.0.1:9/hook", "k")}
    assert channel.sent[0].message.payload["event_id"] == ids[0]
    assert outbox(db) == [(ids[0], sid, "sent", 1), (ids[1], sid, "sent", 1)]
    sent_at = db.execute("SELECT DISTINCT sent_at FROM notification_outbox").fetchall()
    assert sent_at == [(T0,)]
    assert [(r[1], r[2], r[3], r[4]) for r in log(db)] == [(None, T0, True, 200)] * 2
    assert not dispatcher(db, channel, clock).deliver_due(db)
    assert len(channel.sent) == 2


def test_failures_are_retried_with_exponential_backoff_then_given_up(
    db: psycopg.Connection,
) -> None:
    subscribe(db)
    events(db, 1)
    clock = Clock()
    channel = RecordingChannel(fail=lambda _m: DeliveryResult.failure("HTTP 503", status_code=503))
    d = dispatcher(db, channel, clock, retry=RetryPolicy(max_attempts=3, base_delay_s=30))

    assert d.deliver_due(db).attempts_failed == 1
    assert outbox(db)[0][2:] == ("pending", 1)
    assert next_attempts(db) == [T0 + timedelta(seconds=30)]
    clock.advance(seconds=29)
    assert not d.deliver_due(db)  # not due yet
    clock.advance(seconds=1)
    assert d.deliver_due(db).attempts_failed == 1
    assert next_attempts(db) == [clock.now + timedelta(seconds=60)]
    clock.advance(seconds=60)
    report = d.deliver_due(db)
    assert (report.attempts_failed, report.notifications_given_up) == (1, 1)
    assert outbox(db)[0][2:] == ("failed", 3)
    assert db.execute("SELECT last_error FROM notification_outbox").fetchone() == ("HTTP 503",)
    assert [(r[3], r[4], r[5]) for r in log(db)] == [(False, 503, "HTTP 503")] * 3
    clock.advance(hours=5)
    assert not d.deliver_due(db)


def test_a_failure_that_cannot_be_retried_gives_up_at_once(db: psycopg.Connection) -> None:
    subscribe(db)
    events(db, 1)
    channel = RecordingChannel(fail=lambda _m: DeliveryResult.failure("550", retryable=False))
    assert dispatcher(db, channel, Clock()).deliver_due(db).notifications_given_up == 1
    assert outbox(db)[0][2:] == ("failed", 1)


def test_a_failing_endpoint_holds_the_other_rows_without_counting_attempts(
    db: psycopg.Connection,
) -> None:
    subscribe(db)
    events(db, 3)
    clock = Clock()
    down = True
    channel = RecordingChannel(fail=lambda _m: DeliveryResult.failure("down") if down else None)
    d = dispatcher(db, channel, clock, retry=RetryPolicy(base_delay_s=10))
    report = d.deliver_due(db)
    assert (report.attempts_failed, report.notifications_deferred) == (1, 2)
    assert [r[3] for r in outbox(db)] == [1, 0, 0]
    assert next_attempts(db) == [T0 + timedelta(seconds=10)] * 3
    down = False
    clock.advance(seconds=10)
    assert d.deliver_due(db).notifications_sent == 3
    assert [r[2:] for r in outbox(db)] == [("sent", 2), ("sent", 1), ("sent", 1)]


def test_a_channel_that_raises_is_a_failed_attempt(db: psycopg.Connection) -> None:
    subscribe(db)
    events(db, 1)

    def boom(_m: Message) -> DeliveryResult:
        raise RuntimeError("bug in channel")

    report = dispatcher(db, RecordingChannel(fail=boom), Clock()).deliver_due(db)
    assert report.attempts_failed == 1
    assert log(db)[0][5] == "RuntimeError: bug in channel"


def test_a_row_that_cannot_be_read_back_is_given_up_and_the_rest_go_out(
    db: psycopg.Connection,
) -> None:
    subscribe(db)
    events(db, 2)
    db.execute('UPDATE notification_outbox SET payload = \'{"type": "junk"}\' WHERE id = 1')
    channel = RecordingChannel()
    report = dispatcher(db, channel, Clock()).deliver_due(db)
    assert (report.notifications_given_up, report.notifications_sent) == (1, 1)
    assert [r[2] for r in outbox(db)] == ["failed", "sent"]
    error = db.execute("SELECT last_error FROM notification_outbox WHERE id = 1").fetchone()
    assert error is not None and error[0].startswith("bad outbox payload")


def test_the_rate_limit_holds_rows_until_the_hour_window_allows(db: psycopg.Connection) -> None:
    subscribe(db, max_per_hour=2)
    ids = events(db, 5)
    channel, clock = RecordingChannel(), Clock()
    d = dispatcher(db, channel, clock)
    report = d.deliver_due(db)
    assert (report.notifications_sent, report.notifications_deferred) == (2, 3)
    assert next_attempts(db)[2:] == [T0 + timedelta(hours=1)] * 3
    clock.advance(minutes=59)
    assert not d.deliver_due(db)
    clock.advance(minutes=1)
    assert d.deliver_due(db).notifications_sent == 2
    clock.advance(minutes=30)
    assert not d.deliver_due(db)
    clock.advance(minutes=30)
    assert d.deliver_due(db).notifications_sent == 1
    assert [s.message.event_ids[0] for s in channel.sent] == ids
    assert [r[2:] for r in outbox(db)] == [("sent", 1)] * 5


def test_more_than_digest_after_due_at_once_go_out_as_one_digest(db: psycopg.Connection) -> None:
    sid = subscribe(db, digest_after=3)
    ids = events(db, 2, severity="warning") + events(db, 1, severity="critical")
    ids += events(db, 2, severity="info")
    channel, clock = RecordingChannel(), Clock()
    d = dispatcher(db, channel, clock)
    report = d.deliver_due(db)
    assert (report.messages_sent, report.digests_sent, report.notifications_digested) == (1, 1, 5)
    [sent] = channel.sent
    assert sent.message.digest and sorted(sent.message.event_ids) == sorted(ids)
    assert sent.message.payload["type"] == "digest"
    assert sent.message.payload["count"] == 5
    assert sent.message.payload["severity"] == "critical"
    assert "5 case notifications" in sent.message.subject_en
    assert {r[2] for r in outbox(db) if r[1] == sid} == {"digested"}
    [(_outbox_id, digest_of, *_)] = log(db)
    assert len(digest_of) == 5
    # a few at a time go out one by one again
    more = events(db, 2)
    assert d.deliver_due(db).notifications_sent == 2
    assert [s.message.event_ids for s in channel.sent[1:]] == [(e,) for e in more]


def test_rate_limit_then_digest_of_everything_that_waited(db: psycopg.Connection) -> None:
    subscribe(db, max_per_hour=1, digest_after=2)
    first = events(db, 1)
    channel, clock = RecordingChannel(), Clock()
    d = dispatcher(db, channel, clock)
    assert d.deliver_due(db).notifications_sent == 1
    clock.advance(minutes=10)
    storm = events(db, 4)
    assert d.deliver_due(db).notifications_deferred == 4
    clock.advance(minutes=50)
    report = d.deliver_due(db)
    assert (report.digests_sent, report.notifications_digested) == (1, 4)
    assert [s.message.event_ids for s in channel.sent] == [tuple(first), tuple(storm)]


def test_subscriptions_on_channels_this_dispatcher_lacks_are_left_alone(
    db: psycopg.Connection,
) -> None:
    add_subscription(db, subscriber="li", channel="email", target="li@example.org")
    events(db, 1)
    assert not dispatcher(db, RecordingChannel(), Clock()).deliver_due(db)
    assert outbox(db)[0][2:] == ("pending", 0)


def test_two_dispatchers_at_once_deliver_every_row_exactly_once(
    database_url: str, db: psycopg.Connection
) -> None:
    subscriptions = [subscribe(db, f"http://127.0.0.1:9/{i}", max_per_hour=1000) for i in range(6)]
    ids = events(db, 20)
    assert len(outbox(db)) == 6 * 20

    # Each dispatcher's first message waits until the other sends its own: both are then
    # sending at once, each under a subscription's lock that the other skips, whatever the
    # scheduler does (at load 7 one thread once claimed all 120 rows before the other ran).
    first_sends = threading.Barrier(2, timeout=30)
    started: set[int] = set()

    def together(_m: Message) -> None:
        if threading.get_ident() not in started:
            started.add(threading.get_ident())
            first_sends.wait()
        time.sleep(0.001)  # lets the two interleave; never fails

    channel = RecordingChannel(fail=together)
    reports = [DeliveryReport(), DeliveryReport()]
    start = threading.Barrier(2)

    def work(i: int) -> None:
        with psycopg.connect(database_url, autocommit=True) as conn:
            d = Dispatcher(
                lambda: conn, {"webhook": channel}, clock=Clock(), batch_size=7, max_subscriptions=2
            )
            start.wait()
            while report := d.deliver_due(conn):
                reports[i].add(report)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not dispatcher(db, channel, Clock()).deliver_due(db)
    delivered = [(s.message.event_ids[0], s.target) for s in channel.sent]
    assert len(delivered) == len(set(delivered)) == 6 * 20
    assert reports[0].notifications_sent + reports[1].notifications_sent == 120
    assert reports[0].notifications_sent and reports[1].notifications_sent  # both worked
    assert {r[2] for r in outbox(db)} == {"sent"}
    assert {r[1] for r in outbox(db)} == set(subscriptions)
    assert {e for e, _ in delivered} == set(ids)
    logged = db.execute("SELECT count(*), count(DISTINCT outbox_id) FROM delivery_log").fetchone()
    assert logged == (120, 120)


def test_run_wakes_up_on_notify_and_stops_when_told(
    database_url: str, db: psycopg.Connection
) -> None:
    subscribe(db)
    channel = RecordingChannel()
    passes = threading.Semaphore(0)

    class Counting(Dispatcher):
        def deliver_due(self, conn: psycopg.Connection) -> DeliveryReport:
            report = super().deliver_due(conn)
            passes.release()
            return report

    d = Counting(database_url, {"webhook": channel}, poll_interval_s=60)
    stop = threading.Event()
    thread = threading.Thread(target=d.run, args=(stop,))
    thread.start()
    try:
        assert passes.acquire(timeout=10)  # listening, first pass done, now waiting 60 s
        n = case_event(db)
        enqueue(db, n)
        wait_until(lambda: len(channel.sent) == 1, timeout=10, what="the NOTIFY to wake run()")
        assert channel.sent[0].message.event_ids == (n.event_id,)
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
    d.close()
    assert channel.closed
