"""PostgreSQL's binary COPY format, written here for the writer's rows (ingest/writer.py) and
the arrays the writer and the evaluator send (alerts/evaluation.py, schemas/cases/transitions.py).

psycopg's ``Copy.write_row`` adapts each row through its generic machinery (a Python call or
two per row, a dumper per cell); the writer's rows are all made of a few plain types, so it
encodes them itself, with :mod:`struct`, and hands whole batches to ``Copy.write()``. The
format (PostgreSQL's documentation, *COPY*, "Binary Format"): a signature and a header,
then per tuple a 16-bit field count and per field a 32-bit length (-1 for NULL) and the
bytes of the type's binary send format (big-endian), then a 16-bit -1. The send formats used:
bigint, smallint and integer as two's-complement integers, boolean one byte, text and bytea
as their bytes (text in the connection's client encoding), timestamptz as microseconds since
2000-01-01 00:00 UTC, date as days since 2000-01-01, and numeric and jsonb as psycopg dumps
them (numeric exactly, by psycopg's compiled dumper: the evaluator's means and multiples; jsonb
for the writer's rare cells: a value's extra fields).

The same fields make one-dimensional arrays in binary (array_send's format: a header, then
each element as a field), sent as query parameters (:func:`array`, :func:`register_arrays`):
psycopg's own list dumper spends about 0.3-0.5 µs per element, in Python, on arrays the writer
sends by the thousand per batch and the evaluator by the dozen per statement (an hour's means:
twelve arrays).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from datetime import date as _date
from decimal import Decimal
from typing import Any, ClassVar, TypeVar

import psycopg
from psycopg.adapt import AdaptersMap, Dumper, PyFormat
from psycopg.pq import Format
from psycopg.types.json import Jsonb

__all__ = [
    "NULL",
    "SIGNATURE",
    "TRAILER",
    "Array",
    "BoolArray",
    "ByteaArray",
    "Column",
    "DateArray",
    "Int4Array",
    "Int8Array",
    "TextArray",
    "TimestamptzArray",
    "array",
    "boolean",
    "bytea",
    "columns",
    "date",
    "field_count",
    "int2",
    "int4",
    "int8",
    "jsonb",
    "numeric",
    "numeric_text",
    "register_arrays",
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
_PG_EPOCH_DAY = _date(2000, 1, 1).toordinal()
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


def date(v: _date | None) -> bytes:
    """A date's field (as psycopg dumps one)."""
    return NULL if v is None else _INT4(4, v.toordinal() - _PG_EPOCH_DAY)


def numeric(v: Decimal | None) -> bytes:
    if v is None:
        return NULL
    b = bytes(_NUMERIC.dump(v) or b"")
    return _LENGTH(len(b)) + b


def numeric_text(v: Decimal | None) -> bytes:
    """A numeric's text form as a text field, for a text array the statement casts to numeric[]
    (exact: the server reads the digits as ``numeric``'s input does). Four times cheaper here
    than :func:`numeric` (0.35 µs against 1.4 µs an element: psycopg's binary numeric dumper
    splits the digits into base-10000 groups), so the evaluator sends its numbers this way."""
    if v is None:
        return NULL
    b = str(v).encode("ascii")
    return _LENGTH(len(b)) + b


def jsonb(v: Any) -> bytes:
    """``v`` as jsonb (psycopg's dump of ``Jsonb(v)``); None is NULL."""
    if v is None:
        return NULL
    b = bytes(_JSONB.dump(Jsonb(v)) or b"")
    return _LENGTH(len(b)) + b


class Array(bytes):
    """A one-dimensional array in PostgreSQL's binary format, made by :func:`array`: a query
    parameter psycopg sends as it is (once :func:`register_arrays` registered it)."""

    __slots__ = ()
    oid: ClassVar[int]  # the array type
    element_oid: ClassVar[int]


class Int8Array(Array):
    __slots__ = ()
    oid, element_oid = 1016, 20


class TextArray(Array):
    __slots__ = ()
    oid, element_oid = 1009, 25


class TimestamptzArray(Array):
    __slots__ = ()
    oid, element_oid = 1185, 1184


class ByteaArray(Array):
    __slots__ = ()
    oid, element_oid = 1001, 17


class Int4Array(Array):
    __slots__ = ()
    oid, element_oid = 1007, 23


class DateArray(Array):
    __slots__ = ()
    oid, element_oid = 1182, 1082


class BoolArray(Array):
    __slots__ = ()
    oid, element_oid = 1000, 16


A = TypeVar("A", bound=Array)
_ARRAY_HEAD = struct.Struct(">iiiii").pack  # dimensions, has NULLs, element type, size, lower bound
_EMPTY_HEAD = struct.Struct(">iii").pack


def array(kind: type[A], fields: list[bytes]) -> A:
    """``fields`` (each an element's field as this module encodes it: length and bytes, or
    NULL) as an array of ``kind``'s element type."""
    if not fields:
        return kind(_EMPTY_HEAD(0, 0, kind.element_oid))
    return kind(_ARRAY_HEAD(1, NULL in fields, kind.element_oid, len(fields), 1) + b"".join(fields))


Column = tuple[type[Array], Callable[[Any], bytes]]  # an array's kind and its elements' encoder


def columns(kinds: Sequence[Column], rows: Iterable[Sequence[Any]]) -> list[Array]:
    """``rows`` as one array per column, each made of its column's values encoded by the
    column's encoder (a field function of this module, or a partial of one)."""
    by_column = list(zip(*rows, strict=True)) or [()] * len(kinds)
    return [
        array(kind, list(map(encode, values)))
        for (kind, encode), values in zip(kinds, by_column, strict=True)
    ]


class _ArrayDumper(Dumper):
    """Sends an :class:`Array` as it is, typed as its kind's array type. The type is the
    instance's, not the class's: a dumper class with an oid would also be registered for
    that type by oid, and then replace psycopg's dumper where a statement names the type
    (``Copy.set_types``) instead of a Python class."""

    format = Format.BINARY

    def __init__(self, cls: type, context: Any = None) -> None:
        super().__init__(cls, context)
        self.oid = cls.oid if issubclass(cls, Array) else 0

    def dump(self, obj: Any) -> Any:
        return obj


_KINDS = (
    Int8Array,
    TextArray,
    TimestamptzArray,
    ByteaArray,
    Int4Array,
    DateArray,
    BoolArray,
)


def register_arrays(adapters: AdaptersMap) -> None:
    """Make ``adapters`` (a connection's) send this module's arrays as they are; a second call
    on the same adapters does nothing (a lookup: callers register before each use)."""
    if adapters.get_dumper(_KINDS[-1], PyFormat.BINARY) is _ArrayDumper:
        return
    for kind in _KINDS:
        adapters.register_dumper(kind, _ArrayDumper)
