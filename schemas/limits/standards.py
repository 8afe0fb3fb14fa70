"""The known emission standards and their categories: what an outlet can be bound to.

A category (``limit_category``) is a set of rows of ``limits`` under one ``standard``, e.g.
``GB 13223-2011`` / ``coal-boiler-existing``. Its medium follows from its units: flue gas when
every limit is in mg/m³, wastewater otherwise (mg/L, pH). :func:`code_table_categories` reads
them from ``schemas/codes/data/limits.csv`` (the registry check needs no database);
:func:`loaded_categories` from the ``limits`` table (what a deployment judges by).

:func:`check_binding` is the one rule for naming a binding (the registry file, the staff API):
an unknown standard, an unknown category of a known standard, or a category of the other
medium is refused with the field to blame.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import psycopg

from schemas.codes.tables import read_reference_csv

__all__ = [
    "Category",
    "check_binding",
    "code_table_categories",
    "loaded_categories",
]


@dataclass(frozen=True, slots=True)
class Category:
    """One category of one standard, over all its limit rows."""

    standard: str
    category: str
    medium: str  # 'gas' or 'water' (the outlet kinds it suits)
    name_zh: str
    name_en: str
    pollutants: tuple[str, ...]
    source_document: str
    valid_from: date  # the earliest valid_from of its rows
    valid_to: date | None  # the latest valid_to, None while any row is open-ended


def _categories(rows: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], Category]:
    grouped: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for row in rows:
        grouped.setdefault((row["standard"], row["category"]), []).append(row)
    out = {}
    for (standard, category), group in sorted(grouped.items()):
        ends = [r["valid_to"] for r in group]
        out[(standard, category)] = Category(
            standard=standard,
            category=category,
            medium="gas" if {r["unit"] for r in group} == {"mg/m³"} else "water",
            name_zh=group[0]["name_zh"],
            name_en=group[0]["name_en"],
            pollutants=tuple(sorted({r["pollutant"] for r in group})),
            source_document=group[0]["source_document"],
            valid_from=min(r["valid_from"] for r in group),
            valid_to=None if None in ends else max(ends),
        )
    return out


@functools.cache
def code_table_categories() -> Mapping[tuple[str, str], Category]:
    """The categories of ``schemas/codes/data/limits.csv``, keyed by (standard, category)."""
    key = ("standard", "category", "pollutant", "period", "version")
    return _categories(read_reference_csv("limits.csv", key))


def loaded_categories(conn: psycopg.Connection[Any]) -> dict[tuple[str, str], Category]:
    """The categories of the ``limits`` table, keyed by (standard, category)."""
    columns = (
        "standard",
        "category",
        "pollutant",
        "unit",
        "name_zh",
        "name_en",
        "source_document",
        "valid_from",
        "valid_to",
    )
    cur = conn.execute(
        "SELECT standard, category, pollutant, unit, name_zh, name_en, source_document,"
        " valid_from, valid_to FROM limits ORDER BY standard, category, id"
    )
    return _categories(dict(zip(columns, row, strict=True)) for row in cur)


def check_binding(
    categories: Mapping[tuple[str, str], Category], standard: str, category: str, kind: str
) -> tuple[str, str] | None:
    """``(field, message)`` when ``standard`` / ``category`` cannot bind an outlet of ``kind``
    ('gas' or 'water'); None when it can."""
    known = sorted({s for s, _ in categories})
    if standard not in known:
        return "emission_standard", (
            f"{standard!r} is not a standard with limits; known: {'; '.join(known)}"
        )
    mine = sorted(c for s, c in categories if s == standard)
    found = categories.get((standard, category))
    if found is None:
        return "limit_category", (
            f"{category!r} is not a category of {standard}; its categories: {', '.join(mine)}"
        )
    if found.medium != kind:
        suits = [c for c in mine if categories[(standard, c)].medium == kind]
        return "limit_category", (
            f"{standard} / {category} is a {found.medium} category, the outlet is {kind}"
            + (f" (its {kind} categories: {', '.join(suits)})" if suits else "")
        )
    return None
