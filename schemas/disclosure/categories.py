"""The eight categories (环发〔2013〕74号) and the record types published in each.

Reference data ships as ``schemas/codes/data/disclosure_categories.csv`` and
``disclosure_record_types.csv`` with the source of each deadline; :func:`load_category_tables`
upserts them (called by :func:`schemas.reference.load_reference_data`) and
:func:`record_types` reads them back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg

from schemas.codes.tables import REFERENCE_PARSERS, read_reference_csv, upsert_reference_rows

__all__ = [
    "CATEGORIES",
    "Category",
    "RecordType",
    "categories",
    "load_category_tables",
    "record_types",
]

# The codes, in the order of the notice; names, clocks and sources are in the CSV.
CATEGORIES = (
    "basic_info",
    "monitoring",
    "total_control",
    "pollution_prevention",
    "fees",
    "inspection",
    "penalty",
    "emergency",
)

_PARSERS: dict[str, Callable[[str], Any]] = {
    **REFERENCE_PARSERS,
    "ordinal": int,
    "deadline_days": int,
}


@dataclass(frozen=True, slots=True)
class Category:
    code: str
    ordinal: int
    name_zh: str
    name_en: str
    deadline_days: int
    source_document: str


@dataclass(frozen=True, slots=True)
class RecordType:
    code: str
    category: str
    name_zh: str
    name_en: str
    origin: str  # staff | auto
    deadline_days: int  # working days from formed to published
    source_document: str
    confirmed: bool


def load_category_tables(conn: psycopg.Connection[Any]) -> dict[str, int]:
    """Upsert both CSVs in one transaction; return the rows loaded per table."""
    cats = read_reference_csv("disclosure_categories.csv", ("code",), _PARSERS)
    types = read_reference_csv("disclosure_record_types.csv", ("code",), _PARSERS)
    if sorted(c["code"] for c in cats) != sorted(CATEGORIES):
        raise ValueError("disclosure_categories.csv must hold exactly the eight categories")
    with conn.transaction(), conn.cursor() as cur:
        upsert_reference_rows(cur, "disclosure_categories", ("code",), cats)
        upsert_reference_rows(cur, "disclosure_record_types", ("code",), types)
    return {"disclosure_categories": len(cats), "disclosure_record_types": len(types)}


def categories(conn: psycopg.Connection[Any]) -> list[Category]:
    rows = conn.execute(
        "SELECT code, ordinal, name_zh, name_en, deadline_days, source_document"
        " FROM disclosure_categories ORDER BY ordinal"
    ).fetchall()
    return [Category(*row) for row in rows]


def record_types(conn: psycopg.Connection[Any]) -> dict[str, RecordType]:
    rows = conn.execute(
        "SELECT t.code, t.category, t.name_zh, t.name_en, t.origin,"
        " coalesce(t.deadline_days, c.deadline_days),"
        " t.source_document, t.confirmed FROM disclosure_record_types t"
        " JOIN disclosure_categories c ON c.code = t.category ORDER BY c.ordinal, t.code"
    ).fetchall()
    return {row[0]: RecordType(*row) for row in rows}
