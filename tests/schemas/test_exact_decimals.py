"""The exact decimals of ``measurements`` kept as a mantissa and a scale (migration 0024).

``measurement_rows`` keeps value, min, max, cou, zs_value, zs_min and zs_max as a bigint
mantissa and a smallint scale each; ``measurements`` is a view over it with the ``numeric``
columns of before. The split (exact_mantissa, exact_scale) and the join (exact_decimal) must
give back the same value with the same scale (the published text), NULL as NULL; what no such
pair holds is kept as it is in <column>_wide (exact_wide), neither refused nor rounded."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import psycopg
import pytest

from schemas.core import migrate as migrations
from tests.fixtures import services

EXACT = ("value", "min", "max", "cou", "zs_value", "zs_min", "zs_max")
_INSERT_ONE = """INSERT INTO measurements
    (outlet_id, pollutant, kind, ts, value, min, max, cou, zs_value, zs_min, zs_max, flag)
    VALUES (1, 'a21026', 'min', %s, %s::numeric, %s::numeric, %s::numeric, %s::numeric, %s::numeric, %s::numeric, %s::numeric, 'N')"""
_READ_ONE = """SELECT value::text, min::text, max::text, cou::text, zs_value::text, zs_min::text,
    zs_max::text, revision FROM measurements"""
_INSERT_FULL = """INSERT INTO measurements
    (outlet_id, pollutant, kind, ts, value, min, max, cou, zs_value, zs_min, zs_max, flag, eflag,
     sample_time, extra, frame_id, received_at, revision)
    VALUES (%s, 'a21026', 'min', %s, %s::numeric, %s::numeric, %s::numeric, %s::numeric, %s::numeric, %s::numeric, %s::numeric, 'N', NULL, %s, '{"a21026-Ala": "1"}', %s, %s, %s)"""

KEPT = [
    "10.00",
    "10",
    "10.0",
    "0",
    "0.000",
    "-0.5",
    "-12.340",
    "1000",
    "0.000000000000000001",
    "-0.000000000000000001",
    "999999999999999999",
    "-999999999999999999",
    "99999999.9999999999",
    "1E+3",  # 1000: numeric keeps no exponent
]

WIDE = [
    "NaN",
    "Infinity",
    "-Infinity",
    "1000000000000000000",  # 19 significant digits
    "-1000000000000000000",
    "0.0000000000000000001",  # 19 decimal places
    "1.0000000000000000000",
    "20.61855670103092783505154639",  # a Decimal division, as a test once sent
]


def _round_trip(db: psycopg.Connection, text: str | None) -> tuple[str | None, str | None]:
    row = db.execute(
        "SELECT %s::numeric::text, exact_decimal(exact_mantissa(%s::numeric),"
        " exact_scale(%s::numeric), exact_wide(%s::numeric))::text",
        (text, text, text, text),
    ).fetchone()
    assert row is not None
    return row[0], row[1]


@pytest.mark.parametrize("text", KEPT)
def test_the_join_gives_back_the_same_value_and_scale(db: psycopg.Connection, text: str) -> None:
    original, joined = _round_trip(db, text)
    assert joined == original


def test_null_stays_null(db: psycopg.Connection) -> None:
    row = db.execute(
        "SELECT exact_mantissa(NULL), exact_scale(NULL), exact_wide(NULL),"
        " exact_decimal(NULL, NULL, NULL)"
    ).fetchone()
    assert row == (None, None, None, None)


def test_the_pair_is_the_digits_and_the_decimal_places(db: psycopg.Connection) -> None:
    rows = db.execute(
        "SELECT exact_mantissa(v), exact_scale(v), exact_wide(v)"
        " FROM unnest('{10.00, -12.340, 7, 0.000}'::numeric[]) AS v"
    ).fetchall()
    assert rows == [(1000, 2, None), (-12340, 3, None), (7, 0, None), (0, 3, None)]


@pytest.mark.parametrize("text", WIDE)
def test_what_no_pair_holds_is_kept_wide_as_sent(db: psycopg.Connection, text: str) -> None:
    original, joined = _round_trip(db, text)
    assert joined == original
    row = db.execute(
        "SELECT exact_mantissa(%s::numeric), exact_scale(%s::numeric),"
        " exact_wide(%s::numeric)::text",
        (text, text, text),
    ).fetchone()
    assert row == (None, None, original)


@pytest.mark.parametrize("text", [*KEPT, *WIDE])
def test_the_text_of_a_pair_reads_as_the_same_decimal(db: psycopg.Connection, text: str) -> None:
    """exact_text (migration 0027, the evaluator's minutes' read): the pair's text is read, by
    Python's Decimal and by numeric's input, as the same value with the same exponent as the
    joined numeric's own text."""
    row = db.execute(
        "SELECT exact_decimal(m, s, w)::text, exact_text(m, s, w), exact_text(m, s, w)::numeric::text"
        " FROM (SELECT exact_mantissa(%s::numeric) AS m, exact_scale(%s::numeric) AS s,"
        " exact_wide(%s::numeric) AS w) AS pair",
        (text, text, text),
    ).fetchone()
    assert row is not None
    joined, pair_text, as_numeric = row
    assert Decimal(pair_text).as_tuple() == Decimal(joined).as_tuple()
    assert str(Decimal(pair_text)) == str(Decimal(joined))
    assert as_numeric == joined
    assert db.execute("SELECT exact_text(NULL, NULL, NULL)").fetchone() == (None,)


def test_the_table_refuses_a_pair_half_null_or_out_of_range(db: psycopg.Connection) -> None:
    insert = (
        "INSERT INTO measurement_rows (outlet_id, pollutant, kind, ts, value_mantissa,"
        " value_scale) VALUES (1, 'a21026', 'min', now(), %s, %s)"
    )
    for pair in ((5, None), (None, 1), (5, 19), (5, -1)):
        with pytest.raises(psycopg.errors.CheckViolation):
            db.execute(insert, pair)
    with pytest.raises(psycopg.errors.CheckViolation):
        db.execute(
            "INSERT INTO measurement_rows (outlet_id, pollutant, kind, ts, value_mantissa,"
            " value_scale, value_wide) VALUES (1, 'a21026', 'min', now(), 5, 0, 5)"
        )


def test_the_view_writes_and_reads_every_exact_column(db: psycopg.Connection) -> None:
    ts = datetime(2026, 3, 1, 8, tzinfo=UTC)
    cells = ["10.00", "-0.50", "123.4560", "60", None, "NaN", "99.0000000000000000000"]
    db.execute(
        _INSERT_ONE,
        (ts, *cells),
    )
    got = db.execute(_READ_ONE).fetchone()
    assert got == (*cells, 0)
    db.execute("UPDATE measurements SET value = 20.500, flag = 'D' WHERE ts = %s", (ts,))
    got = db.execute("SELECT value::text, min::text, flag FROM measurements").fetchone()
    assert got == ("20.500", "-0.50", "D")
    stored = db.execute("SELECT value_mantissa, value_scale FROM measurement_rows").fetchone()
    assert stored == (20500, 3)
    db.execute("DELETE FROM measurements WHERE ts = %s", (ts,))
    assert db.execute("SELECT count(*) FROM measurement_rows").fetchone() == (0,)


def test_the_view_has_the_columns_and_types_of_the_table_before(
    db: psycopg.Connection,
) -> None:
    columns = db.execute(
        "SELECT column_name, data_type FROM information_schema.columns"
        " WHERE table_name = 'measurements' ORDER BY ordinal_position"
    ).fetchall()
    assert columns == [
        ("outlet_id", "bigint"),
        ("pollutant", "text"),
        ("kind", "text"),
        ("ts", "timestamp with time zone"),
        *((c, "numeric") for c in EXACT),
        ("flag", "text"),
        ("eflag", "text"),
        ("sample_time", "timestamp with time zone"),
        ("extra", "jsonb"),
        ("frame_id", "bigint"),
        ("received_at", "timestamp with time zone"),
        ("revision", "integer"),
    ]


# --- The migration -----------------------------------------------------------------------------


@pytest.fixture
def before_0024(pg_admin_dsn: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[psycopg.Connection]:
    """A fresh database migrated up to 0023 (measurements still a table of numerics)."""
    everything = migrations.available()
    with (
        services.fresh_database(pg_admin_dsn) as dsn,
        psycopg.connect(dsn, autocommit=True) as conn,
    ):
        monkeypatch.setattr(
            migrations, "available", lambda: [m for m in everything if m.version < "0024"]
        )
        migrations.migrate(conn)
        monkeypatch.setattr(
            migrations, "available", lambda: [m for m in everything if m.version <= "0024"]
        )
        yield conn


def test_rows_written_before_the_migration_read_back_identical(
    before_0024: psycopg.Connection,
) -> None:
    conn = before_0024
    values = [*KEPT, None, "99.9", *WIDE]
    for i, text in enumerate(values):
        conn.execute(
            _INSERT_FULL,
            (
                1 + i % 2,
                datetime(2026, 3, 1, tzinfo=UTC).replace(minute=i),
                text,
                None if text is None else "-1.5",
                text,
                "60" if i % 3 else None,
                text,
                None,
                "0.00",
                datetime(2026, 3, 1, 1, tzinfo=UTC),
                1000 + i,
                datetime(2026, 3, 1, 2, tzinfo=UTC) if i % 2 else None,
                i % 3,
            ),
        )
    read = "SELECT m::text FROM measurements m ORDER BY outlet_id, pollutant, kind, ts"
    before = [r[0] for r in conn.execute(read)]
    assert len(before) == len(values)
    assert migrations.migrate(conn) == ["0024"]
    assert conn.execute(
        "SELECT relkind FROM pg_class WHERE relname = 'measurements'"
    ).fetchone() == ("v",)
    assert [r[0] for r in conn.execute(read)] == before
    stored = conn.execute(
        "SELECT value_mantissa, value_scale FROM measurement_rows WHERE ts = %s",
        (datetime(2026, 3, 1, tzinfo=UTC),),
    ).fetchone()
    assert stored == (1000, 2)  # KEPT[0], 10.00
