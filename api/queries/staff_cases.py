"""Cases as staff see them: every kind, with what staff did (acknowledgements, assignees, the
full ``case_events`` history with actors and details, replies).

Only for authenticated staff routes (:mod:`api.routes.staff_cases`); the public view of
exceedance cases is :mod:`api.queries.cases`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import sql

from api.db import Statement
from api.queries.common import limit_offset, where

__all__ = ["StaffCaseFilter", "active_staff_user", "count", "events", "one", "select"]

_COLUMNS = sql.SQL(
    "c.id, c.kind, c.outlet_id, c.pollutant, c.period, c.limit_id, c.subject, c.state,"
    " c.severity, c.opened_at, c.first_at, c.last_at, c.closed_at, c.close_reason,"
    " c.max_multiple, c.acknowledged_at, c.acknowledged_by, c.assigned_to, c.escalated_at,"
    " c.details,"
    " o.mn AS outlet_mn, o.code AS outlet_code, o.name_zh AS outlet_name_zh,"
    " o.name_en AS outlet_name_en,"
    " e.id AS enterprise_id, e.name_zh AS enterprise_name_zh, e.name_en AS enterprise_name_en,"
    " e.district"
)
_FROM = sql.SQL(
    "FROM cases c JOIN outlets o ON o.id = c.outlet_id JOIN enterprises e ON e.id = o.enterprise_id"
)


@dataclass(frozen=True, slots=True)
class StaffCaseFilter:
    state: str | None = None
    kind: str | None = None
    severity: str | None = None
    enterprise_id: int | None = None


def _where(f: StaffCaseFilter) -> tuple[sql.Composable, dict[str, Any]]:
    columns = {
        "state": ("c", "state"),
        "kind": ("c", "kind"),
        "severity": ("c", "severity"),
        "enterprise_id": ("e", "id"),
    }
    conditions: list[sql.Composable] = []
    params: dict[str, Any] = {}
    for name, column in columns.items():
        if (value := getattr(f, name)) is not None:
            conditions.append(
                sql.SQL("{c} = {p}").format(c=sql.Identifier(*column), p=sql.Placeholder(name))
            )
            params[name] = value
    return where(conditions), params


def select(f: StaffCaseFilter, limit: int | None, offset: int) -> Statement:
    """Newest first (by opening time, then id)."""
    condition, params = _where(f)
    query = sql.SQL(
        "SELECT {columns} {from_} {where} ORDER BY c.opened_at DESC, c.id DESC {page}"
    ).format(columns=_COLUMNS, from_=_FROM, where=condition, page=limit_offset(limit, offset))
    return Statement(query, params)


def count(f: StaffCaseFilter) -> Statement:
    condition, params = _where(f)
    query = sql.SQL("SELECT count(*) AS found {from_} {where}").format(from_=_FROM, where=condition)
    return Statement(query, params)


def one(case_id: int) -> Statement:
    query = sql.SQL("SELECT {columns} {from_} WHERE c.id = %(id)s").format(
        columns=_COLUMNS, from_=_FROM
    )
    return Statement(query, {"id": case_id})


def events(case_id: int) -> Statement:
    """Every event of the case, oldest first, with who acted and the detail."""
    query = sql.SQL(
        "SELECT ce.id, ce.at, ce.actor, ce.action, ce.severity, ce.detail FROM case_events ce"
        " WHERE ce.case_id = %(id)s ORDER BY ce.id"
    )
    return Statement(query, {"id": case_id})


def active_staff_user(username: str) -> Statement:
    query = sql.SQL("SELECT id FROM staff_users WHERE username = %(username)s AND active")
    return Statement(query, {"username": username})
