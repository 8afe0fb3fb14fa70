"""The completeness record that ingest keeps (schemas/completeness/record.py), checked against a
direct count of ``measurements`` after every write: new keys count once, identical re-sends and
re-deliveries never, revisions move only the valid count, and two workers writing the same hour
(or the same key) at once lose nothing."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import psycopg
import pytest

from ingest import writer
from ingest.records import Accepted, MeasurementRow
from ingest.writer import write_batch
from schemas.completeness.record import recount
from tests.fixtures.registry import add_outlet

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)

Counts = dict[tuple[str, str, datetime], tuple[int, int]]


def frame(outlet_id: int, raw: bytes, rows: list[MeasurementRow]) -> Accepted:
    return Accepted(
        transport="mqtt",
        topic="hj212/MN1/up",
        received_at=datetime.now(UTC),
        raw=raw,
        outlet_id=outlet_id,
        mn="MN1",
        st="31",
        cn="2051",
        qn=None,
        data_time=T0,
        crc_ok=True,
        length_ok=True,
        rows=tuple(rows),
    )


def minute(
    minute: int, value: str | None = "12.5", flag: str | None = "N", pollutant: str = "a21026"
) -> MeasurementRow:
    return MeasurementRow(
        pollutant,
        "min",
        T0 + timedelta(minutes=minute),
        value=None if value is None else Decimal(value),
        flag=flag,
    )


def record(conn: psycopg.Connection) -> Counts:
    rows = conn.execute(
        "SELECT pollutant, kind, hour_start, received, valid FROM completeness"
        " WHERE received > 0 OR valid > 0"
    ).fetchall()
    return {(p, k, h): (r, v) for p, k, h, r, v in rows}


def direct(conn: psycopg.Connection) -> Counts:
    """What the record must say: counted from the measurements themselves."""
    rows = conn.execute(
        """SELECT m.pollutant, m.kind, date_trunc('hour', m.ts, 'UTC'), count(*),
                  count(*) FILTER (WHERE m.flag = 'N' AND m.value IS NOT NULL)
           FROM measurements m GROUP BY 1, 2, 3"""
    ).fetchall()
    return {(p, k, h): (r, v) for p, k, h, r, v in rows}


def test_new_values_count_once_and_resends_not_at_all(db: psycopg.Connection) -> None:
    oid = add_outlet(db, "MN1")
    rows = [minute(0), minute(1, flag="D"), minute(2, value=None), minute(61)]
    write_batch(db, [frame(oid, b"f1", rows)], [])
    write_batch(db, [frame(oid, b"f1", rows)], [])  # the same bytes again: a re-delivery
    write_batch(db, [frame(oid, b"f1-resent", rows)], [])  # the same values, other bytes
    expected = {
        ("a21026", "min", T0): (3, 1),
        ("a21026", "min", T0 + timedelta(hours=1)): (1, 1),
    }
    assert record(db) == direct(db) == expected


def test_the_same_key_twice_in_one_batch_counts_once(db: psycopg.Connection) -> None:
    oid = add_outlet(db, "MN1")
    write_batch(db, [frame(oid, b"a", [minute(0)]), frame(oid, b"b", [minute(0, flag="D")])], [])
    assert record(db) == direct(db) == {("a21026", "min", T0): (1, 0)}


def test_revisions_move_the_valid_count_only(db: psycopg.Connection) -> None:
    oid = add_outlet(db, "MN1")
    write_batch(db, [frame(oid, b"f1", [minute(0), minute(1)])], [])
    assert record(db) == {("a21026", "min", T0): (2, 2)}
    write_batch(db, [frame(oid, b"f2", [minute(0, flag="M")])], [])  # valid → invalid
    assert record(db) == direct(db) == {("a21026", "min", T0): (2, 1)}
    write_batch(db, [frame(oid, b"f3", [minute(0, value="13.1", flag="M")])], [])  # still invalid
    assert record(db) == direct(db) == {("a21026", "min", T0): (2, 1)}
    write_batch(db, [frame(oid, b"f4", [minute(0, value="13.1")])], [])  # invalid → valid
    write_batch(db, [frame(oid, b"f5", [minute(1, value="14")])], [])  # valid → valid
    assert record(db) == direct(db) == {("a21026", "min", T0): (2, 2)}
    revisions = db.execute("SELECT count(*) FROM measurement_revisions").fetchone()
    assert revisions == (4,)


def test_validity_follows_the_loggers_protocol(db: psycopg.Connection) -> None:
    """'P' (power failure) exists only in HJ/T 212-2005, 'N' is valid in both."""
    new = add_outlet(db, "MN1")
    old = add_outlet(db, "MN2", protocol_profile="hj212-2005")
    rows = [minute(0), minute(1, flag="P"), minute(2, flag="X")]
    write_batch(db, [frame(new, b"a", rows), frame(old, b"b", rows)], [])
    got = db.execute(
        "SELECT outlet_id, received, valid FROM completeness ORDER BY outlet_id"
    ).fetchall()
    assert got == [(new, 3, 1), (old, 3, 1)]


def test_recount_rebuilds_the_same_record(db: psycopg.Connection) -> None:
    oid = add_outlet(db, "MN1")
    write_batch(
        db, [frame(oid, b"f1", [minute(m, flag="N" if m % 3 else "C") for m in range(90)])], []
    )
    kept = record(db)
    db.execute("UPDATE completeness SET received = 0, valid = 0")
    assert recount(db, oid, T0, T0 + timedelta(hours=2)) == 2
    assert record(db) == kept == direct(db)


def _blocked_on_a_lock(conn: psycopg.Connection, pid: int) -> bool:
    row = conn.execute(
        "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", (pid,)
    ).fetchone()
    return row is not None and row[0] == "Lock"


def _race(
    db: psycopg.Connection,
    database_url: str,
    first: Callable[[psycopg.Connection], object],
    second: list[Accepted],
) -> None:
    """Write ``second`` on another connection while ``first`` has written but not committed.
    The interleaving is forced, not timed: the first commits only once the second is seen
    waiting for one of its locks."""
    holder = psycopg.connect(database_url, autocommit=True)
    other = psycopg.connect(database_url, autocommit=True)
    pid = other.info.backend_pid
    failure: list[BaseException] = []

    def second_writer() -> None:
        try:
            write_batch(other, second, [])
        except BaseException as exc:  # noqa: BLE001 - the test reports it
            failure.append(exc)

    try:
        with holder.transaction():
            first(holder)
            thread = threading.Thread(target=second_writer)
            thread.start()
            poll = threading.Event()
            while thread.is_alive() and not _blocked_on_a_lock(db, pid):
                poll.wait(0.01)
            assert thread.is_alive(), failure  # it waited for the first writer
        thread.join()
        assert not failure, failure
    finally:
        holder.close()
        other.close()


def _writer(batch: list[Accepted]) -> Callable[[psycopg.Connection], object]:
    """The ingest writer's work, inside the caller's transaction."""
    return lambda conn: writer._write(conn, batch, [], True)


def test_two_workers_adding_to_the_same_hour_both_count(
    db: psycopg.Connection, database_url: str
) -> None:
    oid = add_outlet(db, "MN1")
    write_batch(db, [frame(oid, b"seed", [minute(0)])], [])  # the hour's row exists
    _race(
        db,
        database_url,
        _writer([frame(oid, b"w1", [minute(1), minute(2, flag="D")])]),
        [frame(oid, b"w2", [minute(3), minute(1, value="99", flag="D")])],
    )
    assert record(db) == direct(db) == {("a21026", "min", T0): (4, 2)}


def test_two_workers_inserting_the_same_new_key(db: psycopg.Connection, database_url: str) -> None:
    oid = add_outlet(db, "MN1")
    _race(
        db,
        database_url,
        _writer([frame(oid, b"w1", [minute(0), minute(1)])]),
        [frame(oid, b"w2", [minute(0), minute(1, flag="D")])],  # one duplicate, one revision
    )
    assert record(db) == direct(db) == {("a21026", "min", T0): (2, 1)}


def test_a_revision_of_a_value_the_merge_did_not_see_is_recounted(
    db: psycopg.Connection, database_url: str
) -> None:
    """Two ingest writers of one outlet queue on its outlet_activity row before the merge, so
    a merge's snapshot holds the other's committed values. Should a change of the same key
    commit after the merge began anyway (here: a bare UPDATE with its own delta), the merge
    replaces a value it never saw: it says so (stale) and the hour is recounted."""
    oid = add_outlet(db, "MN1")
    write_batch(db, [frame(oid, b"seed", [minute(0, flag="D"), minute(1)])], [])

    def revise(conn: psycopg.Connection) -> None:  # D → N: valid + 1, as a writer counts it
        conn.execute(
            "UPDATE measurements SET value = 20, flag = 'N', revision = revision + 1"
            " WHERE outlet_id = %s AND ts = %s",
            (oid, T0),
        )
        conn.execute("UPDATE completeness SET valid = valid + 1")

    # the second writer's snapshot still has (12.5, D), so D → C would move valid by 0
    _race(db, database_url, revise, [frame(oid, b"w2", [minute(0, value="30", flag="C")])])
    assert record(db) == direct(db) == {("a21026", "min", T0): (2, 1)}


def test_late_values_beside_fresh_ones_are_merged(db: psycopg.Connection) -> None:
    """A batch of values newer than everything stored of their series is merged by a plain
    INSERT; one holding anything older (late data into a gap, a revision, a re-send) goes
    through the upsert as a whole: both count alike."""
    oid = add_outlet(db, "MN1")
    first = write_batch(db, [frame(oid, b"f1", [minute(5), minute(6, flag="D")])], [])
    assert (first.values_inserted, first.values_revised) == (2, 0)
    late = [minute(2), minute(6, value="7", flag="N"), minute(5), minute(9, flag="D")]
    second = write_batch(db, [frame(oid, b"f2", late)], [])
    assert (second.values_inserted, second.values_revised, second.values_unchanged) == (2, 1, 1)
    assert record(db) == direct(db) == {("a21026", "min", T0): (4, 3)}
    fresh = write_batch(db, [frame(oid, b"f3", [minute(10), minute(11, flag="D")])], [])
    assert (fresh.values_inserted, fresh.values_revised) == (2, 0)
    assert record(db) == direct(db) == {("a21026", "min", T0): (6, 4)}


def test_a_fresh_key_stored_meanwhile_writes_the_batch_again(
    db: psycopg.Connection, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Fresh keys go in by a plain INSERT. Ingest writers of one outlet queue on its
    outlet_activity row, so no other writer stores such a key in between; should something
    else do so (here: a bare INSERT that takes no such lock, committed while the writer waits
    on it), the INSERT meets a unique violation and the batch is written again, the key now
    revised instead of lost or refused."""
    oid = add_outlet(db, "MN1")

    def store(conn: psycopg.Connection) -> None:  # one valid value, counted as a writer would
        conn.execute(
            "INSERT INTO measurements (outlet_id, pollutant, kind, ts, value, flag)"
            " VALUES (%s, 'a21026', 'min', %s, 20, 'N')",
            (oid, T0),
        )
        conn.execute(
            "INSERT INTO completeness (outlet_id, pollutant, kind, hour_start, received, valid)"
            " VALUES (%s, 'a21026', 'min', %s, 1, 1)",
            (oid, T0),
        )

    with caplog.at_level(logging.WARNING, logger="ingest.writer"):
        _race(db, database_url, store, [frame(oid, b"w2", [minute(0, flag="D"), minute(1)])])
    assert "stored meanwhile" in caplog.text  # the plain INSERT met the key, then the retry
    got = db.execute("SELECT ts, value, flag, revision FROM measurements ORDER BY ts").fetchall()
    assert got == [
        (T0, Decimal("12.5"), "D", 1),
        (T0 + timedelta(minutes=1), Decimal("12.5"), "N", 0),
    ]
    assert db.execute("SELECT count(*) FROM measurement_revisions").fetchone() == (1,)
    assert record(db) == direct(db) == {("a21026", "min", T0): (2, 1)}


def test_values_count_in_their_utc_hour_at_the_edges(db: psycopg.Connection) -> None:
    """The merge bins instants into UTC hours by arithmetic (record.UTC_HOUR_SQL); the hours
    are those of date_trunc('hour', ts, 'UTC'), as the direct count takes them: before the
    binning's origin, a microsecond before an hour, on the hour, and given in another zone."""
    oid = add_outlet(db, "MN1")
    shanghai = timezone(timedelta(hours=8))
    instants = [
        datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(1970, 1, 1, 8, 30, tzinfo=shanghai),
        T0 - timedelta(microseconds=1),
        T0,
        datetime(2026, 11, 28, 16, 59, 59, tzinfo=shanghai),
    ]
    rows = [MeasurementRow("a21026", "min", t, value=Decimal(1), flag="N") for t in instants]
    write_batch(db, [frame(oid, b"edges", rows)], [])
    assert record(db) == direct(db)
    assert len(record(db)) == 4
