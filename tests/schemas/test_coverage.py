"""No silent "not judged": which outlets lack a limit in force for what they measure."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import psycopg

from schemas.limits.coverage import MEASURED_WITHIN, unjudged_outlets
from schemas.limits.rules import bind_outlet, limits_for_outlet
from tests.fixtures.registry import add_outlet

NOW = datetime(2026, 11, 28, 4, 0, tzinfo=UTC)
TODAY = date(2026, 11, 28)


def report(db: psycopg.Connection, outlet: int, at: datetime, *codes: str) -> None:
    for code in codes:
        db.execute(
            "INSERT INTO measurements (outlet_id, pollutant, kind, ts, value, flag, received_at)"
            " VALUES (%s, %s, 'min', %s, 1.5, 'N', %s)",
            (outlet, code, at, at),
        )
    db.execute(
        "INSERT INTO outlet_activity (outlet_id, last_frame_at, last_data_at) VALUES (%s, %s, %s)"
        " ON CONFLICT (outlet_id) DO UPDATE SET last_data_at = EXCLUDED.last_data_at",
        (outlet, at, at),
    )


def found(db: psycopg.Connection, **kwargs: bool) -> dict[str, list[tuple[str, str | None]]]:
    return {
        o.mn: [(g.code, g.pollutant) for g in o.gaps]
        for o in unjudged_outlets(db, NOW, TODAY, **kwargs)
    }


def test_an_outlet_without_limits_or_with_an_unlimited_pollutant_is_not_judged(
    db: psycopg.Connection,
) -> None:
    unbound = add_outlet(db, "UNBOUND1")
    bound = add_outlet(db, "BOUND001")
    silent = add_outlet(db, "SILENT01")
    # SO2, NOx, dust and flue-gas flow (no standard limits flow); HCl only by GB 18485.
    report(db, unbound, NOW - timedelta(hours=1), "a21026", "a00000")
    report(db, bound, NOW - timedelta(hours=1), "a21026", "a21002", "a34013", "a00000", "a21024")
    bind_outlet(db, "BOUND001", "GB 16297-1996", "new-source", date(2020, 1, 1), "permit")
    assert found(db) == {
        "UNBOUND1": [("no_limits", None), ("pollutant_without_limit", "a21026")],
        "BOUND001": [("pollutant_without_limit", "a21024")],
        "SILENT01": [("no_limits", None)],
    }
    assert set(found(db, with_data_only=True)) == {"UNBOUND1", "BOUND001"}
    (first, *_) = unjudged_outlets(db, NOW, TODAY)
    assert (
        first.gaps[1].en
        == "a21026 (sulfur dioxide (SO2)) is measured but has no limit in force on 2026-11-28"
    )
    assert first.gaps[0].zh.startswith("2026-11-28没有现行排放限值")
    assert first.measured == ("a21026",)
    # Inactive outlets are not reported; data older than the window does not count.
    db.execute("UPDATE outlets SET active = false WHERE id = %s", (silent,))
    # Moved by a delete and an insert: on TimescaleDB an UPDATE of ts cannot move a row into
    # another chunk.
    db.execute(
        "WITH moved AS (DELETE FROM measurements WHERE outlet_id = %s"
        "               RETURNING outlet_id, pollutant, kind, ts, value, flag, received_at)"
        " INSERT INTO measurements (outlet_id, pollutant, kind, ts, value, flag, received_at)"
        " SELECT outlet_id, pollutant, kind, ts - %s, value, flag, received_at FROM moved",
        (bound, MEASURED_WITHIN),
    )
    assert found(db) == {"UNBOUND1": [("no_limits", None), ("pollutant_without_limit", "a21026")]}


def test_a_permit_limit_judges_its_pollutant_and_dates_are_inclusive(
    db: psycopg.Connection,
) -> None:
    outlet = add_outlet(db, "PERMIT01")
    report(db, outlet, NOW - timedelta(days=2), "a21026", "a21002")
    db.execute(
        "INSERT INTO outlet_limits (outlet_id, pollutant, value, unit, period, source_document,"
        " valid_from, valid_to) VALUES (%s, 'a21026', 50, 'mg/m³', 'hour', 'permit', %s, %s)",
        (outlet, TODAY, TODAY),
    )
    assert found(db) == {"PERMIT01": [("pollutant_without_limit", "a21002")]}
    yesterday = TODAY - timedelta(days=1)
    db.execute("UPDATE outlet_limits SET valid_from = %s, valid_to = %s", (yesterday, yesterday))
    assert found(db)["PERMIT01"][0] == ("no_limits", None)


def test_in_force_agrees_with_limits_for_outlet(db: psycopg.Connection) -> None:
    """The judgement's SQL and the evaluator's limits agree on what is in force, day by day
    around the edges of a binding and of a category's validity."""
    outlet = add_outlet(db, "AGREE001")
    codes = ("a21026", "a21002", "a34013", "a21024")
    report(db, outlet, datetime(2014, 6, 30, tzinfo=UTC), *codes)
    bind_outlet(db, "AGREE001", "GB 13223-2011", "coal-boiler-new", date(2014, 1, 1), "p")
    bind_outlet(
        db,
        "AGREE001",
        "GB 18485-2014",
        "incinerator",
        date(2014, 7, 1),
        "p",
        valid_to=date(2014, 7, 2),
    )
    for day in (date(2013, 12, 31), date(2014, 1, 1), date(2014, 7, 1), date(2014, 7, 3)):
        now = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
        listed = {o.id: o for o in unjudged_outlets(db, now, day)}
        in_force = {lim.pollutant for lim in limits_for_outlet(db, outlet, day)}
        unlimited = {g.pollutant for g in listed[outlet].gaps} if outlet in listed else set()
        assert unlimited - {None} == set(codes) - in_force, day
        assert (None in unlimited) == (not in_force), day  # the no_limits gap
