"""The binary COPY fields that ingest/pgcopy.py encodes, read back by PostgreSQL: every type
the writer sends, NULLs and edge values, and the same bytes as psycopg's own write_row."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from psycopg.copy import Copy, FileWriter

from ingest import pgcopy

pytestmark = pytest.mark.integration

_COLUMNS = (
    "i8 bigint, i4 integer, i2 smallint, b boolean, t text, bin bytea, ts timestamptz, "
    "n numeric, j jsonb"
)
_TYPES = ["bigint", "integer", "smallint", "boolean", "text", "bytea", "timestamptz"]
_TYPES += ["numeric", "jsonb"]

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
    ),
    (None, None, None, None, "x", b"\x00", None, None, {"k": [1, 2.5, None]}),
]


def _fields(row: tuple[Any, ...], encoding: str) -> bytes:
    i8, i4, i2, b, t, bin_, ts, n, j = row
    return b"".join(
        (
            pgcopy.field_count(9),
            pgcopy.int8(i8),
            pgcopy.int4(i4),
            pgcopy.int2(i2),
            pgcopy.boolean(b),
            pgcopy.text(t, encoding),
            pgcopy.bytea(bin_),
            pgcopy.timestamptz(ts),
            pgcopy.numeric(n),
            pgcopy.jsonb(j),
        )
    )


def _payload(rows: list[tuple[Any, ...]], encoding: str) -> bytes:
    return pgcopy.SIGNATURE + b"".join(_fields(r, encoding) for r in rows) + pgcopy.TRAILER


def test_every_field_is_read_back_as_sent(db: psycopg.Connection) -> None:
    with db.transaction():
        db.execute(f"CREATE TEMP TABLE t (seq serial, {_COLUMNS}) ON COMMIT DROP")
        with db.cursor().copy(
            "COPY t (i8, i4, i2, b, t, bin, ts, n, j) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.write(_payload(ROWS, db.info.encoding))
        back = db.execute("SELECT i8, i4, i2, b, t, bin, ts, n, j FROM t ORDER BY seq").fetchall()
    assert len(back) == len(ROWS)
    for sent, got in zip(ROWS, back, strict=True):
        assert got[:6] == sent[:6]
        assert got[6] == sent[6]  # the same instant
        assert str(got[7]) == str(sent[7])  # the same digits and exponent
        assert got[8] == sent[8]


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
    """Each array type the writer sends as a parameter, from the same fields: elements, NULLs,
    an empty array, and text that array syntax would quote."""
    conn = psycopg.connect(db.info.dsn, autocommit=True)  # a connection of its own to register on
    with conn:
        pgcopy.register_arrays(conn.adapters)
        enc = conn.info.encoding
        columns: list[tuple[type[pgcopy.Array], str, list[Any], Any]] = [
            (pgcopy.Int8Array, "bigint", [0, -(2**63), 2**63 - 1, None], pgcopy.int8),
            (pgcopy.TextArray, "text", ['a{1}"x', "NULL", "b\\c", "", "排口", None], None),
            (pgcopy.TimestamptzArray, "timestamptz", [ROWS[1][6], ROWS[2][6], None], None),
            (pgcopy.ByteaArray, "bytea", [bytes(range(256)), b"", None], pgcopy.bytea),
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
