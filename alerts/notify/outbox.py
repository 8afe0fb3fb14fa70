"""The notification outbox: every SQL statement on ``notification_outbox`` and ``delivery_log``.

:func:`enqueue` (and :func:`enqueue_many`, the evaluator's transitions of a batch in one
statement) runs in the caller's transaction, so a case transition and its notifications
commit (or roll back) together; ``NOTIFY sourcewatch_notifications`` wakes the dispatchers
when that transaction commits. The other functions are the dispatcher's steps, each meant to
run inside the transaction that holds the claimed rows.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import psycopg
from psycopg.types.json import Jsonb

from alerts.notify.errors import UnknownEvent
from alerts.notify.notification import Notification
from schemas.cases.kinds import SEVERITIES
from schemas.core import channels, pgcopy

__all__ = ["Claimed", "Target", "enqueue", "enqueue_many", "enqueue_system"]


# Matches active subscriptions against each notification (in the order given, then by
# subscription); an empty filter matches everything. Each event with rows inserted wakes the
# dispatchers (when the transaction commits; PostgreSQL sends a payload once per transaction).
# An event that does not exist (in this transaction's view) inserts nothing of any of them and
# comes back in a row of its own, so that the statement never fails on the foreign key and
# needs no savepoint around it: the caller's transaction stays usable, one round trip instead
# of three (case events are never deleted). The notifications' arrays go in binary, built by
# schemas/core/pgcopy.py: the payloads as their JSON text, each cast to jsonb (the same jsonb as
# psycopg's dumper gives, without its list dumper's Python loop per element) once, and only if
# a subscription matches it: a notification nobody subscribed to costs no parsing of its
# payload (until the eighteenth round every payload was parsed: 85 % of the statement's time in
# a drain without subscriptions).
_ENQUEUE = """
WITH n AS (
    SELECT * FROM unnest(%(event_ids)b::bigint[], %(payloads)b::text[],
        %(enterprise_ids)b::bigint[], %(districts)b::text[], %(pollutants)b::text[],
        %(kinds)b::text[], %(severities)b::text[])
        WITH ORDINALITY AS n(event_id, payload, enterprise_id, district, pollutant, kind,
            severity, i)
), unknown AS (
    SELECT n.event_id FROM n WHERE NOT EXISTS (SELECT FROM case_events c WHERE c.id = n.event_id)
), matched AS MATERIALIZED (
    SELECT n.i, s.id AS subscription_id
    FROM n JOIN subscriptions s ON s.active AND s.cases
      AND (cardinality(s.enterprise_ids) = 0 OR n.enterprise_id = ANY (s.enterprise_ids))
      AND (cardinality(s.districts) = 0 OR n.district = ANY (s.districts))
      AND (cardinality(s.pollutants) = 0 OR n.pollutant IS NULL
           OR n.pollutant = ANY (s.pollutants))
      AND (cardinality(s.kinds) = 0 OR n.kind = ANY (s.kinds))
      AND array_position(%(levels)s::text[], s.min_severity)
          <= array_position(%(levels)s::text[], n.severity)
), parsed AS MATERIALIZED (
    SELECT n.i, n.event_id, n.payload::jsonb AS payload FROM n
    WHERE n.i IN (SELECT m.i FROM matched m)
), inserted AS (
    INSERT INTO notification_outbox (event_id, subscription_id, payload)
    SELECT p.event_id, m.subscription_id, p.payload
    FROM matched m JOIN parsed p ON p.i = m.i
    WHERE NOT EXISTS (SELECT FROM unknown)
    ORDER BY m.i, m.subscription_id
    ON CONFLICT (event_id, subscription_id) DO NOTHING
    RETURNING event_id
)
SELECT e.rows, pg_notify(%(channel)s, e.event_id::text), NULL::bigint
FROM (SELECT event_id, count(*) AS rows FROM inserted GROUP BY event_id) e
UNION ALL
SELECT 0, NULL, event_id FROM unknown
"""


def enqueue(conn: psycopg.Connection[Any], n: Notification) -> int:
    """Queue ``n`` for every matching active subscription; returns the rows inserted.

    Runs in the caller's transaction and never commits it (inside a transaction block it uses
    a savepoint, so a bad ``event_id`` leaves the caller's transaction usable; in autocommit
    it is its own transaction). Idempotent: replaying an event inserts nothing new.
    """
    return enqueue_many(conn, [n])


def enqueue_many(conn: psycopg.Connection[Any], notifications: Sequence[Notification]) -> int:
    """:func:`enqueue` of each notification, in order, in one statement (the evaluator's
    transitions of a batch); returns the rows inserted. One bad ``event_id`` inserts none of
    them (:class:`UnknownEvent`)."""
    if not notifications:
        return 0
    pgcopy.register_arrays(conn.adapters)
    text = functools.partial(pgcopy.text, encoding=conn.info.encoding)
    events = pgcopy.array(pgcopy.Int8Array, [pgcopy.int8(n.event_id) for n in notifications])
    payloads = [text(_payload(n.to_json())) for n in notifications]
    params = {
        "event_ids": events,
        "payloads": pgcopy.array(pgcopy.TextArray, payloads),
        "enterprise_ids": pgcopy.array(
            pgcopy.Int8Array, [pgcopy.int8(n.enterprise_id) for n in notifications]
        ),
        "districts": pgcopy.array(pgcopy.TextArray, [text(n.district) for n in notifications]),
        "pollutants": pgcopy.array(pgcopy.TextArray, [text(n.pollutant) for n in notifications]),
        "kinds": pgcopy.array(pgcopy.TextArray, [text(n.kind) for n in notifications]),
        "severities": pgcopy.array(pgcopy.TextArray, [text(n.severity) for n in notifications]),
        "levels": list(SEVERITIES),
        "channel": channels.NOTIFICATIONS,
    }
    try:
        rows = conn.execute(_ENQUEUE, params).fetchall()
    except psycopg.errors.ForeignKeyViolation as exc:  # an event deleted meanwhile: never
        raise _unknown(notifications) from exc
    if any(event_id is not None for *_, event_id in rows):
        raise _unknown(notifications)
    return sum(inserted for inserted, *_ in rows)


def _unknown(notifications: Sequence[Notification]) -> UnknownEvent:
    ids = ", ".join(str(n.event_id) for n in notifications)
    among = "one of " if len(notifications) > 1 else ""
    return UnknownEvent(f"no case event {among}{ids}")


_dumps = functools.partial(json.dumps, ensure_ascii=False, separators=(",", ":"))


def _payload(doc: dict[str, Any]) -> str:
    """A notification's JSON text, as :data:`_dumps` writes it, by orjson (in C, about a tenth
    of the time a drain's payloads took): compact, non-ASCII as it is, every string, integer,
    null and boolean written alike. A float may be spelt otherwise (``2.5e-07`` / ``2.5e-7``),
    the same digits and exponent, so the same jsonb, which is all that is kept of the text (the
    statement casts it). What orjson refuses (an integer beyond 64 bits, a key that is not a
    string) :data:`_dumps` writes, or refuses, as before."""
    try:
        return orjson.dumps(doc).decode()
    except TypeError:  # (orjson.JSONEncodeError is one)
        return _dumps(doc)


# A system alert event goes to the active subscriptions asking for system alerts (of its kind,
# or every kind) whose subscriber is an active staff user; the case filters do not apply.
_ENQUEUE_SYSTEM = """
INSERT INTO notification_outbox (system_event_id, subscription_id, payload)
SELECT %(system_event_id)s, s.id, %(payload)s
FROM subscriptions s
JOIN staff_users u ON u.username = s.subscriber AND u.active
WHERE s.active AND s.system_alerts
  AND (cardinality(s.system_alert_kinds) = 0 OR %(kind)s::text = ANY (s.system_alert_kinds))
ORDER BY s.id
ON CONFLICT (system_event_id, subscription_id) DO NOTHING
"""


def enqueue_system(
    conn: psycopg.Connection[Any], system_event_id: int, kind: str, payload: dict[str, Any]
) -> int:
    """Queue a system alert event for every subscription that asks for it, in the caller's
    transaction; returns the rows inserted (none when repeated)."""
    inserted = conn.execute(
        _ENQUEUE_SYSTEM,
        {"system_event_id": system_event_id, "payload": Jsonb(payload), "kind": kind},
    ).rowcount
    if inserted:
        conn.execute(
            "SELECT pg_notify(%s, %s)", (channels.NOTIFICATIONS, f"system-event:{system_event_id}")
        )
    return inserted


# The dispatcher's side ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Target:
    """A subscription as the dispatcher needs it, locked for this transaction."""

    id: int
    channel: str
    target: str
    secret: str | None
    max_per_hour: int
    digest_after: int | None


@dataclass(frozen=True, slots=True)
class Claimed:
    """An outbox row taken by this dispatcher (locked until its transaction ends)."""

    id: int
    event_id: int | None  # a case event, or
    system_event_id: int | None  # a system alert event
    payload: dict[str, Any]
    attempts: int


def due_subscriptions(
    conn: psycopg.Connection[Any], now: datetime, channels: Sequence[str], limit: int
) -> list[int]:
    """Active subscriptions on these channels with rows due, oldest waiting first."""
    rows = conn.execute(
        "SELECT o.subscription_id FROM notification_outbox o "
        "JOIN subscriptions s ON s.id = o.subscription_id "
        "WHERE o.status = 'pending' AND (o.next_attempt_at IS NULL OR o.next_attempt_at <= %s) "
        "AND s.active AND s.channel = ANY (%s) "
        "GROUP BY o.subscription_id ORDER BY min(o.id) LIMIT %s",
        (now, list(channels), limit),
    ).fetchall()
    return [int(r[0]) for r in rows]


def lock_subscription(conn: psycopg.Connection[Any], subscription_id: int) -> Target | None:
    """Lock the subscription for this transaction, or None when another dispatcher holds it
    (or it was deactivated). NO KEY UPDATE: enqueue's foreign-key checks don't wait on it."""
    row = conn.execute(
        "SELECT id, channel, target, secret, max_per_hour, digest_after FROM subscriptions "
        "WHERE id = %s AND active FOR NO KEY UPDATE SKIP LOCKED",
        (subscription_id,),
    ).fetchone()
    return None if row is None else Target(*row)


def claim(
    conn: psycopg.Connection[Any], subscription_id: int, now: datetime, limit: int
) -> list[Claimed]:
    """Take the due rows of one subscription, oldest first; rows another transaction holds
    are skipped."""
    rows = conn.execute(
        "SELECT id, event_id, system_event_id, payload, attempts FROM notification_outbox "
        "WHERE subscription_id = %s AND status = 'pending' "
        "AND (next_attempt_at IS NULL OR next_attempt_at <= %s) "
        "ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED",
        (subscription_id, now, limit),
    ).fetchall()
    return [Claimed(*r) for r in rows]


def sent_since(
    conn: psycopg.Connection[Any], subscription_id: int, since: datetime
) -> list[datetime]:
    """When the subscription's messages of the rate-limit window were delivered, in order."""
    rows = conn.execute(
        "SELECT at FROM delivery_log WHERE subscription_id = %s AND ok AND at > %s ORDER BY at",
        (subscription_id, since),
    ).fetchall()
    return [r[0] for r in rows]


def log_attempt(
    conn: psycopg.Connection[Any],
    *,
    rows: Sequence[Claimed],
    digest: bool,
    target: Target,
    shown_target: str,
    at: datetime,
    ok: bool,
    status_code: int | None,
    response: str | None,
    error: str | None,
    duration_ms: int,
) -> None:
    conn.execute(
        "INSERT INTO delivery_log (outbox_id, digest_of, subscription_id, at, channel, target, "
        "ok, status_code, response, error, duration_ms) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            rows[0].id,
            [r.id for r in rows] if digest else None,
            target.id,
            at,
            target.channel,
            shown_target,
            ok,
            status_code,
            response,
            error,
            duration_ms,
        ),
    )


def mark_delivered(
    conn: psycopg.Connection[Any], rows: Sequence[Claimed], *, digest: bool, at: datetime
) -> None:
    conn.execute(
        "UPDATE notification_outbox SET status = %s, sent_at = %s, attempts = attempts + 1, "
        "last_error = NULL, next_attempt_at = NULL WHERE id = ANY (%s)",
        ("digested" if digest else "sent", at, [r.id for r in rows]),
    )


def mark_attempt_failed(
    conn: psycopg.Connection[Any],
    row: Claimed,
    *,
    error: str,
    retry_at: datetime | None,
) -> None:
    """Count a failed attempt; ``retry_at`` None gives the row up ('failed')."""
    conn.execute(
        "UPDATE notification_outbox SET attempts = attempts + 1, last_error = %s, "
        "next_attempt_at = %s, status = CASE WHEN %s THEN 'failed' ELSE 'pending' END "
        "WHERE id = %s",
        (error, retry_at, retry_at is None, row.id),
    )


def defer(conn: psycopg.Connection[Any], rows: Sequence[Claimed], until: datetime) -> None:
    """Postpone rows without counting an attempt (rate limit, endpoint backing off)."""
    conn.execute(
        "UPDATE notification_outbox SET next_attempt_at = greatest(next_attempt_at, %s) "
        "WHERE id = ANY (%s)",
        (until, [r.id for r in rows]),
    )
