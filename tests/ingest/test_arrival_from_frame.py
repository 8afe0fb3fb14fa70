"""A value's arrival time is its frame's (issue 16, migration 0022): the writer no longer copies
``frames.received_at`` onto every measurement row, and every reader that publishes it (the raw
dump table, the evidence bundle's values) takes it from the frame. What they publish must be
what they published when the row carried the copy: the same data is read as written now, then
with ``measurements.received_at`` filled in from the frames as the writer did before, and both
must equal the arrival times the writer was given."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from api.dumps.columns import table_query
from ingest.records import Accepted, MeasurementRow
from ingest.writer import write_batch
from schemas.cases import evidence
from schemas.core import arrival
from tests.fixtures.registry import add_outlet

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
ARRIVED = T0 + timedelta(seconds=1, microseconds=234_567)
REVISED = T0 + timedelta(hours=2, microseconds=71)
LATE = T0 + timedelta(days=3, microseconds=999_999)  # beyond the readers' join window
COPY_1 = T0 + timedelta(minutes=5, microseconds=111_111)
COPY_2 = T0 + timedelta(minutes=5, seconds=2, microseconds=222_222)
LEGACY = T0 + timedelta(minutes=9, microseconds=5)  # a row written before 0022
LEGACY_REVISED = T0 + timedelta(hours=3, microseconds=7)


def frame(oid: int, raw: bytes, at: datetime, rows: list[MeasurementRow]) -> Accepted:
    return Accepted(
        transport="mqtt",
        topic="hj212/MN1/up",
        received_at=at,
        raw=raw,
        outlet_id=oid,
        mn="MN1",
        st="31",
        cn="2051",
        qn=None,
        data_time=rows[0].ts,
        crc_ok=True,
        length_ok=True,
        rows=tuple(rows),
    )


def value(pollutant: str, minute: int, text: str) -> MeasurementRow:
    return MeasurementRow(pollutant, "min", T0 + timedelta(minutes=minute), value=Decimal(text))


def write(db: psycopg.Connection) -> tuple[int, dict[tuple[str, int], datetime]]:
    """Values first sent, revised, sent late, sent twice in one batch, and a legacy row (with
    its own copy of the arrival time) later revised; the arrival time each must show."""
    oid = add_outlet(db, "MN1")
    write_batch(
        db, [frame(oid, b"a", ARRIVED, [value("a21026", 0, "1.5"), value("a19001", 0, "9")])], []
    )
    write_batch(db, [frame(oid, b"b", REVISED, [value("a21026", 0, "1.75")])], [])
    write_batch(db, [frame(oid, b"c", LATE, [value("a21026", 1, "2")])], [])
    twice = [
        frame(oid, b"d", COPY_1, [value("a21026", 5, "3")]),
        frame(oid, b"d", COPY_2, [value("a21026", 5, "3")]),
    ]
    write_batch(db, twice, [])
    write_batch(
        db, [frame(oid, b"e", LEGACY, [value("a21026", 9, "4"), value("a19001", 9, "8")])], []
    )
    db.execute(
        "UPDATE measurements m SET received_at = %s WHERE ts = %s",
        (LEGACY, T0 + timedelta(minutes=9)),
    )
    write_batch(db, [frame(oid, b"f", LEGACY_REVISED, [value("a21026", 9, "4.5")])], [])
    return oid, {
        ("a21026", 0): REVISED,
        ("a19001", 0): ARRIVED,
        ("a21026", 1): LATE,
        ("a21026", 5): COPY_1,  # the stored copy: the second was a re-delivery
        ("a21026", 9): LEGACY_REVISED,
        ("a19001", 9): LEGACY,
    }


def dumped(db: psycopg.Connection, oid: int) -> dict[tuple[str, int], Any]:
    row = db.execute("SELECT enterprise_id FROM outlets WHERE id = %s", (oid,)).fetchone()
    assert row is not None
    q = table_query("raw", row[0], T0 - timedelta(days=1), T0 + timedelta(days=1))
    with db.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(q.query, q.params).fetchall()
    return {
        (r["pollutant"], int((r["ts"] - T0).total_seconds() // 60)): r["received_at"] for r in rows
    }


def in_evidence(db: psycopg.Connection, oid: int) -> dict[tuple[str, int], Any]:
    start, end = T0 - timedelta(days=1), T0 + timedelta(days=1)
    q = {"outlet": oid, "all": True, "pollutants": [], "start": start, "end": end}
    q |= arrival.window(start, end)
    with db.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(evidence._VALUES, q).fetchall()
    return {
        (r["pollutant"], int((r["ts"] - T0).total_seconds() // 60)): r["received_at"] for r in rows
    }


def test_the_writer_keeps_no_copy_of_the_arrival_time(db: psycopg.Connection) -> None:
    write(db)
    row = db.execute(
        "SELECT count(*) FILTER (WHERE received_at IS NOT NULL), count(*) FROM measurements"
    ).fetchone()
    assert row == (1, 6)  # only the legacy row left unrevised


def test_every_value_cites_a_stored_frame(db: psycopg.Connection) -> None:
    write(db)
    dangling = db.execute(
        "SELECT count(*) FROM measurements m WHERE NOT EXISTS "
        "(SELECT 1 FROM frames f WHERE f.id = m.frame_id)"
    ).fetchone()
    assert dangling == (0,)


@pytest.mark.parametrize("reader", [dumped, in_evidence], ids=["dump", "evidence"])
def test_readers_publish_the_frames_arrival_time_as_before(
    db: psycopg.Connection, reader: Any
) -> None:
    oid, expected = write(db)
    now = reader(db, oid)
    db.execute(  # as the writer did before 0022: every row its frame's arrival time
        "UPDATE measurements m SET received_at = f.received_at FROM frames f "
        "WHERE f.id = m.frame_id AND m.received_at IS NULL"
    )
    before = reader(db, oid)
    assert now == before == expected
