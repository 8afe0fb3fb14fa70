"""PostgreSQL's binary COPY format, written here for the writer's rows (ingest/writer.py).

psycopg's ``Copy.write_row`` adapts each row through its generic machinery (a Python call or
two per row, a dumper per cell); the writer's rows are all made of a few plain types, so it
encodes them itself, with :mod:`struct`, and hands whole batches to ``Copy.write()``. The
format (PostgreSQL's documentation, *COPY*, "Binary Format"): a signature and a header,
then per tuple a 16-bit field count and per field a 32-bit length (-1 for NULL) and the
bytes of the type's binary send format (big-endian), then a 16-bit -1. The send formats used:
bigint, smallint and integer as two's-complement integers, boolean one byte, text and bytea
as their bytes (text in the connection's client encoding), timestamptz as microseconds since
2000-01-01 00:00 UTC, and numeric and jsonb as psycopg dumps them (rare cells: a value too
wide for a mantissa and scale, a value's extra fields).
"""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.adapt import PyFormat
from psycopg.types.json import Jsonb

__all__ = [
    "NULL",
    "SIGNATURE",
    "TRAILER",
    "boolean",
    "bytea",
    "field_count",
    "int2",
    "int4",
    "int8",
    "jsonb",
    "numeric",
    "text",
    "timestamptz",
    "timestamptz_us",
]

SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)  # no flags, no header extension
TRAILER = struct.pack(">h", -1)
NULL = struct.pack(">i", -1)

_FIELD_COUNT = struct.Struct(">h").pack
_INT8 = struct.Struct(">iq").pack
_INT4 = struct.Struct(">ii").pack
_INT2 = struct.Struct(">ih").pack
_LENGTH = struct.Struct(">i").pack
_TRUE = _LENGTH(1) + b"\x01"
_FALSE = _LENGTH(1) + b"\x00"

# The instant timestamptz counts from, and the same as microseconds since the Unix epoch.
_PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_PG_EPOCH_US = (_PG_EPOCH - datetime(1970, 1, 1, tzinfo=UTC)) // _MICROSECOND

_NUMERIC = psycopg.adapters.get_dumper(Decimal, PyFormat.BINARY)(Decimal)
_JSONB = psycopg.adapters.get_dumper(Jsonb, PyFormat.BINARY)(Jsonb)


def field_count(n: int) -> bytes:
    """A tuple's start: its number of fields."""
    return _FIELD_COUNT(n)


def int8(v: int | None) -> bytes:
    return NULL if v is None else _INT8(8, v)


def int4(v: int | None) -> bytes:
    return NULL if v is None else _INT4(4, v)


def int2(v: int | None) -> bytes:
    return NULL if v is None else _INT2(2, v)


def boolean(v: bool | None) -> bytes:
    return NULL if v is None else _TRUE if v else _FALSE


def bytea(v: bytes | None) -> bytes:
    return NULL if v is None else _LENGTH(len(v)) + v


def text(v: str | None, encoding: str) -> bytes:
    """A text field, in ``encoding`` (the connection's client encoding)."""
    if v is None:
        return NULL
    b = v.encode(encoding)
    return _LENGTH(len(b)) + b


def timestamptz(v: datetime | None) -> bytes:
    """An aware datetime's field (as psycopg dumps one: a naive one raises TypeError)."""
    return NULL if v is None else _INT8(8, (v - _PG_EPOCH) // _MICROSECOND)


def timestamptz_us(us: int) -> bytes:
    """The field of the instant ``us`` microseconds after the Unix epoch."""
    return _INT8(8, us - _PG_EPOCH_US)


def numeric(v: Decimal | None) -> bytes:
    if v is None:
        return NULL
    b = bytes(_NUMERIC.dump(v) or b"")
    return _LENGTH(len(b)) + b


def jsonb(v: Any) -> bytes:
    """``v`` as jsonb (psycopg's dump of ``Jsonb(v)``); None is NULL."""
    if v is None:
        return NULL
    b = bytes(_JSONB.dump(Jsonb(v)) or b"")
    return _LENGTH(len(b)) + b
