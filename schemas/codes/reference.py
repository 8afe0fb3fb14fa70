"""Load the HJ 212 code tables (``schemas/codes/data/*.csv``) into ``pollutants`` and ``data_flags``.

Upserts, so it is idempotent and picks up corrected names or units on the next run. Rows that
are no longer in the CSVs are left alone (measurements may still refer to them).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql

from schemas.codes.pattern_rules import load_pattern_rule_table
from schemas.codes.pollutants import load_flags, load_pollutants
from schemas.disclosure.categories import load_category_tables
from schemas.disclosure.request_codes import load_request_tables
from schemas.disclosure.tax_tables import load_tax_tables
from schemas.limits.rules import load_limit_tables

__all__ = ["load_reference_data"]


def _upsert(cur: psycopg.Cursor[Any], table: str, key: Sequence[str], rows: Sequence[Any]) -> None:
    columns = [f.name for f in dataclasses.fields(rows[0])]
    others = [c for c in columns if c not in key]
    query = sql.SQL(
        "INSERT INTO {table} ({columns}) VALUES ({values}) "
        "ON CONFLICT ({key}) DO UPDATE SET {updates}"
    ).format(
        table=sql.Identifier(table),
        columns=sql.SQL(", ").join(map(sql.Identifier, columns)),
        values=sql.SQL(", ").join(sql.Placeholder() * len(columns)),
        key=sql.SQL(", ").join(map(sql.Identifier, key)),
        updates=sql.SQL(", ").join(
            sql.SQL("{c} = EXCLUDED.{c}").format(c=sql.Identifier(c)) for c in others
        ),
    )
    cur.executemany(query, [dataclasses.astuple(row) for row in rows])


def load_reference_data(conn: psycopg.Connection) -> dict[str, int]:
    """Upsert the code tables in one transaction; return the rows loaded per table."""
    pollutants = list(load_pollutants().values())
    flags = list(load_flags().values())
    with conn.transaction(), conn.cursor() as cur:
        _upsert(cur, "pollutants", ["code"], pollutants)
        _upsert(cur, "data_flags", ["standard", "code"], flags)
    load_limit_tables(conn)
    load_pattern_rule_table(conn)
    load_category_tables(conn)
    load_request_tables(conn)
    load_tax_tables(conn)
    return {"pollutants": len(pollutants), "data_flags": len(flags)}
