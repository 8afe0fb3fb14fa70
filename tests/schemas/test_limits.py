"""Limits and validity rules: the reference tables, bindings, outlet limits and their import."""

from __future__ import annotations

import csv
from datetime import date
from decimal import Decimal
from importlib import resources
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from schemas.limits.permits import import_outlet_limits
from schemas.limits.rules import (
    Limit,
    LimitsError,
    ValidityRules,
    bind_outlet,
    limits_for_outlet,
    limits_for_outlets,
    load_limit_tables,
    load_validity_rules,
)
from tests.fixtures.registry import add_outlet

D = Decimal
ULE = "煤电节能减排升级与改造行动计划(2014—2020年)"
HEADER = "mn,pollutant,value,unit,period,reference_o2,source_document,clause,valid_from,valid_to\n"


def csv_rows(name: str) -> int:
    text = (resources.files("schemas.codes") / "data" / name).read_text("utf-8")
    return len(list(csv.DictReader(text.splitlines())))


def effective(conn: psycopg.Connection, outlet_id: int, on: date) -> dict[str, tuple[object, ...]]:
    """pollutant/period → (value, source, standard or document, version)."""
    return {
        f"{lim.pollutant}/{lim.period}": (
            lim.value,
            lim.source,
            lim.category or lim.source_document,
            lim.version,
        )
        for lim in limits_for_outlet(conn, outlet_id, on)
    }


def write(tmp_path: Path, body: str, name: str = "limits.csv") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + body, encoding="utf-8")
    return path


# --- Reference tables ------------------------------------------------------------------------


def test_load_is_idempotent(db: psycopg.Connection) -> None:
    ids_before = db.execute("SELECT array_agg(id ORDER BY id) FROM limits").fetchone()
    first = load_limit_tables(db)
    second = load_limit_tables(db)
    expected = {"limits": csv_rows("limits.csv"), "validity_rules": csv_rows("validity_rules.csv")}
    assert first == second == expected
    counts = db.execute(
        "SELECT (SELECT count(*) FROM limits), (SELECT count(*) FROM validity_rules)"
    ).fetchone()
    assert counts == (expected["limits"], expected["validity_rules"])
    assert db.execute("SELECT array_agg(id ORDER BY id) FROM limits").fetchone() == ids_before


def test_reload_repairs_an_edited_limit(db: psycopg.Connection) -> None:
    db.execute("UPDATE limits SET value = 999 WHERE category = 'ultra-low-coal'")
    load_limit_tables(db)
    values = db.execute(
        "SELECT array_agg(value ORDER BY value) FROM limits WHERE category = 'ultra-low-coal'"
    ).fetchone()
    assert values == ([D(10), D(35), D(50)],)


def test_every_row_has_a_source_and_unconfirmed_rows_say_what_to_verify(
    db: psycopg.Connection,
) -> None:
    for table in ("limits", "validity_rules"):
        bad = db.execute(
            sql.SQL(
                "SELECT count(*) FROM {} WHERE source_document = ''"
                " OR confirmed IS NULL OR (NOT confirmed AND coalesce(note, '') = '')"
            ).format(sql.Identifier(table))
        ).fetchone()
        assert bad == (0,), table
    per_standard = db.execute(
        "SELECT standard, bool_or(confirmed), bool_and(confirmed) FROM limits"
        " GROUP BY standard ORDER BY standard"
    ).fetchall()
    assert per_standard == [
        ("GB 13223-2011", True, False),  # gas-unit PM 5 and gas-turbine SO₂ 35 not located
        ("GB 16297-1996", True, True),
        ("GB 18485-2014", False, False),  # no primary text; hourly NOx 300 or 350
        ("GB 18918-2002", True, True),
        ("GB 8978-1996", True, True),
        (ULE, True, True),
    ]
    unconfirmed = db.execute(
        "SELECT category, pollutant FROM limits WHERE standard = 'GB 13223-2011' AND NOT confirmed"
        " ORDER BY category, pollutant"
    ).fetchall()
    assert unconfirmed == [
        ("gas-boiler", "a34013"),
        ("gas-boiler-existing", "a34013"),
        ("gas-turbine", "a21026"),
        ("gas-turbine", "a34013"),
        ("gas-turbine-existing", "a21026"),
        ("gas-turbine-existing", "a34013"),
    ]
    nox = db.execute(
        "SELECT note FROM limits WHERE category = 'incinerator' AND pollutant = 'a21002'"
        " AND period = 'hour'"
    ).fetchone()
    assert nox is not None and "350" in nox[0] and "300" in nox[0]


def test_ultra_low_emission_limits(db: psycopg.Connection) -> None:
    rows = db.execute(
        "SELECT pollutant, value, unit, period, reference_o2, confirmed FROM limits"
        " WHERE standard = %s AND category = 'ultra-low-coal' ORDER BY value",
        (ULE,),
    ).fetchall()
    assert rows == [
        ("a34013", D(10), "mg/m³", "hour", D(6), True),
        ("a21026", D(35), "mg/m³", "hour", D(6), True),
        ("a21002", D(50), "mg/m³", "hour", D(6), True),
    ]


def test_reference_o2_per_sector_and_ph_range(db: psycopg.Connection) -> None:
    o2 = db.execute(
        "SELECT category, array_agg(DISTINCT reference_o2) FROM limits"
        " WHERE unit = 'mg/m³' GROUP BY category ORDER BY category"
    ).fetchall()
    assert dict(o2) == {
        "coal-boiler-existing": [D(6)],
        "coal-boiler-new": [D(6)],
        "coal-boiler-special": [D(6)],
        "coal-boiler-special-existing": [D(6)],
        "gas-boiler": [D(3)],
        "gas-boiler-existing": [D(3)],
        "gas-turbine": [D(15)],
        "gas-turbine-existing": [D(15)],
        "incinerator": [D(11)],
        "new-source": [None],  # GB 16297-1996: measured concentration
        "ultra-low-coal": [D(6)],
    }
    ph = db.execute(
        "SELECT category, value_min, value, unit FROM limits WHERE pollutant = 'w01001'"
        " ORDER BY category"
    ).fetchall()
    assert ph == [
        ("class-1A", D(6), D(9), "dimensionless"),
        ("class-1B", D(6), D(9), "dimensionless"),
    ]
    incinerator = db.execute(
        "SELECT period, value FROM limits WHERE category = 'incinerator' AND pollutant = 'a21024'"
        " ORDER BY period"
    ).fetchall()
    assert incinerator == [("day", D(50)), ("hour", D(60))]


def test_reload_corrects_a_database_loaded_with_the_old_values(db: psycopg.Connection) -> None:
    # Before issue #11 the special limits were in force from 2012-01-01 and the existing-unit
    # gas rows did not exist; loading the tables again corrects the rows in place (same ids).
    ids = db.execute(
        "SELECT array_agg(id ORDER BY id) FROM limits WHERE category = 'coal-boiler-special'"
    ).fetchone()
    db.execute(
        "UPDATE limits SET valid_from = '2012-01-01', confirmed = false"
        " WHERE category = 'coal-boiler-special'"
    )
    db.execute("DELETE FROM limits WHERE category = 'gas-boiler-existing'")
    load_limit_tables(db)
    rows = db.execute(
        "SELECT array_agg(id ORDER BY id), array_agg(DISTINCT valid_from), bool_and(confirmed)"
        " FROM limits WHERE category = 'coal-boiler-special'"
    ).fetchone()
    assert rows == (ids[0] if ids else None, [date(2013, 4, 1)], True)
    existing = db.execute(
        "SELECT pollutant, value, valid_from FROM limits WHERE category = 'gas-boiler-existing'"
        " ORDER BY pollutant"
    ).fetchall()
    assert existing == [
        ("a21002", D(100), date(2014, 7, 1)),
        ("a21026", D(35), date(2014, 7, 1)),
        ("a34013", D(5), date(2014, 7, 1)),
    ]


# --- Validity rules --------------------------------------------------------------------------


def test_validity_rules_load(db: psycopg.Connection) -> None:
    gas = load_validity_rules(db, "gas", date(2024, 5, 1))
    assert gas == ValidityRules(
        medium="gas",
        hour_min_valid_minutes=45,
        day_min_valid_hours=20,
        expected_minutes_per_hour=60,
        expected_hours_per_day=24,
        minute_min_valid_samples=12,
        zs_mismatch_tolerance_pct=D(2),
        o2_max_for_conversion=D("19.5"),
        unconfirmed=frozenset({"o2_max_for_conversion"}),
    )
    water = load_validity_rules(db, "water", date(2024, 5, 1))
    assert (water.hour_min_valid_minutes, water.day_min_valid_hours) == (1, 18)
    assert (water.o2_max_for_conversion, water.zs_mismatch_tolerance_pct) == (None, None)
    assert water.unconfirmed == {"hour_min_valid_minutes", "day_min_valid_hours"}


def test_validity_rules_latest_valid_from_wins(db: psycopg.Connection) -> None:
    with pytest.raises(LimitsError, match="no validity rule .* for 'gas' on 2018-02-28"):
        load_validity_rules(db, "gas", date(2018, 2, 28))
    with pytest.raises(LimitsError, match="no validity rule"):
        load_validity_rules(db, "noise", date(2024, 1, 1))
    with db.transaction(force_rollback=True):
        db.execute(
            "INSERT INTO validity_rules (name, medium, value, source_document, confirmed, note,"
            " valid_from) VALUES ('day_min_valid_hours', 'gas', 18, 'test', false, 'test',"
            " '2025-01-01')"
        )
        assert load_validity_rules(db, "gas", date(2024, 12, 31)).day_min_valid_hours == 20
        assert load_validity_rules(db, "gas", date(2025, 1, 1)).day_min_valid_hours == 18


# --- Bindings and outlet limits --------------------------------------------------------------


def test_binding_gives_the_standards_limits(db: psycopg.Connection) -> None:
    outlet = add_outlet(db, "MN-GAS-1")
    bind_outlet(db, "MN-GAS-1", "GB 13223-2011", "coal-boiler-new", date(2020, 1, 1), "permit 1")
    assert limits_for_outlet(db, outlet, date(2019, 12, 31)) == []
    limits = limits_for_outlet(db, outlet, date(2020, 1, 1))
    assert [(lim.pollutant, lim.value, lim.reference_o2) for lim in limits] == [
        ("a21002", D(100), D(6)),
        ("a21026", D(100), D(6)),
        ("a34013", D(30), D(6)),
    ]
    so2 = limits[1]
    assert isinstance(so2, Limit) and so2.source == "standard" and so2.confirmed
    assert (so2.standard, so2.category, so2.period, so2.version) == (
        "GB 13223-2011",
        "coal-boiler-new",
        "hour",
        1,
    )


def test_latest_binding_wins(db: psycopg.Connection) -> None:
    outlet = add_outlet(db, "MN-GAS-1")
    bind_outlet(db, "MN-GAS-1", "GB 13223-2011", "coal-boiler-new", date(2016, 1, 1), "permit 1")
    bind_outlet(db, "MN-GAS-1", ULE, "ultra-low-coal", date(2018, 1, 1), "permit 2")
    assert effective(db, outlet, date(2017, 12, 31))["a21026/hour"][:3] == (
        D(100),
        "standard",
        "coal-boiler-new",
    )
    later = effective(db, outlet, date(2018, 1, 1))
    assert {k: v[0] for k, v in later.items()} == {
        "a21002/hour": D(50),
        "a21026/hour": D(35),
        "a34013/hour": D(10),
    }


def test_special_limits_of_a_new_project_apply_from_2013_04_01(db: psycopg.Connection) -> None:
    # MEP announcement 2013 No. 14: new thermal-power projects in the 47 cities whose EIA was
    # accepted from 2013-04-01 meet Table 2 for all three pollutants.
    outlet = add_outlet(db, "MN-GAS-1")
    bind_outlet(db, "MN-GAS-1", "GB 13223-2011", "coal-boiler-new", date(2012, 6, 1), "EIA 1")
    bind_outlet(db, "MN-GAS-1", "GB 13223-2011", "coal-boiler-special", date(2012, 6, 1), "EIA 1")
    assert {k: v[:3] for k, v in effective(db, outlet, date(2013, 3, 31)).items()} == {
        "a21002/hour": (D(100), "standard", "coal-boiler-new"),
        "a21026/hour": (D(100), "standard", "coal-boiler-new"),
        "a34013/hour": (D(30), "standard", "coal-boiler-new"),
    }
    assert {k: v[:3] for k, v in effective(db, outlet, date(2013, 4, 1)).items()} == {
        "a21002/hour": (D(100), "standard", "coal-boiler-special"),
        "a21026/hour": (D(50), "standard", "coal-boiler-special"),
        "a34013/hour": (D(20), "standard", "coal-boiler-special"),
    }


def test_special_particulate_limit_of_an_existing_unit_from_2014_07_01(
    db: psycopg.Connection,
) -> None:
    # Existing coal units in the 47 cities: the special particulate limit from 2014-07-01;
    # SO₂ and NOx stay those of Table 1. Bound from the same day as Table 1, whichever binding
    # came first: the stricter value of two bindings from one day applies.
    for mn, first in (("MN-GAS-1", "coal-boiler-special-existing"), ("MN-GAS-2", None)):
        outlet = add_outlet(db, mn)
        categories = ["coal-boiler-existing", "coal-boiler-special-existing"]
        if first:
            categories.reverse()
        for category in categories:
            bind_outlet(db, mn, "GB 13223-2011", category, date(2014, 7, 1), "permit")
        assert limits_for_outlet(db, outlet, date(2014, 6, 30)) == []
        assert {k: v[:3] for k, v in effective(db, outlet, date(2014, 7, 1)).items()} == {
            "a21002/hour": (D(100), "standard", "coal-boiler-existing"),
            "a21026/hour": (D(200), "standard", "coal-boiler-existing"),
            "a34013/hour": (D(20), "standard", "coal-boiler-special-existing"),
        }


def test_existing_gas_units_follow_table_1_from_2014_07_01(db: psycopg.Connection) -> None:
    boiler, turbine = add_outlet(db, "MN-GAS-1"), add_outlet(db, "MN-GAS-2")
    bind_outlet(db, "MN-GAS-1", "GB 13223-2011", "gas-boiler-existing", date(2010, 1, 1), "p")
    bind_outlet(db, "MN-GAS-2", "GB 13223-2011", "gas-turbine-existing", date(2010, 1, 1), "p")
    assert limits_for_outlet(db, boiler, date(2014, 6, 30)) == []
    assert effective(db, boiler, date(2014, 7, 1))["a21026/hour"][0] == D(35)
    assert effective(db, turbine, date(2014, 7, 1))["a21002/hour"][0] == D(50)
    new = add_outlet(db, "MN-GAS-3")
    bind_outlet(db, "MN-GAS-3", "GB 13223-2011", "gas-boiler", date(2010, 1, 1), "p")
    assert effective(db, new, date(2012, 1, 1))["a21002/hour"][0] == D(100)


def test_a_new_version_of_a_standard_limit_supersedes_from_its_date(
    db: psycopg.Connection,
) -> None:
    outlet = add_outlet(db, "MN-GAS-1")
    bind_outlet(db, "MN-GAS-1", "GB 13223-2011", "coal-boiler-new", date(2020, 1, 1), "permit")
    db.execute(
        "INSERT INTO limits (standard, category, pollutant, value, unit, period, reference_o2,"
        " name_zh, name_en, source_document, clause, confirmed, note, valid_from, version)"
        " SELECT standard, category, pollutant, 80, unit, period, reference_o2, name_zh, name_en,"
        " 'test amendment', clause, false, 'test', '2030-01-01', 2 FROM limits"
        " WHERE category = 'coal-boiler-new' AND pollutant = 'a21026'"
    )
    try:
        assert effective(db, outlet, date(2029, 12, 31))["a21026/hour"] == (
            D(100),
            "standard",
            "coal-boiler-new",
            1,
        )
        assert effective(db, outlet, date(2030, 1, 1))["a21026/hour"] == (
            D(80),
            "standard",
            "coal-boiler-new",
            2,
        )
        # the other pollutants of the binding keep their version 1
        assert effective(db, outlet, date(2030, 1, 1))["a34013/hour"][0] == D(30)
    finally:
        db.execute("DELETE FROM limits WHERE version = 2")


def test_binding_and_limit_date_ranges_are_inclusive(db: psycopg.Connection) -> None:
    outlet = add_outlet(db, "MN-GAS-1")
    # coal-boiler-existing limits apply from 2014-07-01 (limits.valid_from).
    binding = bind_outlet(
        db,
        "MN-GAS-1",
        "GB 13223-2011",
        "coal-boiler-existing",
        date(2014, 1, 1),
        "permit 1",
        valid_to=date(2020, 12, 31),
    )
    assert limits_for_outlet(db, outlet, date(2014, 6, 30)) == []
    assert len(limits_for_outlet(db, outlet, date(2014, 7, 1))) == 3
    assert len(limits_for_outlet(db, outlet, date(2020, 12, 31))) == 3
    assert limits_for_outlet(db, outlet, date(2021, 1, 1)) == []
    again = bind_outlet(
        db, "MN-GAS-1", "GB 13223-2011", "coal-boiler-existing", date(2014, 1, 1), "permit 1b"
    )
    assert again == binding
    assert len(limits_for_outlet(db, outlet, date(2021, 1, 1))) == 3  # valid_to cleared


def test_bind_outlet_errors(db: psycopg.Connection) -> None:
    add_outlet(db, "MN-WATER-1", kind="water")
    with pytest.raises(LimitsError, match="unknown MN 'nope'"):
        bind_outlet(db, "nope", "GB 18918-2002", "class-1A", date(2020, 1, 1), "permit")
    with pytest.raises(LimitsError, match="no limits for 'GB 18918-2002' / 'class-9'; known: "):
        bind_outlet(db, "MN-WATER-1", "GB 18918-2002", "class-9", date(2020, 1, 1), "permit")
    with pytest.raises(LimitsError, match="not a water standard"):
        bind_outlet(db, "MN-WATER-1", "GB 13223-2011", "gas-boiler", date(2020, 1, 1), "permit")
    with pytest.raises(LimitsError, match="source"):
        bind_outlet(db, "MN-WATER-1", "GB 18918-2002", "class-1A", date(2020, 1, 1), " ")
    bind_outlet(db, "MN-WATER-1", "GB 18918-2002", "class-1A", date(2020, 1, 1), "permit")


def test_outlet_limit_overrides_the_binding(db: psycopg.Connection, tmp_path: Path) -> None:
    outlet = add_outlet(db, "MN-GAS-1")
    bind_outlet(db, "MN-GAS-1", "GB 13223-2011", "coal-boiler-new", date(2016, 1, 1), "permit 1")
    path = write(tmp_path, "MN-GAS-1,a21026,25,mg/m3,hour,6,DB 11/139-2015,Table 1,2016-01-01,\n")
    report = import_outlet_limits(db, path)
    assert (report.ok, report.inserted, report.superseded, report.unchanged) == (True, 1, 0, 0)
    limits = effective(db, outlet, date(2020, 1, 1))
    assert limits["a21026/hour"] == (D(25), "outlet", "DB 11/139-2015", 1)
    assert limits["a21002/hour"][:2] == (D(100), "standard")  # other pollutants: the binding
    own = next(
        lim for lim in limits_for_outlet(db, outlet, date(2020, 1, 1)) if lim.source == "outlet"
    )
    assert (own.standard, own.category, own.unit, own.clause, own.confirmed) == (
        None,
        None,
        "mg/m³",
        "Table 1",
        True,
    )
    # An outlet limit applies without any binding, and only within its dates.
    water = add_outlet(db, "MN-WATER-1", kind="water")
    ph = tmp_path / "ph.csv"  # value_min is an optional column
    ph.write_text(
        "mn,pollutant,value,value_min,unit,period,source_document,valid_from,valid_to\n"
        "MN-WATER-1,w01001,9,6,dimensionless,day,permit 2,2020-01-01,2020-12-31\n",
        encoding="utf-8",
    )
    assert import_outlet_limits(db, ph).inserted == 1
    (lim,) = limits_for_outlet(db, water, date(2020, 12, 31))
    assert (lim.value_min, lim.value, lim.reference_o2) == (D(6), D(9), None)
    assert limits_for_outlet(db, water, date(2021, 1, 1)) == []


def test_limits_of_many_outlets_and_days_at_once(db: psycopg.Connection, tmp_path: Path) -> None:
    """limits_for_outlets answers each (outlet, day) as limits_for_outlet does: own limits over
    the binding, date ranges, outlets and days without limits (and asked twice)."""
    gas = add_outlet(db, "MN-GAS-1")
    other = add_outlet(db, "MN-GAS-2")
    water = add_outlet(db, "MN-WATER-1", kind="water")
    bind_outlet(db, "MN-GAS-1", "GB 13223-2011", "coal-boiler-new", date(2016, 1, 1), "permit 1")
    bind_outlet(
        db,
        "MN-GAS-2",
        "GB 13223-2011",
        "coal-boiler-existing",
        date(2014, 1, 1),
        "permit 2",
        valid_to=date(2020, 12, 31),
    )
    path = write(
        tmp_path,
        "MN-GAS-1,a21026,25,mg/m3,hour,6,DB 11/139-2015,Table 1,2018-01-01,2019-12-31\n"
        "MN-WATER-1,w01018,40,mg/L,day,,permit 3,,2020-01-01,\n",
    )
    assert import_outlet_limits(db, path).ok
    days = [
        date(2014, 6, 30),
        date(2016, 1, 1),
        date(2019, 12, 31),
        date(2020, 1, 1),
        date(2021, 1, 1),
    ]
    pairs = [(o, d) for o in (gas, other, water, gas + other + water) for d in days]
    many = limits_for_outlets(db, [*pairs, pairs[0]])
    assert set(many) == set(pairs)
    assert all(many[(o, d)] == limits_for_outlet(db, o, d) for o, d in pairs)
    assert sum(map(len, many.values())) > 10  # not all empty
    assert {lim.source for lims in many.values() for lim in lims} == {"outlet", "standard"}
    assert limits_for_outlets(db, []) == {}


def test_new_values_supersede_old_versions(db: psycopg.Connection, tmp_path: Path) -> None:
    outlet = add_outlet(db, "MN-GAS-1")
    first = write(tmp_path, "MN-GAS-1,a21026,35,mg/m³,hour,6,permit 1,,2020-01-01,\n", "a.csv")
    assert import_outlet_limits(db, first).inserted == 1
    assert import_outlet_limits(db, first).unchanged == 1  # re-import: no new version
    second = write(tmp_path, "MN-GAS-1,a21026,25,mg/m³,hour,6,permit 2,,2023-01-01,\n", "b.csv")
    report = import_outlet_limits(db, second, created_by="alice")
    assert (report.inserted, report.superseded, report.unchanged) == (0, 1, 0)
    assert report.summary() == "outlet limits: 0 new, 1 new versions, 0 unchanged"
    rows = db.execute(
        "SELECT id, version, value, supersedes, created_by FROM outlet_limits ORDER BY version"
    ).fetchall()
    assert rows == [(1, 1, D(35), None, "import"), (2, 2, D(25), 1, "alice")]
    assert effective(db, outlet, date(2022, 12, 31))["a21026/hour"] == (
        D(35),
        "outlet",
        "permit 1",
        1,
    )
    assert effective(db, outlet, date(2023, 1, 1))["a21026/hour"] == (
        D(25),
        "outlet",
        "permit 2",
        2,
    )
    # A correction back-dated to the start replaces version 2 from its first day on.
    fix = write(
        tmp_path, "MN-GAS-1,a21026,30,mg/m³,hour,6,permit 2 (corr.),,2020-01-01,\n", "c.csv"
    )
    assert import_outlet_limits(db, fix).superseded == 1
    assert effective(db, outlet, date(2021, 1, 1))["a21026/hour"] == (
        D(30),
        "outlet",
        "permit 2 (corr.)",
        3,
    )


def test_import_reports_every_error_per_row_and_writes_nothing(
    db: psycopg.Connection, tmp_path: Path
) -> None:
    add_outlet(db, "MN-GAS-1")
    add_outlet(db, "MN-WATER-1", kind="water", uscc="91330000000000001X")
    path = write(
        tmp_path,
        "MN-GAS-1,a21026,35,mg/m³,hour,6,permit,,2020-01-01,\n"  # row 2: good
        "MN-NOPE,a21026,35,mg/m³,hour,6,permit,,2020-01-01,\n"  # 3: unknown MN
        "MN-GAS-1,x99999,35,mg/m³,hour,6,permit,,2020-01-01,\n"  # 4: unknown code
        "MN-GAS-1,a21002,abc,mg/m³,week,21,,,2020-13-01,\n"  # 5: value, period, O₂, doc, date
        "MN-GAS-1,w01018,50,mg/L,day,,permit,,2020-01-01,\n"  # 6: water code, water unit
        "MN-WATER-1,w01018,50,mg/L,day,6,permit,,2020-01-01,2019-01-01\n"  # 7: O₂, dates
        "MN-GAS-1,a21026,30,mg/m³,hour,6,permit,,2021-01-01,\n"  # 8: same key as row 2
        "\n"  # blank lines are skipped
        "MN-GAS-1,a34013,10,ppm,hour,6,permit,,2020-01-01,,extra\n",  # 10: too many cells
    )
    report = import_outlet_limits(db, path)
    assert not report.ok
    assert [(e.row, e.field) for e in report.errors] == [
        (3, "mn"),
        (4, "pollutant"),
        (5, "value"),
        (5, "period"),
        (5, "source_document"),
        (5, "valid_from"),
        (5, "reference_o2"),
        (6, "pollutant"),
        (6, "unit"),
        (7, "valid_to"),
        (7, "reference_o2"),
        (8, None),
        (10, None),
    ]
    messages = {str(e) for e in report.errors}
    assert "row 3, field mn: unknown MN 'MN-NOPE': register the outlet first" in messages
    assert "row 5, field period: must be hour or day, got 'week'" in messages
    assert "row 8: MN-GAS-1 / a21026 / hour is already in row 2" in messages
    assert "row 6, field pollutant: w01018 is a water factor, MN-GAS-1 is gas" in messages
    assert report.summary().startswith("nothing imported:\nrow 3, field mn")
    assert db.execute("SELECT count(*) FROM outlet_limits").fetchone() == (0,)


def test_import_header_and_file_errors(db: psycopg.Connection, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("mn,pollutant,value,colour,value\n", encoding="utf-8")
    report = import_outlet_limits(db, path)
    assert [(e.row, e.field, e.message) for e in report.errors] == [
        (1, "colour", "is not a known column"),
        (1, "value", "appears twice"),
        (1, "unit", "column is missing"),
        (1, "period", "column is missing"),
        (1, "source_document", "column is missing"),
        (1, "valid_from", "column is missing"),
    ]
    with pytest.raises(LimitsError, match="cannot read"):
        import_outlet_limits(db, tmp_path / "missing.csv")
    path.write_bytes(b"mn,pollutant\n\xff\xfe\n")
    with pytest.raises(LimitsError, match="not UTF-8"):
        import_outlet_limits(db, path)
