"""Load every table shipped in ``schemas/codes/data/*.csv`` into the database.

The HJ 212 code tables (``pollutants``, ``data_flags``) and the regulation values of the domain
packages: limits and validity rules (:mod:`schemas.limits.rules`), pattern rules
(:mod:`schemas.codes.pattern_rules`), disclosure categories and deadlines
(:mod:`schemas.disclosure.categories`), pollution equivalents and tax rates
(:mod:`schemas.disclosure.tax_tables`), the completeness rules (:mod:`schemas.completeness.rules`). This module sits above the code tables and the domain
packages, which is why it is neither.

Upserts, so it is idempotent and picks up corrected names, units or values on the next run. Rows
that are no longer in the CSVs are left alone (measurements may still refer to them), except
pattern rules the code no longer reads.
"""

from __future__ import annotations

import dataclasses

import psycopg

from schemas.codes.pattern_rules import load_pattern_rule_table
from schemas.codes.pollutants import load_flags, load_pollutants
from schemas.codes.tables import upsert_reference_rows
from schemas.completeness.rules import load_rules_table
from schemas.disclosure.categories import load_category_tables
from schemas.disclosure.tax_tables import load_tax_tables
from schemas.limits.rules import load_limit_tables

__all__ = ["load_reference_data"]


def load_reference_data(conn: psycopg.Connection) -> dict[str, int]:
    """Upsert every reference table; return the rows loaded per HJ 212 code table."""
    pollutants = [dataclasses.asdict(p) for p in load_pollutants().values()]
    flags = [dataclasses.asdict(f) for f in load_flags().values()]
    with conn.transaction(), conn.cursor() as cur:
        upsert_reference_rows(cur, "pollutants", ["code"], pollutants)
        upsert_reference_rows(cur, "data_flags", ["standard", "code"], flags)
    load_limit_tables(conn)
    load_pattern_rule_table(conn)
    load_category_tables(conn)
    load_tax_tables(conn)
    load_rules_table(conn)
    return {"pollutants": len(pollutants), "data_flags": len(flags)}
