"""The writer against the real database: idempotent merge, revisions, archive, dead letters,
NOTIFY."""

from __future__ import annotations

import dataclasses
import functools
import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import psycopg
import pytest
from psycopg import sql

from ingest import writer
from ingest.records import Accepted, MeasurementRow, Rejected
from ingest.writer import write_batch
from schemas.core import channels, pgcopy
from schemas.core.listen import listen_statement
from tests.fixtures.registry import add_outlet

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)


def frame(outlet_id: int, raw: bytes, rows: list[MeasurementRow]) -> Accepted:
    return Accepted(
        transport="mqtt",
        topic="hj212/MN1/up",
        received_at=datetime.now(UTC),
        raw=raw,
        outlet_id=outlet_id,
        mn="MN1",
        st="31",
        cn="2011",
        qn=None,
        data_time=T0,
        crc_ok=True,
        length_ok=True,
        rows=tuple(rows),
    )


def so2(value: str, flag: str = "N", ts: datetime = T0) -> MeasurementRow:
    return MeasurementRow("a21026", "rtd", ts, value=Decimal(value), flag=flag)


def count(conn: psycopg.Connection, table: str) -> int:
    row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()
    assert row is not None
    return int(row[0])


def test_new_values_are_inserted_and_a_resend_is_a_no_op(db: psycopg.Connection) -> None:
    oid = add_outlet(db, "MN1")
    batch = [frame(oid, b"f1", [so2("12.5"), so2("13.0", ts=T0 + timedelta(seconds=30))])]
    first = write_batch(db, batch, [])
    assert (first.frames_new, first.values_inserted, first.values_revised) == (1, 2, 0)
    again = write_batch(db, batch, [])
    assert (again.frames_new, again.frames_duplicate, again.values_inserted) == (0, 1, 0)
    assert again.values_unchanged == 2
    assert count(db, "measurements") == 2
    assert count(db, "frames") == 1
    assert count(db, "measurement_revisions") == 0


def test_a_changed_value_is_kept_as_a_revision(db: psycopg.Connection) -> None:
    oid = add_outlet(db, "MN1")
    write_batch(db, [frame(oid, b"f1", [so2("12.5")])], [])
    result = write_batch(db, [frame(oid, b"f2", [so2("99.1", flag="M")])], [])
    assert (result.values_inserted, result.values_revised) == (0, 1)
    value, flag, revision = db.execute(
        "SELECT value, flag, revision FROM measurements"
    ).fetchone() or (None, None, None)
    assert (value, flag, revision) == (Decimal("99.1"), "M", 1)
    old, new, rev, old_frame, new_frame = (
        db.execute(
            "SELECT old, new, revision, old_frame_id, new_frame_id FROM measurement_revisions"
        ).fetchone()
        or (None,) * 5
    )
    assert (old["value"], old["flag"]) == (12.5, "N")
    assert (new["value"], new["flag"]) == (99.1, "M")
    assert rev == 1
    assert old_frame != new_frame


def test_a_resend_with_other_trailing_zeros_is_a_no_op_and_keeps_the_first_digits(
    db: psycopg.Connection,
) -> None:
    """Values compare as numbers (10.0 = 10.00), as when measurements kept `numeric`; the stored
    mantissa and scale (migration 0024) give back the digits first sent."""
    oid = add_outlet(db, "MN1")
    write_batch(db, [frame(oid, b"f1", [so2("10.0")])], [])
    result = write_batch(db, [frame(oid, b"f2", [so2("10.00")])], [])
    assert (result.values_inserted, result.values_revised, result.values_unchanged) == (0, 0, 1)
    assert db.execute("SELECT value::text, revision FROM measurements").fetchone() == ("10.0", 0)
    result = write_batch(db, [frame(oid, b"f3", [so2("-10.05")])], [])
    assert result.values_revised == 1
    assert db.execute("SELECT value::text FROM measurements").fetchone() == ("-10.05",)
    assert db.execute("SELECT value_mantissa, value_scale FROM measurement_rows").fetchone() == (
        -1005,
        2,
    )


def test_the_last_value_in_a_batch_wins_and_counts_once(db: psycopg.Connection) -> None:
    oid = add_outlet(db, "MN1")
    result = write_batch(db, [frame(oid, b"a", [so2("1")]), frame(oid, b"b", [so2("2")])], [])
    assert (result.values_inserted, result.values_revised) == (1, 0)
    row = db.execute("SELECT value FROM measurements").fetchone()
    assert row == (Decimal(2),)


def test_the_same_bytes_twice_in_one_batch_archive_once(db: psycopg.Connection) -> None:
    oid = add_outlet(db, "MN1")
    result = write_batch(db, [frame(oid, b"same", [so2("1")])] * 2, [])
    assert (result.frames_new, result.frames_duplicate) == (1, 1)
    assert count(db, "frames") == 1


def test_dead_letters_are_idempotent(db: psycopg.Connection) -> None:
    bad = Rejected("mqtt", "hj212/X/up", datetime.now(UTC), b"##garbage", "format", "no CP")
    assert write_batch(db, [], [bad, bad]).dead_letters == 2
    write_batch(db, [], [bad])
    reason, detail, raw = (
        db.execute("SELECT reason, detail, raw FROM dead_letters").fetchone() or ()
    )
    assert (reason, detail, raw) == ("format", "no CP", b"##garbage")
    assert count(db, "dead_letters") == 1


def test_commit_notifies_what_changed_per_outlet(db: psycopg.Connection, database_url: str) -> None:
    oid = add_outlet(db, "MN1")
    with psycopg.connect(database_url, autocommit=True) as listener:
        listener.execute(listen_statement([channels.MEASUREMENTS]))
        write_batch(db, [frame(oid, b"f1", [so2("1"), so2("2", ts=T0 + timedelta(minutes=1))])], [])
        write_batch(db, [frame(oid, b"f1", [so2("1")])], [])  # no change: no notification
        notes = list(listener.notifies(timeout=1.0, stop_after=2))
    assert len(notes) == 1
    body = json.loads(notes[0].payload)
    assert body["outlet_id"] == oid
    assert body["kinds"] == ["rtd"]
    assert (body["inserted"], body["revised"]) == (2, 0)
    assert datetime.fromisoformat(body["start"]) == T0
    assert datetime.fromisoformat(body["end"]) == T0 + timedelta(minutes=1)


def test_nothing_is_written_when_the_batch_fails(db: psycopg.Connection) -> None:
    oid = add_outlet(db, "MN1")
    huge = MeasurementRow("a21026", "rtd", T0, value=Decimal("1e200000"))
    with pytest.raises(Exception, match="write failed"):
        write_batch(db, [frame(oid, b"ok", [so2("1")]), frame(oid, b"bad", [huge])], [])
    assert count(db, "frames") == 0
    assert count(db, "measurements") == 0


def test_changed_hours_are_queued_for_evaluation(db: psycopg.Connection) -> None:
    oid = add_outlet(db, "MN1")
    rows = [so2("1"), so2("2", ts=T0 + timedelta(minutes=59)), so2("3", ts=T0 + timedelta(hours=2))]
    write_batch(db, [frame(oid, b"f1", rows)], [])
    queued = db.execute("SELECT outlet_id, hour_start FROM evaluation_queue ORDER BY 2").fetchall()
    assert queued == [(oid, T0), (oid, T0 + timedelta(hours=2))]
    db.execute("DELETE FROM evaluation_queue")
    write_batch(db, [frame(oid, b"f1", rows)], [])  # unchanged: nothing to re-evaluate
    assert count(db, "evaluation_queue") == 0


def test_each_batch_records_when_the_outlet_was_last_heard(db: psycopg.Connection) -> None:
    oid = add_outlet(db, "MN1")
    write_batch(db, [frame(oid, b"f1", [so2("1")])], [])
    first = db.execute("SELECT last_frame_at, last_data_at FROM outlet_activity").fetchone()
    assert first is not None and first[1] == T0
    write_batch(db, [frame(oid, b"f2", [])], [])  # a frame without values: heard, no data
    second = db.execute("SELECT last_frame_at, last_data_at FROM outlet_activity").fetchone()
    assert second is not None and second[0] > first[0] and second[1] == T0


def test_a_refused_batch_is_written_frame_by_frame_and_the_bad_one_is_a_dead_letter(
    db: psycopg.Connection,
) -> None:
    from ingest.writer import write_isolating

    oid = add_outlet(db, "MN1")
    huge = MeasurementRow("a21026", "rtd", T0 + timedelta(hours=1), value=Decimal("1e200000"))
    good, bad = frame(oid, b"ok", [so2("1")]), frame(oid, b"bad", [huge])
    accepted: list[Accepted] = [good, bad]
    rejected: list[Rejected] = []
    written = write_isolating(db, accepted, rejected)
    assert written.accepted == [good]  # only what is stored may be answered as stored
    assert [r.reason for r in written.rejected] == ["store"]
    result = written.result
    assert (result.frames_new, result.values_inserted, result.dead_letters) == (1, 1, 1)
    assert db.execute("SELECT reason, raw FROM dead_letters").fetchall() == [("store", b"bad")]
    assert count(db, "measurements") == 1
    assert (accepted, rejected) == ([good, bad], [])  # what was given is left as it was


def test_an_accepted_batch_is_returned_whole_with_its_dead_letters(db: psycopg.Connection) -> None:
    from ingest.writer import write_isolating

    oid = add_outlet(db, "MN1")
    good = frame(oid, b"ok", [so2("1")])
    junk = Rejected("mqtt", "hj212/MN1/up", datetime.now(UTC), b"junk", "format", "no header")
    written = write_isolating(db, (good,), (junk,))
    assert (written.accepted, written.rejected) == ([good], [junk])
    result = written.result
    assert (result.frames_new, result.values_inserted, result.dead_letters) == (1, 1, 1)
    again = write_isolating(db, [good], [junk]).result  # a re-send: nothing new
    assert (again.frames_new, again.frames_duplicate, again.values_unchanged) == (0, 1, 1)


def test_every_field_of_a_frame_and_its_values_is_stored_as_given(db: psycopg.Connection) -> None:
    """The batch reaches the staging tables in binary COPY: each column keeps its value and
    type (exponents, negatives, NULLs, non-ASCII text, bytes that are no UTF-8)."""
    oid = add_outlet(db, "MN1")
    sampled = T0 - timedelta(minutes=3)
    row = MeasurementRow(
        "w01018",
        "hour",
        T0,
        value=Decimal("1.5E+3"),
        min=Decimal("-0.001"),
        max=Decimal("99999999.123456789"),
        cou=Decimal(0),
        zs_value=None,
        zs_min=Decimal(7),
        zs_max=Decimal("-7.50"),
        flag="N",
        eflag="E1",
        sample_time=sampled,
        extra={"Ssd": "流量", "Info": "a\tb\\c"},
    )
    received = datetime(2026, 11, 28, 8, 0, 1, 123456, tzinfo=UTC)
    a = Accepted(
        transport="tcp",
        topic=None,
        received_at=received,
        raw=b"##\x00\xff\r\n",
        outlet_id=oid,
        mn="MN1",
        st="32",
        cn="2061",
        qn="20261128080000000",
        data_time=T0,
        crc_received="1C80",
        crc_computed="1C81",
        crc_algorithm="crc16-hj212",
        crc_ok=False,
        length_ok=True,
        rows=(row,),
    )
    assert write_batch(db, [a], []).values_inserted == 1
    stored = db.execute(
        "SELECT value, min, max, cou, zs_value, zs_min, zs_max, flag, eflag, sample_time, extra,"
        " revision FROM measurements"
    ).fetchone()
    assert stored == (
        Decimal("1.5E+3"),
        Decimal("-0.001"),
        Decimal("99999999.123456789"),
        Decimal(0),
        None,
        Decimal(7),
        Decimal("-7.50"),
        "N",
        "E1",
        sampled,
        {"Ssd": "流量", "Info": "a\tb\\c"},
        0,
    )
    archived = db.execute(
        "SELECT received_at, transport, topic, outlet_id, mn, st, cn, qn, data_time, digest, raw,"
        " crc_received, crc_computed, crc_algorithm, crc_ok, length_ok, verdict, values_count"
        " FROM frames"
    ).fetchone()
    assert archived == (
        received,
        "tcp",
        None,
        oid,
        "MN1",
        "32",
        "2061",
        "20261128080000000",
        T0,
        a.digest,
        b"##\x00\xff\r\n",
        "1C80",
        "1C81",
        "crc16-hj212",
        False,
        True,
        "stored",
        1,
    )


def _written(conn: psycopg.Connection, outlet_id: int) -> dict[str, object]:
    """What a batch left for one outlet, the outlet's id left out."""
    q = {
        "measurements": "SELECT pollutant, kind, ts, value, min, max, cou, zs_value, zs_min,"
        " zs_max, flag, eflag, sample_time, extra, revision, received_at,"
        " (SELECT raw FROM frames f WHERE f.id = m.frame_id)"
        " FROM measurements m WHERE outlet_id = %s ORDER BY pollutant, kind, ts",
        "completeness": "SELECT pollutant, kind, hour_start, received, valid FROM completeness"
        " WHERE outlet_id = %s ORDER BY 1, 2, 3",
        "queue": "SELECT hour_start FROM evaluation_queue WHERE outlet_id = %s ORDER BY 1",
        "frames": "SELECT raw, verdict, values_count FROM frames WHERE outlet_id = %s ORDER BY 1",
    }
    return {k: conn.execute(v, (outlet_id,)).fetchall() for k, v in q.items()}


def test_a_fresh_batch_copied_straight_in_is_stored_as_the_merge_stores_it(
    db: psycopg.Connection, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch of new keys from new frames is inserted into measurements as staged, the rest
    of the merge done from the writer's own counts; the same batch through the staging merge
    leaves the same rows, record, queue and notification: hours at the edges (before 1970, a microsecond
    before an hour, another zone), values without a value, flags valid, invalid and none,
    several kinds and pollutants."""
    shanghai = timezone(timedelta(hours=8))
    instants = [
        datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(1900, 1, 1, 0, 30, tzinfo=shanghai),
        T0 - timedelta(microseconds=1),
        T0,
        datetime(2026, 11, 28, 16, 59, 59, tzinfo=shanghai),
    ]

    def batch(prefix: bytes, oid: int) -> list[Accepted]:
        frames = []
        for i, t in enumerate(instants):
            rows = [
                MeasurementRow("a21026", "rtd", t, value=Decimal(i), flag="N"),
                MeasurementRow("a21026", "min", t, value=Decimal("1.5"), flag="D", min=Decimal(1)),
                MeasurementRow("a34013", "rtd", t, value=None, flag="N", extra={"x": "y"}),
                MeasurementRow("a01012", "rtd", t, value=Decimal(-3), flag=None),
            ]
            frames.append(frame(oid, prefix + bytes([i]), rows))
        frames.append(frame(oid, prefix + b"empty", []))
        return frames

    direct_oid, staged_oid = add_outlet(db, "MN1"), add_outlet(db, "MN2")
    copied_in: list[int] = []
    copy_fresh = writer._write_fresh
    monkeypatch.setattr(
        writer, "_write_fresh", lambda cur, *a: copied_in.append(1) or copy_fresh(cur, *a)
    )
    with psycopg.connect(database_url, autocommit=True) as listener:
        listener.execute(listen_statement([channels.MEASUREMENTS]))
        via_copy = write_batch(db, batch(b"d", direct_oid), [])
        with db.transaction():  # the same, through staging and the merge
            via_merge = writer._write(db, batch(b"s", staged_oid), [], True, direct=False)
        notes = [json.loads(n.payload) for n in listener.notifies(timeout=1.0, stop_after=2)]
    assert copied_in == [1]  # the first batch went straight in, the second did not
    assert via_copy == via_merge
    assert (via_copy.values_inserted, via_copy.frames_new, via_copy.outlets_notified) == (20, 6, 1)
    copied, merged = _written(db, direct_oid), _written(db, staged_oid)
    merged["frames"] = [(b"d" + raw[1:], *rest) for raw, *rest in merged["frames"]]  # type: ignore[attr-defined]
    merged["measurements"] = [(*r[:-1], b"d" + r[-1][1:]) for r in merged["measurements"]]  # type: ignore[attr-defined]
    assert copied == merged
    assert len(copied["completeness"]) == 16  # 4 series × 4 hours  # type: ignore[arg-type]
    assert [n["outlet_id"] for n in notes] == [direct_oid, staged_oid]
    assert {k: v for k, v in notes[0].items() if k != "outlet_id"} == {
        k: v for k, v in notes[1].items() if k != "outlet_id"
    }


def test_a_key_sent_twice_in_a_fresh_batch_is_written_staged(db: psycopg.Connection) -> None:
    """The COPY of a fresh batch meets a key sent twice on the primary key; the batch is
    written again through the merge: the last value sent wins, counted once."""
    oid = add_outlet(db, "MN1")
    result = write_batch(
        db,
        [
            frame(oid, b"a", [so2("1"), so2("3", ts=T0 + timedelta(minutes=1))]),
            frame(oid, b"b", [so2("2", flag="D")]),
        ],
        [],
    )
    assert (result.values_inserted, result.values_revised, result.frames_new) == (2, 0, 2)
    assert db.execute("SELECT value, flag FROM measurements ORDER BY ts").fetchall() == [
        (Decimal(2), "D"),
        (Decimal(3), "N"),
    ]
    assert db.execute("SELECT received, valid FROM completeness").fetchall() == [(2, 1)]


def test_the_staging_tables_come_back_when_the_session_lost_them(db: psycopg.Connection) -> None:
    """The staging tables are created once per session; should they go (DISCARD TEMP), the
    next batch creates them again instead of failing."""
    oid = add_outlet(db, "MN1")
    write_batch(db, [frame(oid, b"f1", [so2("1")])], [])
    db.execute("DISCARD TEMP")
    late = frame(oid, b"f2", [so2("2", ts=T0 - timedelta(minutes=1))])  # through staging
    assert write_batch(db, [late], []).values_inserted == 1
    assert count(db, "measurements") == 2


def test_the_probe_calls_a_batch_fresh_only_when_each_series_starts_after_all_it_stored(
    db: psycopg.Connection,
) -> None:
    """_ALL_FRESH: fresh when every series of the batch starts after the latest value stored
    of it (or none is stored); a first instant equal to or before a stored one is not."""
    oid = add_outlet(db, "MN1")
    write_batch(db, [frame(oid, b"f1", [so2("1"), so2("2", ts=T0 + timedelta(minutes=2))])], [])

    def fresh(*series: tuple[str, str, datetime]) -> bool:
        texts = writer._Fields(functools.partial(pgcopy.text, encoding=db.info.encoding))
        first = {(oid, p, k): (t - writer._EPOCH) // writer._MICROSECOND for p, k, t in series}
        # as the writer sends them (arrays registered by its batch)
        row = db.execute(writer._ALL_FRESH, writer._probe_params(first, texts)).fetchone()
        assert row is not None
        return bool(row[0])

    latest = T0 + timedelta(minutes=2)
    assert fresh(("a21026", "rtd", latest + timedelta(microseconds=1)))
    assert not fresh(("a21026", "rtd", latest))
    assert not fresh(("a21026", "rtd", T0 + timedelta(minutes=1)))  # into a gap
    assert not fresh(("a21026", "rtd", T0 - timedelta(minutes=1)))
    assert fresh(("a21026", "min", T0), ("a34013", "rtd", T0))  # nothing stored of them
    assert not fresh(("a21026", "min", T0), ("a21026", "rtd", latest))
    # each series is looked up from its own first instant: the earliest bounds them all, so a
    # later series' first instant (past everything stored) hides nothing stored of another
    assert not fresh(("a21026", "rtd", T0 + timedelta(minutes=1)), ("a34013", "rtd", latest))


def test_a_frame_is_archived_once_within_30_days_of_the_stored_copy(db: psycopg.Connection) -> None:
    """A frame whose bytes were stored in the 30 days before its arrival is not archived again
    and its values cite the stored copy; after 30 days the same bytes are a new frame."""
    oid = add_outlet(db, "MN1")
    first = frame(oid, b"same", [so2("1")])
    write_batch(db, [first], [])
    stored_id = db.execute("SELECT id FROM frames").fetchone()
    again = dataclasses.replace(first, received_at=first.received_at + timedelta(days=29))
    result = write_batch(db, [again, frame(oid, b"other", [so2("2", ts=T0 - timedelta(1))])], [])
    assert (result.frames_new, result.frames_duplicate) == (1, 1)
    assert db.execute(
        "SELECT DISTINCT frame_id FROM measurements WHERE ts = %s", (T0,)
    ).fetchall() == [stored_id]
    later = dataclasses.replace(first, received_at=first.received_at + timedelta(days=31))
    assert write_batch(db, [later], []).frames_new == 1
    assert count(db, "frames") == 3


def test_the_earliest_arrival_of_a_batch_bounds_its_look_up_of_stored_copies(
    db: psycopg.Connection,
) -> None:
    """The look-up of stored copies is bounded once per batch by its earliest arrival: a frame
    whose copy was stored 29 days before it is found, though another frame of the batch
    arrived days later (29 days before it is after that copy)."""
    oid = add_outlet(db, "MN1")
    first = frame(oid, b"same", [so2("1")])
    write_batch(db, [first], [])
    again = dataclasses.replace(first, received_at=first.received_at + timedelta(days=29))
    other = frame(oid, b"other", [so2("2", ts=T0 + timedelta(days=5))])
    other = dataclasses.replace(other, received_at=again.received_at + timedelta(days=5))
    result = write_batch(db, [other, again], [])
    assert (result.frames_new, result.frames_duplicate) == (1, 1)
    assert count(db, "frames") == 2


def test_the_writer_leaves_the_session_s_runtime_chunk_exclusion_as_it_was(
    db: psycopg.Connection,
) -> None:
    """On TimescaleDB the writer turns runtime chunk exclusion off for its look-ups, in its
    own transaction only (SET LOCAL), also when the batch goes through the merge."""
    if not writer._uses_timescaledb(db):
        pytest.skip("TimescaleDB only (plain PostgreSQL has no chunks)")
    oid = add_outlet(db, "MN1")
    setting = "SHOW timescaledb.enable_runtime_exclusion"
    before = db.execute(setting).fetchone()
    write_batch(db, [frame(oid, b"f1", [so2("1")])], [])  # fresh: copied straight in
    write_batch(db, [frame(oid, b"f2", [so2("2")])], [])  # a revision: the merge
    assert db.execute(setting).fetchone() == before == ("on",)
    assert count(db, "measurement_revisions") == 1


def test_a_fresh_batch_without_flags_and_with_odd_codes_is_counted(db: psycopg.Connection) -> None:
    """The writer's counts go to the server as arrays: a column of NULLs only (no flag sent)
    and codes that array syntax quotes (braces, quotes, a backslash, the word NULL) arrive as
    they were."""
    oid = add_outlet(db, "MN1")
    codes = ['a{1}"x', "NULL", "b\\c"]
    rows = [MeasurementRow(c, "rtd", T0, value=Decimal("1.50"), flag=None) for c in codes]
    result = write_batch(db, [frame(oid, b"f1", rows)], [])
    assert (result.values_inserted, result.outlets_notified) == (3, 1)
    assert db.execute(
        "SELECT pollutant, hour_start, received, valid FROM completeness ORDER BY pollutant"
    ).fetchall() == [(c, T0, 1, 0) for c in sorted(codes)]
    assert db.execute(
        "SELECT pollutant, value::text FROM measurements ORDER BY pollutant"
    ).fetchall() == [(c, "1.50") for c in sorted(codes)]


def test_values_of_a_redelivered_frame_cite_its_archived_copy(db: psycopg.Connection) -> None:
    """The values of a frame whose bytes are archived already (earlier, or earlier in the same
    batch) cite the archived copy: the same bytes twice in one batch, and a frame re-delivered
    after another frame revised its value (the value goes back, citing the first frame)."""
    oid = add_outlet(db, "MN1")
    twice = frame(oid, b"twice", [so2("1")])
    write_batch(db, [twice, twice], [])
    archived = db.execute("SELECT id FROM frames WHERE raw = 'twice'").fetchone()
    assert db.execute("SELECT frame_id FROM measurements").fetchall() == [archived]
    write_batch(db, [frame(oid, b"revision", [so2("2")])], [])
    result = write_batch(db, [twice], [])
    assert (result.frames_duplicate, result.values_revised) == (1, 1)
    assert db.execute("SELECT value, frame_id FROM measurements").fetchall() == [
        (Decimal(1), archived[0] if archived else None)
    ]
    assert count(db, "frames") == 2


_DIGITS = [
    "10.00",
    "-0.50",
    "0E-5",
    "1E+3",
    "0.000000000000000001",
    "999999999999999999",
    "1000000000000000000",  # no pair holds these: kept wide
    "0.0000000000000000001",
    "20.61855670103092783505154639",
]


def test_values_keep_their_digits_straight_in_staged_and_in_revisions(
    db: psycopg.Connection,
) -> None:
    """The writer splits each value into mantissa and scale itself (ingest/exact_pairs.py):
    copied straight into measurement_rows (a fresh batch) or staged and merged, a value reads
    back with the digits sent, a wide one as sent, and a revision keeps both as numbers with
    their digits."""
    oid = add_outlet(db, "MN1")

    def rows(texts: list[str], minute: int) -> list[MeasurementRow]:
        return [
            MeasurementRow(
                f"a{i:05d}", "rtd", T0 + timedelta(minutes=minute), value=Decimal(t), zs_max=None
            )
            for i, t in enumerate(texts)
        ]

    def stored(minute: int) -> list[str]:
        return [
            r[0]
            for r in db.execute(
                "SELECT value::text FROM measurements WHERE ts = %s ORDER BY pollutant",
                (T0 + timedelta(minutes=minute),),
            )
        ]

    sent = [
        r[0] for r in db.execute("SELECT t::numeric::text FROM unnest(%s::text[]) t", (_DIGITS,))
    ]
    write_batch(db, [frame(oid, b"fresh", rows(_DIGITS, 1))], [])  # fresh: COPYed straight in
    assert stored(1) == sent
    write_batch(db, [frame(oid, b"old", rows(_DIGITS, 0))], [])  # before what is stored: merged
    assert stored(0) == sent
    assert count(db, "measurement_revisions") == 0
    changed = list(reversed(_DIGITS))
    result = write_batch(db, [frame(oid, b"changed", rows(changed, 1))], [])
    assert result.values_revised == len(_DIGITS) - 1  # the middle value is the same
    assert stored(1) == list(reversed(sent))
    revisions = db.execute(
        "SELECT old->>'value', new->>'value' FROM measurement_revisions ORDER BY pollutant"
    ).fetchall()
    middle = len(_DIGITS) // 2
    expected = [
        (o, n) for i, (o, n) in enumerate(zip(sent, reversed(sent), strict=True)) if i != middle
    ]
    assert revisions == expected


def test_a_batch_of_several_outlets_records_each_ones_latest_frame_and_data(
    db: psycopg.Connection,
) -> None:
    """outlet_activity from the whole batch: per outlet, the latest frame received (a re-sent
    frame and a frame without values count) and the latest data time of its frames with values
    (a later frame without values does not move it)."""
    a, b = add_outlet(db, "MN1"), add_outlet(db, "MN2")
    t = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
    first_b = dataclasses.replace(frame(b, b"b1", [so2("1")]), received_at=t)
    write_batch(db, [first_b], [])
    batch = [
        dataclasses.replace(frame(a, b"a1", [so2("1")]), received_at=t + timedelta(seconds=1)),
        dataclasses.replace(
            frame(a, b"a2", [so2("2", ts=T0 + timedelta(minutes=1))]),
            received_at=t + timedelta(seconds=2),
            data_time=T0 + timedelta(minutes=1),
        ),
        dataclasses.replace(
            frame(a, b"a3", []), received_at=t + timedelta(seconds=3), data_time=T0 + timedelta(1)
        ),
        dataclasses.replace(first_b, received_at=t + timedelta(seconds=4)),  # re-sent
    ]
    result = write_batch(db, batch, [])
    assert (result.frames_new, result.frames_duplicate) == (3, 1)
    assert db.execute(
        "SELECT outlet_id, last_frame_at, last_data_at FROM outlet_activity ORDER BY outlet_id"
    ).fetchall() == [
        (a, t + timedelta(seconds=3), T0 + timedelta(minutes=1)),
        (b, t + timedelta(seconds=4), T0),
    ]


def test_meanwhile_runs_once_inside_the_write_before_its_commit_in_either_path(
    db: psycopg.Connection, database_url: str
) -> None:
    oid = add_outlet(db, "MN1")
    seen: list[int] = []
    with psycopg.connect(database_url, autocommit=True) as other:

        def meanwhile() -> None:
            seen.append(count(other, "frames"))  # the batch's frame not committed yet

        fresh = [frame(oid, b"f1", [so2("12.5")])]
        write_batch(db, fresh, [], meanwhile=meanwhile)  # new keys: COPYed straight in
        revised = [frame(oid, b"f2", [so2("13.5")])]
        write_batch(db, revised, [], meanwhile=meanwhile)  # a stored key: staged and merged
        write_batch(db, [], [], meanwhile=meanwhile)  # no values: not called
    assert seen == [0, 1]
    assert count(db, "frames") == 2
    assert count(db, "measurement_revisions") == 1
