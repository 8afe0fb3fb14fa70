"""The binary COPY fields that schemas/core/pgcopy.py encodes, read back by PostgreSQL: every type
the writer and the evaluator send, NULLs and edge values, and the same bytes as psycopg's own
write_row."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from psycopg.copy import Copy, FileWriter

from schemas.core import pgcopy

pytestmark = pytest.mark.integration

_COLUMNS = (
    "i8 bigint, i4 integer, i2 smallint, b boolean, t text, bin bytea, ts timestamptz, "
    "n numeric, j jsonb, d date"
)
_TYPES = ["bigint", "integer", "smallint", "boolean", "text", "bytea", "timestamptz"]
_TYPES += ["numeric", "jsonb", "date"]

ROWS: list[tuple[Any, ...]] = [
    (
        0,
        0,
        0,
        False,
        "",
        b"",
        datetime(2000, 1, 1, tzinfo=UTC),
        Decimal("0.000"),
        {},
        date(2000, 1, 1),
    ),
    (
        -(2**63),
        -(2**31),
        -(2**15),
        True,
        "a\tb\\c\n排口 \U0001f600",
        bytes(range(256)),
        datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        Decimal("-1.50E-30"),
        {"Info": "a\tb\\c", "Ssd": "流量"},
        date(1, 1, 1),
    ),
    (
        2**63 - 1,
        2**31 - 1,
        2**15 - 1,
        None,
        None,
        None,
        datetime(2026, 11, 28, 8, 0, 0, 1, tzinfo=timezone(timedelta(hours=8))),
        Decimal("NaN"),
        None,
        date(9999, 12, 31),
    ),
    (None, None, None, None, "x", b"\x00", None, None, {"k": [1, 2.5, None]}, None),
    (1, 1, 1, True, "y", b"y", None, None, None, date(1999, 12, 31)),
]


def _fields(row: tuple[Any, ...], encoding: str) -> bytes:
    i8, i4, i2, b, t, bin_, ts, n, j, d = row
    return b"".join(
        (
            pgcopy.field_count(10),
            pgcopy.int8(i8),
            pgcopy.int4(i4),
            pgcopy.int2(i2),
            pgcopy.boolean(b),
            pgcopy.text(t, encoding),
            pgcopy.bytea(bin_),
            pgcopy.timestamptz(ts),
            pgcopy.numeric(n),
            pgcopy.jsonb(j),
            pgcopy.date(d),
        )
    )


def _payload(rows: list[tuple[Any, ...]], encoding: str) -> bytes:
    return pgcopy.SIGNATURE + b"".join(_fields(r, encoding) for r in rows) + pgcopy.TRAILER


def test_every_field_is_read_back_as_sent(db: psycopg.Connection) -> None:
    with db.transaction():
        db.execute(f"CREATE TEMP TABLE t (seq serial, {_COLUMNS}) ON COMMIT DROP")
        with db.cursor().copy(
            "COPY t (i8, i4, i2, b, t, bin, ts, n, j, d) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.write(_payload(ROWS, db.info.encoding))
        back = db.execute(
            "SELECT i8, i4, i2, b, t, bin, ts, n, j, d FROM t ORDER BY seq"
        ).fetchall()
    assert len(back) == len(ROWS)
    for sent, got in zip(ROWS, back, strict=True):
        assert got[:6] == sent[:6]
        assert got[6] == sent[6]  # the same instant
        assert str(got[7]) == str(sent[7])  # the same digits and exponent
        assert got[8:] == sent[8:]


def test_the_bytes_are_psycopgs_own(db: psycopg.Connection) -> None:
    """Beside reading back: each tuple is what psycopg's write_row makes of the same row with
    the same types (numeric and jsonb are psycopg's own dumps)."""
    for row in ROWS:
        out = io.BytesIO()
        with db.cursor() as cur:
            copy = Copy(cur, binary=True, writer=FileWriter(out))
            copy.set_types(_TYPES)
            with copy:
                copy.write_row(row)
        assert out.getvalue() == _payload([row], db.info.encoding)


def test_timestamptz_us_counts_from_the_unix_epoch() -> None:
    at = datetime(2026, 11, 28, 8, 0, 0, 123_456, tzinfo=UTC)
    us = (at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    assert pgcopy.timestamptz_us(us) == pgcopy.timestamptz(at)
    assert pgcopy.timestamptz_us(-1) == pgcopy.timestamptz(
        datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)
    )


def test_arrays_are_read_back_as_sent(db: psycopg.Connection) -> None:
    """Each array type the writer and the evaluator send as a parameter, from the same fields:
    elements, NULLs, an empty array, and text that array syntax would quote."""
    conn = psycopg.connect(db.info.dsn, autocommit=True)  # a connection of its own to register on
    with conn:
        pgcopy.register_arrays(conn.adapters)
        enc = conn.info.encoding
        columns: list[tuple[type[pgcopy.Array], str, list[Any], Any]] = [
            (pgcopy.Int8Array, "bigint", [0, -(2**63), 2**63 - 1, None], pgcopy.int8),
            (pgcopy.TextArray, "text", ['a{1}"x', "NULL", "b\\c", "", "排口", None], None),
            (pgcopy.TimestamptzArray, "timestamptz", [ROWS[1][6], ROWS[2][6], None], None),
            (pgcopy.ByteaArray, "bytea", [bytes(range(256)), b"", None], pgcopy.bytea),
            (pgcopy.Int4Array, "int", [0, -(2**31), 2**31 - 1, None], pgcopy.int4),
            (pgcopy.BoolArray, "bool", [True, False, None], pgcopy.boolean),
            (pgcopy.DateArray, "date", [date(2000, 1, 1), date(1, 1, 1), None], pgcopy.date),
        ]
        for kind, type_, values, encode in columns:
            if kind is pgcopy.TextArray:
                fields = [pgcopy.text(v, enc) for v in values]
            elif kind is pgcopy.TimestamptzArray:
                fields = [pgcopy.timestamptz(v) for v in values]
            else:
                fields = [encode(v) for v in values]
            row = conn.execute(
                f"SELECT %b::{type_}[], cardinality(%b::{type_}[])",
                (pgcopy.array(kind, fields), pgcopy.array(kind, [])),
            ).fetchone()
            assert row == (values, 0), kind


NUMBERS = [
    Decimal(0),
    Decimal("0.000"),
    Decimal("-0.50"),
    Decimal("123.456789012345678901234567890"),
    Decimal("1.2E+3"),
    Decimal("-1.50E-30"),
    Decimal("99999999999999999999.9999"),
    Decimal("NaN"),
    None,
]


def test_numbers_as_text_are_cast_exactly(db: psycopg.Connection) -> None:
    """numeric_text's fields, a text array cast to numeric[] in SQL (as the evaluator sends its
    means): the same numbers, digits and scale, as psycopg's own binary numeric[] of them."""
    conn = psycopg.connect(db.info.dsn, autocommit=True)
    with conn:
        pgcopy.register_arrays(conn.adapters)
        sent = pgcopy.array(pgcopy.TextArray, [pgcopy.numeric_text(v) for v in NUMBERS])
        row = conn.execute(
            "SELECT %b::numeric[]::text[], %b::numeric[]::text[], %b::numeric[] = %b::numeric[]",
            (sent, NUMBERS, sent, NUMBERS),
        ).fetchone()
    assert row is not None
    as_text, psycopgs, same = row
    assert as_text == psycopgs
    assert same is True
    assert [None if t is None else Decimal(t) for t in as_text][:-2] == NUMBERS[:-2]


def test_columns_make_one_array_per_column(db: psycopg.Connection) -> None:
    """columns(): rows of values, each column encoded by its own encoder; no rows make empty
    arrays."""
    conn = psycopg.connect(db.info.dsn, autocommit=True)
    with conn:
        pgcopy.register_arrays(conn.adapters)
        kinds = [
            (pgcopy.Int8Array, pgcopy.int8),
            (pgcopy.DateArray, pgcopy.date),
            (pgcopy.TextArray, pgcopy.numeric_text),
        ]
        rows = [(1, date(2026, 12, 4), Decimal("1.5")), (2, None, None)]
        got = conn.execute(
            "SELECT * FROM unnest(%b::bigint[], %b::date[], %b::numeric[])",
            pgcopy.columns(kinds, rows),
        ).fetchall()
        empty = conn.execute(
            "SELECT count(*) FROM unnest(%b::bigint[], %b::date[], %b::numeric[])",
            pgcopy.columns(kinds, []),
        ).fetchone()
    assert got == rows
    assert empty == (0,)


def test_registering_leaves_psycopgs_dumpers_by_type_name(db: psycopg.Connection) -> None:
    """The arrays' dumpers are registered for their classes only, and registering twice is the
    same: COPY with set_types of an array type still dumps lists as psycopg does."""
    conn = psycopg.connect(db.info.dsn, autocommit=True)
    with conn:
        pgcopy.register_arrays(conn.adapters)
        pgcopy.register_arrays(conn.adapters)
        conn.execute("CREATE TEMP TABLE a (d date[], i int[])")
        with conn.cursor().copy("COPY a FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["date[]", "integer[]"])
            copy.write_row(([date(2026, 12, 4), None], [1, None]))
        assert conn.execute("SELECT d, i FROM a").fetchone() == (
            [date(2026, 12, 4), None],
            [1, None],
        )
