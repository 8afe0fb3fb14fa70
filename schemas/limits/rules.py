"""Emission limits and data-validity rules: the regulation values the evaluator judges by.

Reference data ships as ``schemas/codes/data/limits.csv`` and ``schemas/codes/data/validity_rules.csv``;
every row names its source, and a value not checked against the official text carries
``confirmed = false`` and a note saying what to verify. :func:`load_limit_tables` upserts both
(called by :func:`schemas.reference.load_reference_data`).

Which limit applies to an outlet on a day (:func:`limits_for_outlet`), per (pollutant, period):

1. its own limit (``outlet_limits``, from its permit or a local standard): the highest version
   valid that day;
2. otherwise the limit of a bound standard and category (``outlet_limit_bindings``): per binding
   valid that day, the highest version of the category's limit valid that day; among those
   bindings, the latest ``valid_from`` wins, and on the same ``valid_from`` the lower value (an
   outlet bound to two categories at once must meet both, e.g. Table 1 and the special
   particulate limit of GB 13223-2011: docs/regulation-values.md#binding-the-special-limits).

A corrected regulation value is edited in place in ``limits.csv`` (same version: the old value was
never right); a value the law changes from a date gets a new version with that ``valid_from``
(the highest version valid on a day applies, so the old one still answers for earlier days).

Date ranges are inclusive (``valid_to`` is the last day in force). Outlet limits are never
edited: :func:`schemas.limits.permits.import_outlet_limits` adds a new version that supersedes the previous one.

Errors::

    LimitsError    a bad reference CSV, an unreadable import file, an unknown outlet or
                   standard, missing validity rules, or a write the database refused
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Literal

import psycopg
from psycopg import sql

from schemas.codes.tables import REFERENCE_PARSERS, read_reference_csv, upsert_reference_rows

__all__ = [
    "Limit",
    "LimitsError",
    "ValidityRules",
    "bind_outlet",
    "limits_for_outlet",
    "limits_for_outlets",
    "load_limit_tables",
    "load_validity_rules",
]


class LimitsError(Exception):
    """Root of this module's errors."""


@dataclass(frozen=True, slots=True)
class Limit:
    """One effective limit. ``source`` says where it comes from: a bound standard or the outlet's
    own limit (then ``standard`` and ``category`` are None, ``confirmed`` is True: the value is
    transcribed from ``source_document``). pH-like ranges have ``value_min``."""

    id: int
    source: Literal["standard", "outlet"]
    standard: str | None
    category: str | None
    pollutant: str
    value: Decimal
    value_min: Decimal | None
    unit: str
    period: Literal["hour", "day"]
    reference_o2: Decimal | None
    source_document: str
    clause: str | None
    confirmed: bool
    version: int


@dataclass(frozen=True, slots=True)
class ValidityRules:
    """The validity thresholds of one medium on one day (rows of ``validity_rules``).

    Gas-only rules are None for water. ``unconfirmed`` names the rules whose value is not yet
    checked against the official text."""

    medium: str
    hour_min_valid_minutes: int
    day_min_valid_hours: int
    expected_minutes_per_hour: int = 60
    expected_hours_per_day: int = 24
    minute_min_valid_samples: int | None = None
    zs_mismatch_tolerance_pct: Decimal | None = None
    o2_max_for_conversion: Decimal | None = None
    unconfirmed: frozenset[str] = frozenset()


_INT_RULES = (
    *("hour_min_valid_minutes", "day_min_valid_hours"),
    *("expected_minutes_per_hour", "expected_hours_per_day", "minute_min_valid_samples"),
)
_REQUIRED_RULES = {
    "gas": (*_INT_RULES, "zs_mismatch_tolerance_pct", "o2_max_for_conversion"),
    "water": _INT_RULES[:4],
}


# --- Reference tables ---------------------------------------------------------------------------

_LIMIT_KEY = ("standard", "category", "pollutant", "period", "version")
_RULE_KEY = ("name", "medium", "valid_from")
_RULE_PARSERS = {k: v for k, v in REFERENCE_PARSERS.items() if k != "unit"}  # min, h, % …


def load_limit_tables(conn: psycopg.Connection[Any]) -> dict[str, int]:
    """Upsert limits.csv and validity_rules.csv in one transaction; return rows per table."""
    limits = read_reference_csv("limits.csv", _LIMIT_KEY)
    rules = read_reference_csv("validity_rules.csv", _RULE_KEY, _RULE_PARSERS)
    with conn.transaction(), conn.cursor() as cur:
        upsert_reference_rows(cur, "limits", _LIMIT_KEY, limits)
        upsert_reference_rows(cur, "validity_rules", _RULE_KEY, rules)
    return {"limits": len(limits), "validity_rules": len(rules)}


def load_validity_rules(conn: psycopg.Connection[Any], medium: str, on: date) -> ValidityRules:
    """The rules of ``medium`` ('gas' or 'water') in force on ``on``: per rule, the row with
    the latest ``valid_from`` not after ``on``."""
    rows = conn.execute(
        "SELECT DISTINCT ON (name) name, value, confirmed FROM validity_rules"
        " WHERE medium = %s AND valid_from <= %s ORDER BY name, valid_from DESC",
        (medium, on),
    ).fetchall()
    found: dict[str, Decimal] = {name: value for name, value, _ in rows}
    if missing := [n for n in _REQUIRED_RULES.get(medium, ("medium",)) if n not in found]:
        raise LimitsError(f"no validity rule {', '.join(missing)} for {medium!r} on {on}")
    values: dict[str, Any] = {}
    for name in _REQUIRED_RULES[medium]:
        value = found[name]
        if name in _INT_RULES:
            if value != value.to_integral_value():
                raise LimitsError(f"validity rule {name} ({medium}) must be whole, got {value}")
            values[name] = int(value)
        else:
            values[name] = value
    unconfirmed = frozenset(n for n, _, ok in rows if not ok and n in values)
    return ValidityRules(medium=medium, unconfirmed=unconfirmed, **values)


# --- Effective limits ----------------------------------------------------------------------------

_EFFECTIVE = """
WITH own AS (
    SELECT DISTINCT ON (pollutant, period)
           id, 'outlet' AS source, NULL::text AS standard, NULL::text AS category, pollutant,
           value, value_min, unit, period, reference_o2, source_document, clause,
           true AS confirmed, version
    FROM outlet_limits
    WHERE outlet_id = %(outlet)s AND valid_from <= %(on)s AND (valid_to IS NULL OR %(on)s <= valid_to)
    ORDER BY pollutant, period, version DESC, id DESC
), per_binding AS (
    SELECT DISTINCT ON (b.id, l.pollutant, l.period)
           l.id, 'standard' AS source, l.standard, l.category, l.pollutant, l.value, l.value_min,
           l.unit, l.period, l.reference_o2, l.source_document, l.clause, l.confirmed, l.version,
           b.valid_from AS bound_from, b.id AS binding_id
    FROM outlet_limit_bindings b
    JOIN limits l ON l.standard = b.standard AND l.category = b.category
    WHERE b.outlet_id = %(outlet)s
      AND b.valid_from <= %(on)s AND (b.valid_to IS NULL OR %(on)s <= b.valid_to)
      AND l.valid_from <= %(on)s AND (l.valid_to IS NULL OR %(on)s <= l.valid_to)
    ORDER BY b.id, l.pollutant, l.period, l.version DESC
), bound AS (
    SELECT DISTINCT ON (pollutant, period)
           id, source, standard, category, pollutant, value, value_min, unit, period,
           reference_o2, source_document, clause, confirmed, version
    FROM per_binding
    ORDER BY pollutant, period, bound_from DESC, value, binding_id DESC
)
SELECT * FROM own
UNION ALL
SELECT * FROM bound
WHERE NOT EXISTS (SELECT 1 FROM own WHERE own.pollutant = bound.pollutant
                                      AND own.period = bound.period)
ORDER BY pollutant, period
"""


def limits_for_outlet(conn: psycopg.Connection[Any], outlet_id: int, on: date) -> list[Limit]:
    """The limits in force for an outlet on a day, one per (pollutant, period), sorted."""
    rows = conn.execute(_EFFECTIVE, {"outlet": outlet_id, "on": on}).fetchall()
    return [Limit(*row) for row in rows]


# The same query for many (outlet, day) pairs at once: each pair's parameters are columns.
_EFFECTIVE_MANY = sql.SQL(
    "SELECT q.outlet_id, q.on_day, e.* FROM unnest(%(outlets)s::int[], %(days)s::date[]) "
    "AS q(outlet_id, on_day) CROSS JOIN LATERAL ({effective}) AS e "
    "ORDER BY 1, 2, e.pollutant, e.period"
).format(
    effective=sql.SQL(  # the query's own text, its parameters replaced by q's columns
        _EFFECTIVE.replace("%(outlet)s", "q.outlet_id").replace("%(on)s", "q.on_day")
    )
)


def limits_for_outlets(
    conn: psycopg.Connection[Any], pairs: Iterable[tuple[int, date]]
) -> dict[tuple[int, date], list[Limit]]:
    """:func:`limits_for_outlet` of many (outlet, day) pairs in one statement; every pair is
    in the answer (with no limits: an empty list)."""
    wanted = sorted(set(pairs))
    out: dict[tuple[int, date], list[Limit]] = {pair: [] for pair in wanted}
    if not wanted:
        return out
    rows = conn.execute(
        _EFFECTIVE_MANY,
        {"outlets": [o for o, _ in wanted], "days": [d for _, d in wanted]},
        prepare=True,  # the evaluator sends it once per batch, on its long-lived connection
    )
    for outlet_id, on, *limit in rows:
        out[(outlet_id, on)].append(Limit(*limit))
    return out


def _outlet(conn: psycopg.Connection[Any], mn: str) -> tuple[int, str]:
    row = conn.execute("SELECT id, kind FROM outlets WHERE mn = %s", (mn,)).fetchone()
    if row is None:
        raise LimitsError(f"unknown MN {mn!r}: register the outlet first")
    return int(row[0]), str(row[1])


def bind_outlet(
    conn: psycopg.Connection[Any],
    mn: str,
    standard: str,
    category: str,
    valid_from: date,
    source: str,
    *,
    valid_to: date | None = None,
) -> int:
    """Bind an outlet to a standard's category from ``valid_from``; return the binding id.

    Binding the same (outlet, standard, category, valid_from) again updates it."""
    outlet_id, kind = _outlet(conn, mn)
    query = "SELECT DISTINCT unit FROM limits WHERE standard = %s AND category = %s"
    units = {u for (u,) in conn.execute(query, (standard, category))}
    if not units:
        known = conn.execute(
            "SELECT DISTINCT standard || ' / ' || category FROM limits ORDER BY 1"
        ).fetchall()
        raise LimitsError(
            f"no limits for {standard!r} / {category!r}; known: {', '.join(k for (k,) in known)}"
        )
    if (kind == "gas") != (units == {"mg/m³"}):
        raise LimitsError(f"{standard} / {category} is not a {kind} standard (units {units})")
    if not source.strip():
        raise LimitsError("source (permit number or document) is required")
    row = conn.execute(
        "INSERT INTO outlet_limit_bindings (outlet_id, standard, category, valid_from, valid_to,"
        " source) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (outlet_id, standard, category,"
        " valid_from) DO UPDATE SET valid_to = EXCLUDED.valid_to, source = EXCLUDED.source"
        " RETURNING id",
        (outlet_id, standard, category, valid_from, valid_to, source),
    ).fetchone()
    assert row is not None
    return int(row[0])
