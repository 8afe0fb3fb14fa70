"""Reading and loading the regulation-value CSVs of ``schemas/codes/data/``.

Every such CSV has a header, names its source in ``source_document`` and says in ``confirmed``
whether the value was checked against the official text; an unconfirmed row needs a ``note``
saying what to verify. :func:`read_reference_csv` gives the typed rows, refusing the first bad
cell; :func:`upsert_reference_rows` writes them. The domain packages (limits, pattern rules,
disclosure categories, tax tables) say which CSV goes into which table, with which key and
cell parsers; :mod:`schemas.reference` loads them all.

Errors::

    ReferenceTableError   a CSV with a missing column or a bad cell
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from decimal import Decimal, InvalidOperation
from importlib import resources
from typing import Any

import psycopg
from psycopg import sql

__all__ = [
    "PERIODS",
    "REFERENCE_PARSERS",
    "UNITS",
    "ReferenceTableError",
    "parse_bool",
    "parse_date",
    "parse_decimal",
    "parse_row",
    "read_reference_csv",
    "upsert_reference_rows",
]

UNITS = ("mg/m³", "mg/L", "dimensionless")
PERIODS = ("hour", "day")

# Columns that may be blank; the upsert key and source_document/confirmed must be in the header.
_OPTIONAL = frozenset({"value_min", "reference_o2", "clause", "note", "valid_to", "deadline_days"})


class ReferenceTableError(ValueError):
    """A reference CSV with a missing column or a bad cell (file, row and field named)."""


def parse_decimal(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"must be a number, got {text!r}") from None
    if not value.is_finite():
        raise ValueError(f"must be a finite number, got {text!r}")
    return value


def parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"must be a date YYYY-MM-DD, got {text!r}") from None


def parse_bool(text: str) -> bool:
    if text not in ("true", "false"):
        raise ValueError(f"must be true or false, got {text!r}")
    return text == "true"


def _unit(text: str) -> str:
    text = {"mg/m3": "mg/m³", "mg/Nm3": "mg/m³", "mg/l": "mg/L"}.get(text, text)
    if text not in UNITS:
        raise ValueError(f"must be one of {', '.join(UNITS)}, got {text!r}")
    return text


def _choice(*allowed: str) -> Callable[[str], str]:
    def check(text: str) -> str:
        if text not in allowed:
            raise ValueError(f"must be {' or '.join(allowed)}, got {text!r}")
        return text

    return check


REFERENCE_PARSERS: dict[str, Callable[[str], Any]] = {
    "value": parse_decimal,
    "value_min": parse_decimal,
    "reference_o2": parse_decimal,
    "valid_from": parse_date,
    "valid_to": parse_date,
    "version": int,
    "confirmed": parse_bool,
    "unit": _unit,
    "period": _choice(*PERIODS),
    "medium": _choice("gas", "water"),
}


def parse_row(
    cells: dict[str, str],
    required: Sequence[str],
    errors: list[tuple[str, str]],
    parsers: Mapping[str, Callable[[str], Any]] = REFERENCE_PARSERS,
) -> dict[str, Any]:
    """Typed values of one CSV row (blank → None); problems are appended as (field, message)."""
    out: dict[str, Any] = {}
    for name, text in cells.items():
        text = text.strip()
        if not text:
            out[name] = None
            if name in required:
                errors.append((name, "is required"))
            continue
        try:
            out[name] = parsers.get(name, str)(text)
        except ValueError as exc:
            out[name] = None
            errors.append((name, str(exc)))
    low, high, start, end = (out.get(c) for c in ("value_min", "value", "valid_from", "valid_to"))
    if low is not None and high is not None and low > high:
        errors.append(("value_min", "must not be above value"))
    if start is not None and end is not None and end < start:
        errors.append(("valid_to", "must not be before valid_from"))
    if (o2 := out.get("reference_o2")) is not None and not 0 <= o2 < 21:
        errors.append(("reference_o2", f"must be a percentage from 0 to below 21, got {o2}"))
    return out


def read_reference_csv(
    name: str, key: Sequence[str], parsers: Mapping[str, Callable[[str], Any]] = REFERENCE_PARSERS
) -> list[dict[str, Any]]:
    """The typed rows of ``schemas/codes/data/<name>``; :class:`ReferenceTableError` on the
    first bad cell."""
    text = (resources.files("schemas.codes") / "data" / name).read_text("utf-8")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = list(reader.fieldnames or ())
    if missing := [c for c in (*key, "source_document", "confirmed") if c not in header]:
        raise ReferenceTableError(f"schemas/codes/data/{name}: columns {missing} are missing")
    required = [c for c in header if c not in _OPTIONAL]
    rows = []
    for record in reader:
        errors: list[tuple[str, str]] = []
        row = parse_row(record, required, errors, parsers)
        if not row["confirmed"] and not row["note"]:
            errors.append(("note", "must say what to verify when confirmed is false"))
        if errors:
            field, message = errors[0]
            raise ReferenceTableError(
                f"schemas/codes/data/{name} row {reader.line_num}, {field}: {message}"
            )
        rows.append(row)
    return rows


def upsert_reference_rows(
    cur: psycopg.Cursor[Any], table: str, key: Sequence[str], rows: Sequence[Mapping[str, Any]]
) -> None:
    """Insert ``rows`` (dicts of column → value, all with the same columns) into ``table``,
    updating the other columns of a row whose ``key`` is already there."""
    columns = list(rows[0])
    query = sql.SQL(
        "INSERT INTO {t} ({c}) VALUES ({v}) ON CONFLICT ({k}) DO UPDATE SET {u}"
    ).format(
        t=sql.Identifier(table),
        c=sql.SQL(", ").join(map(sql.Identifier, columns)),
        v=sql.SQL(", ").join(map(sql.Placeholder, columns)),
        k=sql.SQL(", ").join(map(sql.Identifier, key)),
        u=sql.SQL(", ").join(
            sql.SQL("{c} = EXCLUDED.{c}").format(c=sql.Identifier(c))
            for c in columns
            if c not in key
        ),
    )
    cur.executemany(query, rows)
