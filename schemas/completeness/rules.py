"""The rule values of the transmission and validity rates (``completeness_rules``, from
``schemas/codes/data/completeness_rules.csv``, each row with its source; unconfirmed values say
what to verify): the 传输有效率 target and which records the headline rates count."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import psycopg

from schemas.codes.tables import REFERENCE_PARSERS, read_reference_csv, upsert_reference_rows

__all__ = ["BASIS_KINDS", "CompletenessError", "RateRules", "load_rate_rules", "load_rules_table"]

_KEY = ("name", "medium", "valid_from")
_PARSERS = {k: v for k, v in REFERENCE_PARSERS.items() if k != "unit"}

# rate_basis_period (minutes) → the data kind whose records the headline rates count
BASIS_KINDS = {1: "min", 60: "hour", 1440: "day"}


class CompletenessError(Exception):
    """Root of the completeness package's errors: missing or bad rule values."""


@dataclass(frozen=True, slots=True)
class RateRules:
    """The rules of one medium on one day."""

    medium: str
    target_pct: Decimal  # 传输有效率 target, percent
    basis_kind: str  # min | hour | day
    confirmed: bool  # every value confirmed against the official text
    source: str  # source_document of the target


def load_rules_table(conn: psycopg.Connection[Any]) -> int:
    """Upsert completeness_rules.csv (called by ``sourcewatch migrate``); rows loaded."""
    rows = read_reference_csv("completeness_rules.csv", _KEY, _PARSERS)
    with conn.transaction(), conn.cursor() as cur:
        upsert_reference_rows(cur, "completeness_rules", _KEY, rows)
    return len(rows)


def load_rate_rules(conn: psycopg.Connection[Any], medium: str, on: date) -> RateRules:
    """The rules of ``medium`` in force on ``on`` (per name, the latest ``valid_from``)."""
    rows = conn.execute(
        "SELECT DISTINCT ON (name) name, value, confirmed, source_document FROM completeness_rules"
        " WHERE medium = %s AND valid_from <= %s ORDER BY name, valid_from DESC",
        (medium, on),
    ).fetchall()
    found = {name: (value, confirmed, source) for name, value, confirmed, source in rows}
    if missing := {"transmission_validity_target", "rate_basis_period"} - found.keys():
        raise CompletenessError(f"no completeness rule {', '.join(sorted(missing))} for {medium}")
    target, target_ok, source = found["transmission_validity_target"]
    basis, basis_ok, _ = found["rate_basis_period"]
    if int(basis) not in BASIS_KINDS or basis != int(basis):
        raise CompletenessError(f"rate_basis_period must be one of {sorted(BASIS_KINDS)}")
    return RateRules(medium, target, BASIS_KINDS[int(basis)], target_ok and basis_ok, source)
