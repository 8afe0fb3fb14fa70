"""Screening heuristics: the thresholds behind fault and pattern cases
(docs/regulations.md#falsification-patterns, docs/regulations.md#fault-intervals).

Reference data ships as ``schemas/codes/data/pattern_rules.csv``: one row per rule and version, with
its source. These are heuristics for indicators shown to enforcement staff (flat lines, values
bunched under the limit, 折算 mismatches, invalid-flag abuse, runs of fault flags), not legal
thresholds; a value that is our own choice has ``confirmed = false`` and a note. The fault-hour
rules follow the interval marking of HJ 212-2017 (docs/regulation-values.md#pattern-rules).
:func:`load_pattern_rule_table` upserts the CSV and removes rules the code no longer knows (called
by :func:`schemas.reference.load_reference_data`); :func:`load_pattern_rules` reads the rules
in force on a day.

Errors::

    PatternRulesError    a bad CSV row, or a rule missing or malformed in the database
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import cache
from typing import Any

import psycopg

from schemas.codes.tables import (
    ReferenceTableError,
    parse_bool,
    parse_date,
    parse_decimal,
    read_reference_csv,
    upsert_reference_rows,
)

__all__ = [
    "IntervalRule",
    "PatternRules",
    "PatternRulesError",
    "interval_rule",
    "load_pattern_rule_table",
    "load_pattern_rules",
]

_KEY = ("name", "valid_from")
_INT_RULES = (
    *("fault_hour_values_water", "flat_min_hours", "bunching_min_hours"),
    *("zs_mismatch_min_hours", "flag_abuse_min_hours"),
)
_SHARES = ("fault_hour_share_gas", "bunching_band", "bunching_min_share")  # in (0, 1]
_STDS = ("flat_max_relative_std", "flat_max_absolute_std")  # >= 0
_RULES = ("fault_flags", *_SHARES, *_STDS, *_INT_RULES)


class PatternRulesError(Exception):
    """Root of this module's errors."""


@dataclass(frozen=True, slots=True)
class IntervalRule:
    """When HJ 212-2017 marks an interval abnormal (notes to Tables C.16–C.18): flue gas when
    more than ``gas_share`` of its values are abnormal, wastewater with ``water_values``
    abnormal values (rules ``fault_hour_share_gas`` and ``fault_hour_values_water``)."""

    gas_share: Decimal
    water_values: int

    def abnormal(self, flagged: int, total: int, medium: str) -> bool:
        """Whether an interval of ``total`` values, ``flagged`` of them abnormal, is abnormal."""
        if medium == "gas":
            return total > 0 and flagged > self.gas_share * total
        if medium == "water":
            return flagged >= self.water_values
        raise ValueError(f"medium must be 'gas' or 'water', got {medium!r}")


@dataclass(frozen=True, slots=True)
class PatternRules:
    """The screening heuristics in force on one day (rows of ``pattern_rules``).

    ``sources`` maps each rule to its source document; ``unconfirmed`` names the rules whose
    value is our own choice (see the note in the table)."""

    fault_flags: tuple[str, ...]  # D, C, M: instrument fault, calibration, maintenance
    fault_hour_share_gas: Decimal  # flue gas: more than this share of samples flagged
    fault_hour_values_water: int  # wastewater: at least this many values flagged
    flat_min_hours: int
    flat_max_relative_std: Decimal
    flat_max_absolute_std: Decimal
    bunching_band: Decimal
    bunching_min_share: Decimal
    bunching_min_hours: int
    zs_mismatch_min_hours: int
    flag_abuse_min_hours: int
    valid_from: date = date.min  # the latest valid_from among the rules in force
    sources: Mapping[str, str] = field(default_factory=dict)
    unconfirmed: frozenset[str] = frozenset()

    @property
    def interval(self) -> IntervalRule:
        return IntervalRule(self.fault_hour_share_gas, self.fault_hour_values_water)

    def describe(self, *names: str) -> dict[str, Any]:
        """The named rules with their values and sources, for a case's details."""
        return {
            name: {
                "value": _text(getattr(self, name)),
                "source": self.sources.get(name),
                "confirmed": name not in self.unconfirmed,
            }
            for name in names
        }


def _text(value: object) -> str:
    return ",".join(value) if isinstance(value, tuple) else str(value)


_PARSERS: Mapping[str, Callable[[str], Any]] = {"confirmed": parse_bool, "valid_from": parse_date}


def _value(name: str, text: str) -> Any:
    """The typed value of one rule; ValueError says what is wrong."""
    if name == "fault_flags":
        flags = tuple(f.strip() for f in text.split(",") if f.strip())
        if not flags:
            raise ValueError("must list at least one flag")
        return flags
    value = parse_decimal(text)
    if name in _INT_RULES:
        if value != value.to_integral_value() or value < 1:
            raise ValueError(f"must be a whole number of at least 1, got {text!r}")
        return int(value)
    if name in _SHARES and not 0 < value <= 1:
        raise ValueError(f"must be above 0 and at most 1, got {text!r}")
    if name in _STDS and value < 0:
        raise ValueError(f"must not be negative, got {text!r}")
    return value


@cache
def interval_rule() -> IntervalRule:
    """The interval rule as ``pattern_rules.csv`` has it (its latest rows), for code without a
    database: the simulator marks the intervals it sends by it."""
    rows = read_reference_csv("pattern_rules.csv", _KEY, _PARSERS)
    latest = {r["name"]: r["value"] for r in sorted(rows, key=lambda r: r["valid_from"])}
    return IntervalRule(
        _value("fault_hour_share_gas", latest["fault_hour_share_gas"]),
        _value("fault_hour_values_water", latest["fault_hour_values_water"]),
    )


def load_pattern_rule_table(conn: psycopg.Connection[Any]) -> dict[str, int]:
    """Upsert pattern_rules.csv in one transaction, removing rows of rules the code no longer
    knows; return the rows loaded."""
    try:
        rows = read_reference_csv("pattern_rules.csv", _KEY, _PARSERS)
    except ReferenceTableError as exc:
        raise PatternRulesError(str(exc)) from exc
    for row in rows:
        if row["name"] not in _RULES:
            raise PatternRulesError(f"pattern_rules.csv: unknown rule {row['name']!r}")
        try:
            _value(row["name"], row["value"])
        except ValueError as exc:
            raise PatternRulesError(f"pattern_rules.csv, {row['name']}: {exc}") from None
    with conn.transaction(), conn.cursor() as cur:
        upsert_reference_rows(cur, "pattern_rules", _KEY, rows)
        # A rule the code no longer reads (renamed or retired) would only mislead a reader of
        # the table: nothing refers to these rows (cases keep a copy of the rules they used).
        cur.execute("DELETE FROM pattern_rules WHERE NOT (name = ANY(%s))", (list(_RULES),))
    return {"pattern_rules": len(rows)}


def load_pattern_rules(conn: psycopg.Connection[Any], on: date) -> PatternRules:
    """The rules in force on ``on``: per rule, the row with the latest ``valid_from`` not
    after ``on``."""
    rows = conn.execute(
        "SELECT DISTINCT ON (name) name, value, confirmed, source_document, valid_from"
        " FROM pattern_rules WHERE valid_from <= %s ORDER BY name, valid_from DESC",
        (on,),
    ).fetchall()
    found = {name: (value, ok, source, since) for name, value, ok, source, since in rows}
    if missing := [n for n in _RULES if n not in found]:
        raise PatternRulesError(f"no pattern rule {', '.join(missing)} on {on}")
    values: dict[str, Any] = {}
    for name in _RULES:
        try:
            values[name] = _value(name, found[name][0])
        except ValueError as exc:
            raise PatternRulesError(f"pattern rule {name}: {exc}") from None
    return PatternRules(
        **values,
        valid_from=max(found[n][3] for n in _RULES),
        sources={n: found[n][2] for n in _RULES},
        unconfirmed=frozenset(n for n in _RULES if not found[n][1]),
    )
