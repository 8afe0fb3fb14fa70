"""Outages: an outlet that sends nothing for N minutes opens an outage case; the first frame
after it closes the case ("back online"). Driven by ``outlet_activity``, which ingest updates
with every batch, so detection never scans the frames archive."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

import psycopg

from schemas.cases.transitions import Transition, close_case, lock_outlet, open_case

__all__ = ["detect_outages"]

_CANDIDATES = """
SELECT o.id, coalesce(a.last_frame_at, o.created_at) AS last_heard, c.id AS case_id
FROM outlets o
LEFT JOIN outlet_activity a ON a.outlet_id = o.id
LEFT JOIN cases c ON c.kind = 'outage' AND c.outlet_id = o.id AND c.state = 'open'
WHERE o.active
  AND ((c.id IS NULL AND coalesce(a.last_frame_at, o.created_at) < %(silent_since)s)
       OR (c.id IS NOT NULL AND a.last_frame_at > c.first_at))
"""


Announce = Callable[[psycopg.Connection, Sequence[Transition]], object]


def detect_outages(
    conn: psycopg.Connection,
    *,
    now: datetime,
    after_minutes: int,
    announce: Announce | None = None,
) -> list[Transition]:
    """Open and close outage cases as of ``now``. ``conn`` must be in autocommit mode; each
    outlet is handled in its own short transaction under the outlet's case lock, and
    ``announce`` is called with that outlet's transitions inside it."""
    silent_since = now - timedelta(minutes=after_minutes)
    candidates = conn.execute(_CANDIDATES, {"silent_since": silent_since}).fetchall()
    out: list[Transition] = []
    for outlet_id, last_heard, case_id in candidates:
        with conn.transaction():
            lock_outlet(conn, outlet_id)
            if case_id is None:
                minutes = int((now - last_heard).total_seconds() // 60)
                _, events = open_case(
                    conn,
                    kind="outage",
                    outlet_id=outlet_id,
                    subject="silent",
                    severity="major",
                    first_at=last_heard,
                    last_at=now,
                    details={"last_heard": last_heard.isoformat(), "silent_minutes": minutes},
                )
            else:
                events = close_case(conn, case_id, f"back online at {last_heard.isoformat()}")
            if announce is not None and events:
                announce(conn, events)
            out += events
    return out
