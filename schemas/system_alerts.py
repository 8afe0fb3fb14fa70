"""System alerts: what staff must see that is not about one outlet's emissions but about the
service losing data (a broker dropping messages, a history recall that failed).

One open alert per (kind, subject): a new occurrence adds to its ``count`` and moves
``last_at``; staff read them at ``GET /v1/staff/system-alerts`` and close one once dealt with
(:func:`close_alert`, audited); the next occurrence then opens a new one. Opening, reopening
(the first occurrence after a close) and closing each write one ``system_alert_events`` row
in the same transaction and wake the notification dispatcher, which tells the staff
subscribed to system alerts (:mod:`alerts.notify.system`); a repeated occurrence of an open
alert writes none, so it notifies nobody again. Broker counters
(:func:`counter_increase`) remember the last reading of a cumulative counter so that an
increase is counted once, by whichever ingest worker reads it, across restarts.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal, get_args

import psycopg

from schemas.core import channels
from schemas.staff.audit import audit

__all__ = [
    "ALERT_KINDS",
    "KIND_LABELS",
    "AlertKind",
    "close_alert",
    "counter_increase",
    "raise_alert",
]

AlertKind = Literal["broker-drops", "recall-failed"]
ALERT_KINDS: tuple[str, ...] = get_args(AlertKind)
# (zh, en) names, the one home of them for notifications and the staff console.
KIND_LABELS: dict[str, tuple[str, str]] = {
    "broker-drops": ("消息服务器丢弃消息", "Broker dropped messages"),
    "recall-failed": ("补数失败", "History recall failed"),
}


def counter_increase(conn: psycopg.Connection[Any], subject: str, value: int, at: datetime) -> int:
    """Store the reading ``value`` of the cumulative counter ``subject``; how much it grew
    since the last reading. A first reading counts from 0; a reading below the last one means
    the broker restarted (its counters start again from 0), so all of it is new."""
    row = conn.execute(
        "SELECT value FROM broker_counters WHERE subject = %s FOR UPDATE", (subject,)
    ).fetchone()
    conn.execute(
        "INSERT INTO broker_counters (subject, value, read_at) VALUES (%s, %s, %s) "
        "ON CONFLICT (subject) DO UPDATE SET value = EXCLUDED.value, read_at = EXCLUDED.read_at",
        (subject, value, at),
    )
    last = None if row is None else row[0]
    if last is None or value < last:
        return value
    return value - int(last)


def raise_alert(
    conn: psycopg.Connection[Any],
    kind: AlertKind,
    subject: str,
    count: int,
    *,
    message_zh: str,
    message_en: str,
    details: dict[str, Any],
    at: datetime,
) -> int:
    """Open the alert (kind, subject), or add ``count`` to the open one; returns its id.
    Opening it records an 'opened' event ('reopened' when an earlier one was closed)."""
    row = conn.execute(
        """INSERT INTO system_alerts (kind, subject, first_at, last_at, count, message_zh,
                                      message_en, details)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
           ON CONFLICT (kind, subject) WHERE state = 'open' DO UPDATE SET
               last_at = EXCLUDED.last_at, count = system_alerts.count + EXCLUDED.count,
               message_zh = EXCLUDED.message_zh, message_en = EXCLUDED.message_en,
               details = EXCLUDED.details
           RETURNING id, xmax = 0 AS inserted""",
        (kind, subject, at, at, count, message_zh, message_en, json.dumps(details, default=str)),
    ).fetchone()
    assert row is not None
    alert_id, inserted = int(row[0]), bool(row[1])
    # xmax = 0: this statement inserted the row (an update of the open alert sets xmax).
    if inserted:
        earlier = conn.execute(
            "SELECT 1 FROM system_alerts WHERE kind = %s AND subject = %s AND state = 'closed'"
            " LIMIT 1",
            (kind, subject),
        ).fetchone()
        _event(conn, alert_id, "opened" if earlier is None else "reopened", at)
    return alert_id


def _event(conn: psycopg.Connection[Any], alert_id: int, action: str, at: datetime) -> None:
    """Record a transition to tell subscribers about, and wake the dispatchers on commit."""
    conn.execute(
        "INSERT INTO system_alert_events (alert_id, action, at) VALUES (%s, %s, %s)"
        " ON CONFLICT (alert_id, action) WHERE action <> 'reminder' DO NOTHING",
        (alert_id, action, at),
    )
    conn.execute("SELECT pg_notify(%s, %s)", (channels.NOTIFICATIONS, f"system:{alert_id}"))


def close_alert(
    conn: psycopg.Connection[Any], alert_id: int, *, actor: str, at: datetime
) -> bool | None:
    """Close an open alert (audited); True when it was open, False when already closed,
    None when there is no such alert."""
    row = conn.execute(
        "SELECT state, count, last_at FROM system_alerts WHERE id = %s FOR UPDATE", (alert_id,)
    ).fetchone()
    if row is None:
        return None
    if row[0] == "closed":
        return False
    conn.execute(
        "UPDATE system_alerts SET state = 'closed', closed_at = %s, closed_by = %s WHERE id = %s",
        (at, actor, alert_id),
    )
    _event(conn, alert_id, "closed", at)
    audit(
        conn,
        actor,
        "system_alert.close",
        "system_alert",
        alert_id,
        before={"state": "open", "count": row[1], "last_at": row[2]},
        after={"state": "closed"},
    )
    return True
