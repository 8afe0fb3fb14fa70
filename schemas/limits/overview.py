"""What binds an outlet, for people: the limits in force on a day and where each comes from,
the outlet's bindings and every version of its own (permit) limits.

Behind ``sourcewatch limits show MN`` and the staff limits endpoints. Which limit applies is
decided by :func:`schemas.limits.rules.limits_for_outlet`; this module adds what a clerk needs
beside it: the binding's source (permit number or document), the validity of the row, and the
pollutant's names and unit in Chinese and English.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.rows import dict_row

from schemas.codes.pollutants import load_pollutants
from schemas.limits.rules import Limit, LimitsError, limits_for_outlet

__all__ = [
    "Binding",
    "InForce",
    "OutletLimitVersion",
    "bindings",
    "find_outlet",
    "in_force",
    "outlet_limit_versions",
]


@dataclass(frozen=True, slots=True)
class InForce:
    """One limit in force, with where it comes from and the pollutant's names."""

    limit: Limit
    pollutant_zh: str
    pollutant_en: str
    valid_from: date
    valid_to: date | None
    binding_source: str | None  # the binding's permit number or document (standard limits)
    category_zh: str | None
    category_en: str | None

    @property
    def origin(self) -> str:
        """Where the limit comes from, in one line."""
        lim = self.limit
        if lim.source == "outlet":
            return f"permit limit v{lim.version}: {lim.source_document}"
        return (
            f"{lim.standard} / {lim.category} v{lim.version} (bound by {self.binding_source}):"
            f" {lim.source_document}"
        )


@dataclass(frozen=True, slots=True)
class Binding:
    id: int
    standard: str
    category: str
    valid_from: date
    valid_to: date | None
    source: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class OutletLimitVersion:
    id: int
    pollutant: str
    period: str
    version: int
    value: Decimal
    value_min: Decimal | None
    unit: str
    reference_o2: Decimal | None
    source_document: str
    clause: str | None
    valid_from: date
    valid_to: date | None
    supersedes: int | None
    created_by: str
    created_at: datetime


def find_outlet(conn: psycopg.Connection[Any], mn: str) -> tuple[int, str]:
    """(id, kind) of the outlet with this MN, or :class:`LimitsError`."""
    row = conn.execute("SELECT id, kind FROM outlets WHERE mn = %s", (mn,)).fetchone()
    if row is None:
        raise LimitsError(f"unknown MN {mn!r}: register the outlet first")
    return int(row[0]), str(row[1])


def in_force(conn: psycopg.Connection[Any], outlet_id: int, on: date) -> list[InForce]:
    """The limits in force on ``on`` (one per pollutant and period), with their origin."""
    limits = limits_for_outlet(conn, outlet_id, on)
    own_ids = [lim.id for lim in limits if lim.source == "outlet"]
    std_ids = [lim.id for lim in limits if lim.source == "standard"]
    with conn.cursor(row_factory=dict_row) as cur:
        own = {
            r["id"]: r
            for r in cur.execute(
                "SELECT id, valid_from, valid_to FROM outlet_limits WHERE id = ANY(%s)", (own_ids,)
            )
        }
        std = {
            r["id"]: r
            for r in cur.execute(
                "SELECT l.id, l.valid_from, l.valid_to, l.name_zh, l.name_en,"
                " (SELECT b.source FROM outlet_limit_bindings b WHERE b.outlet_id = %s"
                "  AND b.standard = l.standard AND b.category = l.category"
                "  AND b.valid_from <= %s AND (b.valid_to IS NULL OR %s <= b.valid_to)"
                "  ORDER BY b.valid_from DESC, b.id DESC LIMIT 1) AS binding_source"
                " FROM limits l WHERE l.id = ANY(%s)",
                (outlet_id, on, on, std_ids),
            )
        }
    names = load_pollutants()
    out = []
    for lim in limits:
        row = own[lim.id] if lim.source == "outlet" else std[lim.id]
        p = names.get(lim.pollutant)
        out.append(
            InForce(
                limit=lim,
                pollutant_zh=p.name_zh if p else lim.pollutant,
                pollutant_en=p.name_en if p else lim.pollutant,
                valid_from=row["valid_from"],
                valid_to=row["valid_to"],
                binding_source=row.get("binding_source"),
                category_zh=row.get("name_zh"),
                category_en=row.get("name_en"),
            )
        )
    return out


def bindings(conn: psycopg.Connection[Any], outlet_id: int) -> list[Binding]:
    """Every binding of the outlet, oldest first."""
    rows = conn.execute(
        "SELECT id, standard, category, valid_from, valid_to, source, created_at"
        " FROM outlet_limit_bindings WHERE outlet_id = %s ORDER BY valid_from, id",
        (outlet_id,),
    ).fetchall()
    return [Binding(*row) for row in rows]


def outlet_limit_versions(
    conn: psycopg.Connection[Any], outlet_id: int
) -> list[OutletLimitVersion]:
    """Every version of the outlet's own limits, by pollutant, period and version."""
    rows = conn.execute(
        "SELECT id, pollutant, period, version, value, value_min, unit, reference_o2,"
        " source_document, clause, valid_from, valid_to, supersedes, created_by, created_at"
        " FROM outlet_limits WHERE outlet_id = %s ORDER BY pollutant, period, version",
        (outlet_id,),
    ).fetchall()
    return [OutletLimitVersion(*row) for row in rows]
