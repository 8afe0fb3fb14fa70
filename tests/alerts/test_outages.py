from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from alerts.outages import detect_outages
from tests.fixtures.registry import add_outlet

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)


def heard(conn: psycopg.Connection, outlet_id: int, at: datetime) -> None:
    conn.execute(
        "INSERT INTO outlet_activity (outlet_id, last_frame_at) VALUES (%s, %s) "
        "ON CONFLICT (outlet_id) DO UPDATE SET last_frame_at = EXCLUDED.last_frame_at",
        (outlet_id, at),
    )


def test_silence_opens_one_outage_and_the_next_frame_closes_it(db: psycopg.Connection) -> None:
    quiet = add_outlet(db, "MN1")
    busy = add_outlet(db, "MN2")
    heard(db, quiet, NOW - timedelta(minutes=31))
    heard(db, busy, NOW - timedelta(minutes=1))
    opened = detect_outages(db, now=NOW, after_minutes=30)
    assert [(t.action, t.severity) for t in opened] == [("opened", "major")]
    assert detect_outages(db, now=NOW + timedelta(minutes=5), after_minutes=30) == []
    row = db.execute("SELECT outlet_id, first_at, state FROM cases").fetchone()
    assert row == (quiet, NOW - timedelta(minutes=31), "open")
    heard(db, quiet, NOW + timedelta(minutes=10))
    closed = detect_outages(db, now=NOW + timedelta(minutes=11), after_minutes=30)
    assert [t.action for t in closed] == ["closed"]
    reason = db.execute("SELECT close_reason FROM cases").fetchone()
    assert reason is not None and reason[0].startswith("back online")


def test_an_outlet_never_heard_from_counts_from_its_registration(db: psycopg.Connection) -> None:
    oid = add_outlet(db, "MN1")
    db.execute("UPDATE outlets SET created_at = %s WHERE id = %s", (NOW - timedelta(hours=2), oid))
    assert [t.action for t in detect_outages(db, now=NOW, after_minutes=30)] == ["opened"]
    db.execute("UPDATE outlets SET active = false WHERE id = %s", (oid,))
    assert detect_outages(db, now=NOW + timedelta(hours=1), after_minutes=30) == []
