"""Environmental protection tax reference values: pollution equivalents and tax rates.

Reference data ships as ``schemas/codes/data/pollution_equivalents.csv`` (环境保护税法 附表二, keyed by
HJ 212 pollutant code) and ``schemas/codes/data/tax_rates.csv`` (yuan per equivalent: the legal
minimum of 附表一 as the ``default`` region, provincial rates where known); every row names its
source and unconfirmed values carry a note. :func:`load_tax_tables` upserts both (called by
:func:`schemas.reference.load_reference_data`); :func:`pollution_equivalents` and
:func:`tax_rate` read them back for the automatic tax estimates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import psycopg

from schemas.codes.tables import REFERENCE_PARSERS, read_reference_csv, upsert_reference_rows

__all__ = [
    "DEFAULT_REGION",
    "Equivalent",
    "TaxRate",
    "load_tax_tables",
    "pollution_equivalents",
    "region_of",
    "tax_rate",
]

DEFAULT_REGION = "default"
_EQUIVALENT_KEY = ("pollutant", "variant", "valid_from")
_RATE_KEY = ("region", "medium", "pollutant", "valid_from")


@dataclass(frozen=True, slots=True)
class Equivalent:
    """One 附表二 item: ``value`` kg of the pollutant make one pollution equivalent."""

    pollutant: str
    item_zh: str
    item_en: str
    medium: str  # gas | water
    tax_group: str  # air | water-1 | water-2
    one_of: str
    value: Decimal
    source_document: str
    clause: str | None
    confirmed: bool


@dataclass(frozen=True, slots=True)
class TaxRate:
    region: str
    region_name_zh: str
    region_name_en: str
    medium: str
    pollutant: str
    value: Decimal  # yuan per pollution equivalent
    source_document: str
    confirmed: bool


def load_tax_tables(conn: psycopg.Connection[Any]) -> dict[str, int]:
    """Upsert both CSVs in one transaction; return the rows loaded per table."""
    equivalents = read_reference_csv("pollution_equivalents.csv", _EQUIVALENT_KEY)
    rates = read_reference_csv("tax_rates.csv", _RATE_KEY, REFERENCE_PARSERS)
    with conn.transaction(), conn.cursor() as cur:
        upsert_reference_rows(cur, "pollution_equivalents", _EQUIVALENT_KEY, equivalents)
        upsert_reference_rows(cur, "tax_rates", _RATE_KEY, rates)
    return {"pollution_equivalents": len(equivalents), "tax_rates": len(rates)}


def pollution_equivalents(
    conn: psycopg.Connection[Any], on: date, variant: str = "default"
) -> dict[str, Equivalent]:
    """The equivalent value per pollutant code in force on ``on`` (one variant per code)."""
    rows = conn.execute(
        "SELECT DISTINCT ON (pollutant) pollutant, item_zh, item_en, medium, tax_group, one_of,"
        " value, source_document, clause, confirmed FROM pollution_equivalents"
        " WHERE variant = %s AND valid_from <= %s AND (valid_to IS NULL OR %s <= valid_to)"
        " ORDER BY pollutant, valid_from DESC",
        (variant, on, on),
    ).fetchall()
    return {row[0]: Equivalent(*row) for row in rows}


def region_of(conn: psycopg.Connection[Any], district: str | None) -> str:
    """The tax region of an enterprise's district: a GB/T 2260 code's first two digits, or the
    province whose name the district starts with; ``default`` when neither matches."""
    text = (district or "").strip()
    if not text:
        return DEFAULT_REGION
    if re.fullmatch(r"\d{2,12}", text):
        code = text[:2]
        found = conn.execute("SELECT 1 FROM tax_rates WHERE region = %s LIMIT 1", (code,))
        return code if found.fetchone() else DEFAULT_REGION
    for region, name in conn.execute(
        "SELECT DISTINCT region, region_name_zh FROM tax_rates WHERE region <> %s",
        (DEFAULT_REGION,),
    ):
        short = re.sub(r"(省|市|自治区|壮族自治区|回族自治区|维吾尔自治区|特别行政区)$", "", name)
        if text.startswith(name) or (short and text.startswith(short)):
            return str(region)
    return DEFAULT_REGION


def tax_rate(
    conn: psycopg.Connection[Any], region: str, medium: str, pollutant: str, on: date
) -> TaxRate:
    """The rate for a pollutant in a region on a day: the region's rate for the pollutant, else
    its rate for the whole medium, else the legal minimum (``default``)."""
    row = conn.execute(
        "SELECT region, region_name_zh, region_name_en, medium, pollutant, value,"
        " source_document, confirmed FROM tax_rates"
        " WHERE region IN (%(region)s, %(default)s) AND medium = %(medium)s"
        " AND pollutant IN (%(pollutant)s, '*')"
        " AND valid_from <= %(on)s AND (valid_to IS NULL OR %(on)s <= valid_to)"
        " ORDER BY region = %(default)s, pollutant = '*', valid_from DESC LIMIT 1",
        {
            "region": region,
            "default": DEFAULT_REGION,
            "medium": medium,
            "pollutant": pollutant,
            "on": on,
        },
    ).fetchone()
    if row is None:
        raise LookupError(f"no {medium} tax rate for {region} on {on}")
    return TaxRate(*row)
