from __future__ import annotations

import psycopg

from schemas.reference import load_reference_data


def test_load_is_idempotent(db: psycopg.Connection) -> None:
    first = load_reference_data(db)
    second = load_reference_data(db)
    assert first == second == {"pollutants": 196, "data_flags": 16}
    counts = db.execute(
        "SELECT (SELECT count(*) FROM pollutants), (SELECT count(*) FROM data_flags)"
    ).fetchone()
    assert counts == (196, 16)


def test_rows_in_database(db: psycopg.Connection) -> None:
    row = db.execute(
        "SELECT medium, name_zh, unit_en, cou_unit_en, legacy_code, data_type, source"
        " FROM pollutants WHERE code = %s",
        ("a21026",),
    ).fetchone()
    assert row == ("air", "二氧化硫", "mg/m³", "kg", "02", "N5.2", "HJ 212-2017 Table B.2")
    valid = db.execute(
        "SELECT standard, code FROM data_flags WHERE valid ORDER BY standard, code"
    ).fetchall()
    assert valid == [("HJ 212-2017", "N"), ("HJ/T 212-2005", "N")]
    blank = db.execute("SELECT cou_unit_zh FROM pollutants WHERE code = 'w01001'").fetchone()
    assert blank == (None,)


def test_reload_repairs_edited_rows(db: psycopg.Connection) -> None:
    db.execute("UPDATE pollutants SET unit_en = 'ppm' WHERE code = 'a21026'")
    db.execute("UPDATE data_flags SET valid = true WHERE code = 'M'")
    load_reference_data(db)
    assert db.execute("SELECT unit_en FROM pollutants WHERE code = 'a21026'").fetchone() == (
        "mg/m³",
    )
    assert db.execute("SELECT bool_or(valid) FROM data_flags WHERE code = 'M'").fetchone() == (
        False,
    )
