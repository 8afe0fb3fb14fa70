"""System alerts: what staff must see that is not about one outlet's emissions but about the
service losing data (a broker dropping messages, a history recall that failed).

One open alert per (kind, subject): a new occurrence adds to its ``count`` and moves
``last_at``; staff read them at ``GET /v1/staff/system-alerts`` and close one once dealt with
(:func:`close_alert`, audited); the next occurrence then opens a new one. Broker counters
(:func:`counter_increase`) remember the last reading of a cumulative counter so that an
increase is counted once, by whichever ingest worker reads it, across restarts.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

import psycopg

from schemas.staff.audit import audit

__all__ = ["AlertKind", "close_alert", "counter_increase", "raise_alert"]

AlertKind = Literal["broker-drops", "recall-failed"]


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
    """Open the alert (kind, subject), or add ``count`` to the open one; returns its id."""
    row = conn.execute(
        """INSERT INTO system_alerts (kind, subject, first_at, last_at, count, message_zh,
                                      message_en, details)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
           ON CONFLICT (kind, subject) WHERE state = 'open' DO UPDATE SET
               last_at = EXCLUDED.last_at, count = system_alerts.count + EXCLUDED.count,
               message_zh = EXCLUDED.message_zh, message_en = EXCLUDED.message_en,
               details = EXCLUDED.details
           RETURNING id""",
        (kind, subject, at, at, count, message_zh, message_en, json.dumps(details, default=str)),
    ).fetchone()
    assert row is not None
    return int(row[0])


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
