"""Transmission and validity rates and open gaps (schemas/completeness/) on a test day with
known gaps, invalid flags, duplicates and revisions, written by the real ingest writer and
compared with a direct count of the measurements table."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import psycopg
import pytest

from ingest.records import Accepted, MeasurementRow
from ingest.writer import write_batch
from schemas.completeness.expected import per_hour
from schemas.completeness.gaps import Gap, gaps
from schemas.completeness.rates import Rate, bounds, rates, ratio
from tests.fixtures.registry import add_outlet

pytestmark = pytest.mark.integration

LOCAL = ZoneInfo("Asia/Shanghai")
DAY = date(2026, 11, 28)
START = datetime(2026, 11, 28, tzinfo=LOCAL).astimezone(UTC)  # 2026-11-27 16:00 UTC
END = START + timedelta(days=1)
AFTER = END + timedelta(hours=5)  # "now": the day is over
SO2, NOX = "a21026", "a21002"

# The known defects of the day, by local hour
SILENT_HOUR = 3  # nothing at all arrives
MAINTENANCE_HOUR = 5  # minutes 0-29 flagged M (both pollutants); the hour record too
SO2_PARTIAL_HOUR = 10  # SO2 minutes 0-19 never arrive
FAULTY_HOUR = 7  # hour records flagged D
NOX_NO_HOUR_RECORD = 12  # NOx's hour record never arrives


def hour(h: int) -> datetime:
    return START + timedelta(hours=h)


def row(pollutant: str, kind: str, ts: datetime, flag: str = "N") -> MeasurementRow:
    return MeasurementRow(pollutant, kind, ts, value=Decimal("12.5"), flag=flag)


def the_day() -> list[MeasurementRow]:
    rows: list[MeasurementRow] = []
    for h in range(24):
        if h == SILENT_HOUR:
            continue
        for p in (SO2, NOX):
            for m in range(60):
                if h == SO2_PARTIAL_HOUR and p == SO2 and m < 20:
                    continue
                flag = "M" if h == MAINTENANCE_HOUR and m < 30 else "N"
                rows.append(row(p, "min", hour(h) + timedelta(minutes=m), flag))
            if not (h == NOX_NO_HOUR_RECORD and p == NOX):
                flag = {FAULTY_HOUR: "D", MAINTENANCE_HOUR: "M"}.get(h, "N")
                rows.append(row(p, "hour", hour(h), flag))
    rows += [row(SO2, "day", START), row(NOX, "day", START, "C")]
    return rows


def frames(outlet_id: int, rows: list[MeasurementRow], tag: str) -> list[Accepted]:
    """One frame per 60 rows, as loggers upload them."""
    return [
        Accepted(
            transport="mqtt",
            topic="hj212/MN1/up",
            received_at=datetime.now(UTC),
            raw=f"{tag}-{i}".encode(),
            outlet_id=outlet_id,
            mn="MN1",
            st="31",
            cn="2051",
            qn=None,
            data_time=rows[i].ts,
            crc_ok=True,
            length_ok=True,
            rows=tuple(rows[i : i + 60]),
        )
        for i in range(0, len(rows), 60)
    ]


@pytest.fixture
def outlet(db: psycopg.Connection) -> int:
    oid = add_outlet(db, "MN1")
    db.execute("UPDATE outlets SET expects_day = true WHERE id = %s", (oid,))
    day = the_day()
    for i in range(0, len(day), 600):  # batches of 10 frames
        write_batch(db, frames(oid, day[i : i + 600], f"a{i}"), [])
    # the burst again (a re-delivery), the same values again in other frames, and revisions:
    # SO2's maintenance minutes 0-9 were in fact valid, NOx's minute 40 of hour 0 was not
    write_batch(db, frames(oid, day[:600], "a0"), [])
    write_batch(db, frames(oid, day[600:1200], "again"), [])
    revised = [row(SO2, "min", hour(MAINTENANCE_HOUR) + timedelta(minutes=m)) for m in range(10)]
    revised.append(row(NOX, "min", hour(0) + timedelta(minutes=40), "D"))
    write_batch(db, frames(oid, revised, "revised"), [])
    return oid


@dataclass
class Direct:
    expected: int
    received: int
    valid: int


def direct(db: psycopg.Connection, oid: int, kind: str, pollutant: str | None = None) -> Direct:
    """The day's counts straight from measurements, and what per_hour() says was due."""
    received, valid = db.execute(
        """SELECT count(*), count(*) FILTER (WHERE flag = 'N' AND value IS NOT NULL)
           FROM measurements WHERE outlet_id = %s AND kind = %s AND ts >= %s AND ts < %s
             AND (%s::text IS NULL OR pollutant = %s)""",
        (oid, kind, START, END, pollutant, pollutant),
    ).fetchone() or (0, 0)
    due = sum(per_hour(hour(h), expects_day=True).get(kind, 0) for h in range(24))
    return Direct(due * (1 if pollutant else 2), received, valid)


def test_the_days_rates_agree_with_a_direct_count(db: psycopg.Connection, outlet: int) -> None:
    found = rates(db, outlet, "day", DAY, DAY, now=AFTER)
    by_key = {(r.pollutant, r.kind): r for r in found}
    assert {r.period_start for r in found} == {START}
    assert set(by_key) == {(p, k) for p in (None, SO2, NOX) for k in ("min", "hour", "day")}
    for (pollutant, kind), rate in by_key.items():
        count = direct(db, outlet, kind, pollutant)
        assert (rate.expected, rate.received, rate.valid) == (
            count.expected,
            count.received,
            count.valid,
        ), (pollutant, kind)
        assert rate.transmission_rate == ratio(count.received, count.expected)
        assert rate.validity_rate == ratio(count.valid, count.received)
    # the numbers, written out once: hour records
    hourly = by_key[(None, "hour")]
    assert (hourly.expected, hourly.received, hourly.valid) == (48, 45, 41)
    assert hourly.headline and [r for r in found if r.headline] == [hourly]
    assert hourly.transmission_rate == Decimal("0.9375")
    assert hourly.validity_rate == Decimal("0.9111")
    assert hourly.transmission_validity_rate == Decimal("0.8542")  # 41 / 48
    assert (hourly.target, hourly.meets_target, hourly.rules_confirmed) == (
        Decimal("0.9000"),
        False,
        False,
    )
    minutes = by_key[(None, "min")]
    assert (minutes.expected, minutes.received, minutes.valid) == (2880, 2740, 2689)


def test_month_and_quarter_add_up_the_days(db: psycopg.Connection, outlet: int) -> None:
    day = {(r.pollutant, r.kind): r for r in rates(db, outlet, "day", DAY, DAY, now=AFTER)}
    for period in ("month", "quarter"):
        found = rates(db, outlet, period, DAY, DAY, now=AFTER)  # type: ignore[arg-type]
        start, _ = bounds(period, DAY, DAY, "Asia/Shanghai")  # type: ignore[arg-type]
        assert {r.period_start for r in found} == {start}
        # nothing was expected before the first data, nor after "now"
        for r in found:
            d = day[(r.pollutant, r.kind)]
            expected_after = sum(
                per_hour(END + timedelta(hours=h), expects_day=True).get(r.kind, 0)
                for h in range(5)
            ) * (1 if r.pollutant else 2)
            assert (r.expected, r.received, r.valid) == (
                d.expected + expected_after,
                d.received,
                d.valid,
            )


def test_the_current_hour_and_the_future_are_not_expected(
    db: psycopg.Connection, outlet: int
) -> None:
    during = hour(12) + timedelta(minutes=30)
    found = {(r.pollutant, r.kind): r for r in rates(db, outlet, "day", DAY, DAY, now=during)}
    assert found[(SO2, "hour")].expected == 12
    assert rates(db, outlet, "day", DAY, DAY, now=START) == []


def test_a_deactivated_outlet_is_expected_until_its_last_data(
    db: psycopg.Connection, outlet: int
) -> None:
    later = DAY + timedelta(days=2)
    now = AFTER + timedelta(days=3)
    active = rates(db, outlet, "day", DAY, later, now=now)
    hourly = [r.expected for r in active if r.pollutant is None and r.kind == "hour"]
    assert hourly == [48, 48, 48]  # the silent days after count
    db.execute("UPDATE outlets SET active = false WHERE id = %s", (outlet,))
    inactive = rates(db, outlet, "day", DAY, later, now=now)
    assert {r.period_start for r in inactive} == {START}  # nothing due after its last data
    assert [r.expected for r in inactive if r.pollutant is None and r.kind == "hour"] == [48]


def test_open_gaps_are_the_expected_records_that_never_came(
    db: psycopg.Connection, outlet: int
) -> None:
    found = gaps(db, outlet, START, END, now=AFTER)
    assert found == [
        Gap(hour(SILENT_HOUR), "hour", 2, 0, (NOX, SO2), 1, 1),
        Gap(hour(SILENT_HOUR), "min", 120, 0, (NOX, SO2), 60, 60),
        Gap(hour(SO2_PARTIAL_HOUR), "min", 120, 100, (SO2,), 60, 20),
        Gap(hour(NOX_NO_HOUR_RECORD), "hour", 2, 1, (NOX,), 1, 1),
    ]
    assert found[1].missing == 120 and found[1].hour_end == hour(SILENT_HOUR + 1)
    # a gap heals when its records arrive (a recall): the silent hour's SO2 hour record
    write_batch(db, frames(outlet, [row(SO2, "hour", hour(SILENT_HOUR))], "recalled"), [])
    healed = gaps(
        db, outlet, hour(SILENT_HOUR), hour(SILENT_HOUR) + timedelta(minutes=1), now=AFTER
    )
    assert healed == [
        Gap(hour(SILENT_HOUR), "hour", 2, 1, (NOX,), 1, 1),
        Gap(hour(SILENT_HOUR), "min", 120, 0, (NOX, SO2), 60, 60),
    ]


def test_an_unknown_outlet_has_no_rates(db: psycopg.Connection) -> None:
    assert rates(db, 424242, "day", DAY, DAY, now=AFTER) == []


def test_ratio_rounding() -> None:
    assert ratio(2, 3) == Decimal("0.6667")
    assert ratio(46, 320) == Decimal("0.1438")  # 0.14375 exactly: half to even, not the float's
    assert ratio(1, 32) == Decimal("0.0312")  # 0.03125: half to even
    assert ratio(0, 0) is None
    rate = Rate(START, END, None, "hour", 0, 0, 0, True, Decimal("0.9"), False)
    assert (rate.transmission_rate, rate.transmission_validity_rate, rate.meets_target) == (
        None,
        None,
        None,
    )


def test_the_record_keeps_half_of_each_page_for_the_writers_updates(db: psycopg.Connection) -> None:
    """Migration 0025: the writer updates an hour's row once per batch, and at fillfactor 50
    the new version fits on the row's page (a HOT update, no index entries; bench/README.md,
    ninth round, the writer)."""
    row = db.execute(
        "SELECT reloptions FROM pg_class WHERE oid = 'completeness'::regclass"
    ).fetchone()
    assert row == (["fillfactor=50"],)
