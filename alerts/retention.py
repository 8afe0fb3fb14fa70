"""What the evaluator's sweep expires: dead letters older than the retention
(``SOURCEWATCH_DEAD_LETTER_RETENTION_DAYS``). They are kept to diagnose a logger, not for ever:
a stream of garbage must not grow the database without end (issue 15)."""

from __future__ import annotations

from datetime import datetime, timedelta

import psycopg

__all__ = ["expire_dead_letters"]


def expire_dead_letters(
    conn: psycopg.Connection, now: datetime, retention: timedelta, *, batch: int = 10000
) -> int:
    """Delete the dead letters received before ``now - retention``, ``batch`` rows per
    statement (short transactions); how many were deleted."""
    cutoff = now - retention
    deleted = 0
    while True:
        with conn.transaction():
            cur = conn.execute(
                "DELETE FROM dead_letters WHERE id IN (SELECT id FROM dead_letters "
                "WHERE received_at < %s ORDER BY received_at LIMIT %s)",
                (cutoff, batch),
            )
        deleted += cur.rowcount
        if cur.rowcount < batch:
            return deleted
