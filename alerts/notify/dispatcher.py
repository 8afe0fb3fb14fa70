"""Delivers the outbox: due rows → channels, with rate limits, digests, retries and a log.

First, the system alert events not yet announced (and the reminders now due, with
``system_alert_reminder``) become outbox rows (:mod:`alerts.notify.system`, one transaction). Then, for each subscription
with due rows, in its own short transaction:

1. lock the subscription (``FOR NO KEY UPDATE SKIP LOCKED``) and take its due rows
   (``FOR UPDATE SKIP LOCKED``): two dispatchers never send the same row, and only one of them
   works on a subscription at a time, so its rate limit and digests are exact;
2. rate limit: at most ``max_per_hour`` messages in any hour (a digest is one message); rows
   over the limit stay pending until the hour window allows another message;
3. digest: when more than ``digest_after`` rows are due at once, ONE message lists them all and
   they become 'digested';
4. every attempt goes to ``delivery_log``; a failed row is retried after an exponential backoff
   and given up ('failed') after ``RetryPolicy.max_attempts``, or at once when retrying cannot
   help (an address refused for good, a payload that cannot be read back). When an endpoint
   fails, the subscription's other due rows wait for the same retry time instead of hammering
   it.

A crash after a send and before the commit sends that message again: delivery is at least
once, and every message carries its event ids for the receiver to dedupe.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Self

import psycopg
from psycopg import Notify

from alerts.metrics import NOTIFICATIONS
from alerts.notify import outbox, system
from alerts.notify.channels._http import redact
from alerts.notify.channels.base import Channel, DeliveryResult
from alerts.notify.errors import InvalidNotification
from alerts.notify.message import Notice, read_notice, render, render_digest
from alerts.notify.outbox import Claimed, Target
from schemas.core.channels import NOTIFICATIONS as OUTBOX_CHANNEL
from schemas.core.listen import Backoff, ConnectionFactory, Listener

__all__ = ["DeliveryReport", "Dispatcher", "RetryPolicy"]

log = logging.getLogger(__name__)

RATE_WINDOW = timedelta(hours=1)


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 8
    base_delay_s: float = 30.0
    max_delay_s: float = 3600.0

    def delay(self, attempts: int) -> timedelta:
        """Wait after the ``attempts``-th failed attempt: base, 2×base, 4×base … capped."""
        return timedelta(
            seconds=min(self.base_delay_s * 2 ** max(attempts - 1, 0), self.max_delay_s)
        )


@dataclass(slots=True)
class DeliveryReport:
    messages_sent: int = 0  # successful sends (a digest counts once)
    notifications_sent: int = 0  # rows marked 'sent'
    digests_sent: int = 0
    notifications_digested: int = 0  # rows marked 'digested'
    attempts_failed: int = 0  # failed sends
    notifications_given_up: int = 0  # rows marked 'failed'
    notifications_deferred: int = 0  # rows held back by the rate limit or a failing endpoint

    def add(self, other: DeliveryReport) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def __bool__(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self))


_Item = tuple[Claimed, Notice]


class Dispatcher:
    """Sends due notifications over ``channels`` (channel name → :class:`Channel`).

    ``connect`` is a database URL or a factory of new connections; :meth:`run` opens two with
    it (one listens, one delivers), while :meth:`deliver_due` works on any idle connection it
    is given (autocommit recommended: it commits once per subscription). Subscriptions on channels missing from ``channels``
    are left alone, for a dispatcher that has them.
    """

    def __init__(
        self,
        connect: str | ConnectionFactory,
        channels: Mapping[str, Channel],
        *,
        clock: Callable[[], datetime] = _utcnow,
        retry: RetryPolicy = RetryPolicy(),
        batch_size: int = 200,
        max_subscriptions: int = 100,
        poll_interval_s: float = 5.0,
        reconnect_delay_s: float = 5.0,
        system_alert_reminder: timedelta | None = None,
    ) -> None:
        self.channels = dict(channels)
        self.system_alert_reminder = system_alert_reminder
        self.clock = clock
        self.retry = retry
        self.batch_size = batch_size
        self.max_subscriptions = max_subscriptions
        self.poll_interval_s = poll_interval_s
        self.reconnect_delay_s = reconnect_delay_s
        notify = [OUTBOX_CHANNEL]
        backoff = Backoff(first_s=reconnect_delay_s)
        if isinstance(connect, str):
            self._listener = Listener.for_database(
                connect,
                notify,
                application_name="sourcewatch.alerts.notify",
                wait_s=poll_interval_s,
                name="notification dispatcher",
                backoff=backoff,
            )
        else:
            self._listener = Listener(
                notify,
                listen=connect,
                work=connect,
                wait_s=poll_interval_s,
                name="notification dispatcher",
                backoff=backoff,
            )

    # one pass ------------------------------------------------------------------------------

    def deliver_due(self, conn: psycopg.Connection[Any]) -> DeliveryReport:
        """Send what is due now; returns what happened."""
        report = DeliveryReport()
        now = self.clock()
        with conn.transaction():
            if self.system_alert_reminder is not None:
                system.remind_due(conn, now, self.system_alert_reminder)
            system.announce_pending(conn, now)
        with conn.transaction():
            due = outbox.due_subscriptions(conn, now, sorted(self.channels), self.max_subscriptions)
        for subscription_id in due:
            with conn.transaction():
                target = outbox.lock_subscription(conn, subscription_id)
                if target is None:
                    continue  # another dispatcher is on it, or it was just deactivated
                rows = outbox.claim(conn, subscription_id, now, self.batch_size)
                if items := self._readable(conn, target, rows, report):
                    self._deliver(conn, target, items, now, report)
        return report

    def _readable(
        self,
        conn: psycopg.Connection[Any],
        target: Target,
        rows: list[Claimed],
        report: DeliveryReport,
    ) -> list[_Item]:
        """The rows with their notifications; a row whose payload cannot be read back is
        given up at once (no release of ours can send it) rather than poison a digest."""
        items = []
        for row in rows:
            try:
                items.append((row, read_notice(row.payload)))
            except InvalidNotification as exc:
                self._failed(conn, target, [row], f"bad outbox payload: {exc}", None, report)
        return items

    def _deliver(
        self,
        conn: psycopg.Connection[Any],
        target: Target,
        items: list[_Item],
        now: datetime,
        report: DeliveryReport,
    ) -> None:
        sent = outbox.sent_since(conn, target.id, now - RATE_WINDOW)
        allowance = target.max_per_hour - len(sent)
        if allowance <= 0:
            self._hold(conn, items, _window_opens(sent, target.max_per_hour), report)
            return
        if target.digest_after is not None and len(items) > target.digest_after:
            self._send(conn, target, items, digest=True, report=report)
            return
        for i, item in enumerate(items):
            if i >= allowance:
                self._hold(conn, items[i:], _window_opens(sent, target.max_per_hour), report)
                return
            result, at = self._send(conn, target, [item], digest=False, report=report)
            if result.ok:
                sent.append(at)
            elif result.retryable and (rest := items[i + 1 :]):
                # the endpoint is failing: the others wait for the same retry time
                self._hold(conn, rest, at + self.retry.delay(item[0].attempts + 1), report)
                return

    def _hold(
        self,
        conn: psycopg.Connection[Any],
        items: Sequence[_Item],
        until: datetime,
        report: DeliveryReport,
    ) -> None:
        outbox.defer(conn, [row for row, _ in items], until)
        report.notifications_deferred += len(items)

    def _send(
        self,
        conn: psycopg.Connection[Any],
        target: Target,
        items: Sequence[_Item],
        *,
        digest: bool,
        report: DeliveryReport,
    ) -> tuple[DeliveryResult, datetime]:
        rows = [row for row, _ in items]
        notifications = [n for _, n in items]
        message = render_digest(notifications) if digest else render(notifications[0])
        started = time.monotonic()
        try:
            result = self.channels[target.channel].send(target.target, target.secret, message)
        except Exception as exc:  # a channel bug must not stop the dispatcher
            log.exception("channel %s raised", target.channel)
            result = DeliveryResult.failure(f"{type(exc).__name__}: {exc}")
        duration_ms = round((time.monotonic() - started) * 1000)
        at = self.clock()
        outbox.log_attempt(
            conn,
            rows=rows,
            digest=digest,
            target=target,
            shown_target=redact(target.target),
            at=at,
            ok=result.ok,
            status_code=result.status_code,
            response=result.response,
            error=result.error,
            duration_ms=duration_ms,
        )
        if result.ok:
            outbox.mark_delivered(conn, rows, digest=digest, at=at)
            report.messages_sent += 1
            NOTIFICATIONS.labels(target.channel, "digested" if digest else "sent").inc(len(rows))
            if digest:
                report.digests_sent += 1
                report.notifications_digested += len(rows)
            else:
                report.notifications_sent += len(rows)
        else:
            report.attempts_failed += 1
            NOTIFICATIONS.labels(target.channel, "failed").inc(len(rows))
            error = result.error or "delivery failed"
            self._failed(conn, target, rows, error, at if result.retryable else None, report)
        return result, at

    def _failed(
        self,
        conn: psycopg.Connection[Any],
        target: Target,
        rows: Sequence[Claimed],
        error: str,
        at: datetime | None,
        report: DeliveryReport,
    ) -> None:
        """Count a failed attempt on each row: retry after the backoff from ``at``, or give
        up (``at`` None: not retryable, or the last attempt)."""
        for row in rows:
            attempts = row.attempts + 1
            retry_at = None
            if at is not None and attempts < self.retry.max_attempts:
                retry_at = at + self.retry.delay(attempts)
            outbox.mark_attempt_failed(conn, row, error=error, retry_at=retry_at)
            if retry_at is None:
                report.notifications_given_up += 1
                NOTIFICATIONS.labels(target.channel, "given_up").inc()
                log.warning(
                    "giving up notification %s (event %s, subscription %s) after %s attempts: %s",
                    row.id,
                    row.event_id if row.event_id is not None else f"system-{row.system_event_id}",
                    target.id,
                    attempts,
                    error,
                )

    # the loop ------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """The loop holds its database connections (readiness)."""
        return self._listener.connected

    def run(self, stop: threading.Event) -> None:
        """Deliver until ``stop`` is set: on every NOTIFY from :func:`enqueue`, and at least
        every ``poll_interval_s`` (retries and rate-limited rows come due without a NOTIFY).
        A lost database connection is reopened."""

        def wake(conn: psycopg.Connection[Any], _: Sequence[Notify]) -> None:
            if report := self.deliver_due(conn):
                log.info("notifications: %s", report)

        self._listener.run(stop, wake)

    def close(self) -> None:
        for channel in self.channels.values():
            channel.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _window_opens(sent: Sequence[datetime], limit: int) -> datetime:
    """When the oldest message that keeps the window full leaves it."""
    ordered = sorted(sent)
    return ordered[len(ordered) - limit] + RATE_WINDOW
