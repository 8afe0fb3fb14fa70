"""Staff changes to what judges an outlet, each written to the audit log with before and after
in the transaction that makes it (the CLI and the staff API call these, never the bare
functions of :mod:`schemas.limits.rules` and :mod:`schemas.limits.permits`)."""

from __future__ import annotations

from datetime import date
from typing import Any

import psycopg

from schemas.limits.overview import bindings, find_outlet
from schemas.limits.permits import LimitImport, import_outlet_limits_data
from schemas.limits.rules import bind_outlet
from schemas.staff.audit import audit

__all__ = ["bind", "import_limits"]


def bind(
    conn: psycopg.Connection[Any],
    mn: str,
    standard: str,
    category: str,
    valid_from: date,
    source: str,
    *,
    actor: str,
    valid_to: date | None = None,
) -> int:
    """Bind the outlet to a standard's category (:func:`schemas.limits.rules.bind_outlet`),
    audited; the binding id."""
    with conn.transaction():
        outlet_id, _ = find_outlet(conn, mn)
        before = [
            b
            for b in bindings(conn, outlet_id)
            if (b.standard, b.category, b.valid_from) == (standard, category, valid_from)
        ]
        binding_id = bind_outlet(
            conn, mn, standard, category, valid_from, source, valid_to=valid_to
        )
        audit(
            conn,
            actor,
            "limits.bind",
            "outlet_limit_binding",
            binding_id,
            before=None
            if not before
            else {"valid_to": before[0].valid_to, "source": before[0].source},
            after={
                "mn": mn,
                "standard": standard,
                "category": category,
                "valid_from": valid_from,
                "valid_to": valid_to,
                "source": source,
            },
        )
    return binding_id


def import_limits(
    conn: psycopg.Connection[Any], data: bytes, *, actor: str, filename: str
) -> LimitImport:
    """Import outlet (permit) limits from CSV content
    (:func:`schemas.limits.permits.import_outlet_limits_data`), audited when anything is
    imported."""
    with conn.transaction():
        result = import_outlet_limits_data(conn, data, filename, created_by=actor)
        if result.ok and (result.inserted or result.superseded):
            audit(
                conn,
                actor,
                "limits.import",
                "outlet_limits",
                None,
                after={
                    "file": filename,
                    "inserted": result.inserted,
                    "superseded": result.superseded,
                    "unchanged": result.unchanged,
                },
            )
    return result
