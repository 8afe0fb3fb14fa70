"""Cases: the public view (exceedance notices, their periods and public transitions) and the
staff view (every kind, with what staff did), chosen by ``staff``.

The public view never selects what staff do with a case (``assigned_to``, ``acknowledged_*``,
comments, replies, actors, the case's ``details``, a close reason staff wrote, the outlet's MN):
its columns are listed one by one, and ``case_events`` is read only for the transitions in
:data:`PUBLIC_ACTIONS`, without actor or detail. The staff view is only for authenticated staff
routes (:mod:`api.routes.staff_cases`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import sql

from api.db import Statement
from api.queries.common import limit_offset, where
from schemas.cases.model import MACHINE

__all__ = [
    "FEED_SIZE",
    "PUBLIC_ACTIONS",
    "CaseFilter",
    "active_staff_user",
    "count",
    "events",
    "feed_events",
    "one",
    "periods",
    "select",
]

PUBLIC_ACTIONS = ("opened", "escalated", "closed", "reopened")
FEED_ACTIONS = ("opened", "closed")
FEED_SIZE = 50

# Both views: the case, its outlet and its enterprise.
_COLUMNS = sql.SQL(
    "c.id, c.kind, c.outlet_id, c.pollutant, c.period, c.state, c.severity, c.opened_at,"
    " c.first_at, c.last_at, c.closed_at, c.max_multiple, c.escalated_at,"
    " o.code AS outlet_code, o.name_zh AS outlet_name_zh, o.name_en AS outlet_name_en,"
    " e.id AS enterprise_id, e.name_zh AS enterprise_name_zh, e.name_en AS enterprise_name_en,"
    " e.district"
)
# Public: the pollutant's names, the limit details of the latest period (the evaluator writes
# the limit it judged by into case_periods.details), and only the evaluator's close reasons
# (staff write theirs for the file).
_PUBLIC_COLUMNS = sql.SQL(
    ", CASE WHEN (SELECT x.actor FROM case_events x WHERE x.case_id = c.id"
    " AND x.action = 'closed' ORDER BY x.id DESC LIMIT 1) = {machine}"
    " THEN c.close_reason END AS close_reason,"
    " c.details ->> 'limit_source' AS case_limit_source,"
    " p.name_zh AS p_name_zh, p.name_en AS p_name_en, p.unit_zh AS p_unit_zh,"
    " p.unit_en AS p_unit_en,"
    " lp.limit_value AS latest_limit_value, lp.details AS limit_details"
).format(machine=sql.Literal(MACHINE))
_STAFF_COLUMNS = sql.SQL(
    ", c.limit_id, c.subject, c.close_reason, c.acknowledged_at, c.acknowledged_by,"
    " c.assigned_to, c.details, o.mn AS outlet_mn"
)
_CASE_JOINS = sql.SQL(
    " JOIN outlets o ON o.id = c.outlet_id JOIN enterprises e ON e.id = o.enterprise_id"
)
_PUBLIC_JOINS = sql.SQL(
    " LEFT JOIN pollutants p ON p.code = c.pollutant"
    " LEFT JOIN LATERAL (SELECT cp.limit_value, cp.details FROM case_periods cp"
    " WHERE cp.case_id = c.id ORDER BY cp.period_start DESC LIMIT 1) lp ON true"
)
_EXCEEDANCES = sql.SQL("c.kind = 'exceedance'")


@dataclass(frozen=True, slots=True)
class CaseFilter:
    """What to list. The public view lists exceedance cases only (``kind`` is ignored)."""

    enterprise_id: int | None = None
    outlet_id: int | None = None
    district: str | None = None
    pollutant: str | None = None
    state: str | None = None
    period: str | None = None
    kind: str | None = None  # staff view
    severity: str | None = None
    assigned_to: str | None = None  # staff view
    since: datetime | None = None  # cases whose latest period starts at or after
    until: datetime | None = None  # cases whose first period starts before
    staff: bool = False


_FILTER_COLUMNS = {
    "enterprise_id": ("e", "id"),
    "outlet_id": ("c", "outlet_id"),
    "district": ("e", "district"),
    "pollutant": ("c", "pollutant"),
    "state": ("c", "state"),
    "period": ("c", "period"),
    "kind": ("c", "kind"),
    "severity": ("c", "severity"),
    "assigned_to": ("c", "assigned_to"),
}
_STAFF_ONLY = frozenset({"kind", "assigned_to"})


def _where(f: CaseFilter) -> tuple[sql.Composable, dict[str, Any]]:
    conditions: list[sql.Composable] = [] if f.staff else [_EXCEEDANCES]
    params: dict[str, Any] = {}
    for name, column in _FILTER_COLUMNS.items():
        if (value := getattr(f, name)) is not None and (f.staff or name not in _STAFF_ONLY):
            conditions.append(
                sql.SQL("{c} = {p}").format(c=sql.Identifier(*column), p=sql.Placeholder(name))
            )
            params[name] = value
    if f.since is not None:
        conditions.append(sql.SQL("c.last_at >= %(since)s"))
        params["since"] = f.since
    if f.until is not None:
        conditions.append(sql.SQL("c.first_at < %(until)s"))
        params["until"] = f.until
    return where(conditions), params


def _view(staff: bool) -> tuple[sql.Composable, sql.Composable]:
    """The select list and FROM clause of the view."""
    if staff:
        return _COLUMNS + _STAFF_COLUMNS, sql.SQL("FROM cases c") + _CASE_JOINS
    return _COLUMNS + _PUBLIC_COLUMNS, sql.SQL("FROM cases c") + _CASE_JOINS + _PUBLIC_JOINS


def select(f: CaseFilter, limit: int | None, offset: int) -> Statement:
    """Newest first: by latest period (public) or by opening time (staff), then id."""
    condition, params = _where(f)
    columns, from_ = _view(f.staff)
    order = sql.SQL("c.opened_at DESC" if f.staff else "c.last_at DESC")
    query = sql.SQL("SELECT {columns} {from_} {where} ORDER BY {order}, c.id DESC {page}").format(
        columns=columns, from_=from_, where=condition, order=order, page=limit_offset(limit, offset)
    )
    return Statement(query, params)


def count(f: CaseFilter) -> Statement:
    condition, params = _where(f)
    query = sql.SQL("SELECT count(*) AS found FROM cases c {joins} {where}").format(
        joins=_CASE_JOINS, where=condition
    )
    return Statement(query, params)


def one(case_id: int, *, staff: bool = False) -> Statement:
    """The case in the view; the public view has exceedance cases only."""
    columns, from_ = _view(staff)
    conditions: list[sql.Composable] = [sql.SQL("c.id = %(id)s")]
    if not staff:
        conditions.insert(0, _EXCEEDANCES)
    query = sql.SQL("SELECT {columns} {from_} {where}").format(
        columns=columns, from_=from_, where=where(conditions)
    )
    return Statement(query, {"id": case_id})


def periods(case_id: int) -> Statement:
    """The periods of an exceedance case, with the current validity of the mean each was judged
    on (a mean invalidated after the judgement shows here as not valid, with the reason)."""
    query = sql.SQL(
        "SELECT cp.period_start, cp.value, cp.limit_value, cp.multiple, cp.compliant,"
        " cp.details ->> 'coverage' AS coverage,"
        " coalesce(h.valid, d.valid) AS mean_valid, coalesce(h.reason, d.reason) AS mean_reason,"
        " o.timezone AS outlet_timezone"
        " FROM case_periods cp JOIN cases c ON c.id = cp.case_id"
        " JOIN outlets o ON o.id = c.outlet_id"
        " LEFT JOIN hourly_means h ON c.period = 'hour' AND h.outlet_id = c.outlet_id"
        " AND h.pollutant = c.pollutant AND h.hour_start = cp.period_start"
        " LEFT JOIN daily_means d ON c.period = 'day' AND d.outlet_id = c.outlet_id"
        " AND d.pollutant = c.pollutant AND d.day = (cp.period_start AT TIME ZONE o.timezone)::date"
        " WHERE cp.case_id = %(id)s AND c.kind = 'exceedance'"
        " ORDER BY cp.period_start"
    )
    return Statement(query, {"id": case_id})


def events(case_id: int, *, staff: bool = False) -> Statement:
    """Public: the transitions only, what happened and when, never who or why. Staff: every
    event, oldest first, with who acted and the detail."""
    if staff:
        query = sql.SQL(
            "SELECT ce.id, ce.at, ce.actor, ce.action, ce.severity, ce.detail FROM case_events ce"
            " WHERE ce.case_id = %(id)s ORDER BY ce.id"
        )
        return Statement(query, {"id": case_id})
    query = sql.SQL(
        "SELECT ce.action, ce.at, ce.severity FROM case_events ce"
        " WHERE ce.case_id = %(id)s AND ce.action = ANY(%(actions)s)"
        " ORDER BY ce.at, ce.id"
    )
    return Statement(query, {"id": case_id, "actions": list(PUBLIC_ACTIONS)})


def feed_events(
    enterprise_id: int | None, district: str | None, size: int = FEED_SIZE
) -> Statement:
    """The latest opened/closed transitions of exceedance cases, newest first, with the case
    (public view)."""
    conditions: list[sql.Composable] = [_EXCEEDANCES, sql.SQL("ce.action = ANY(%(actions)s)")]
    params: dict[str, Any] = {"actions": list(FEED_ACTIONS)}
    if enterprise_id is not None:
        conditions.append(sql.SQL("e.id = %(enterprise_id)s"))
        params["enterprise_id"] = enterprise_id
    if district is not None:
        conditions.append(sql.SQL("e.district = %(district)s"))
        params["district"] = district
    columns, _ = _view(staff=False)
    query = sql.SQL(
        "SELECT ce.id AS event_id, ce.action, ce.at, {columns} FROM case_events ce"
        " JOIN cases c ON c.id = ce.case_id {joins} {where} ORDER BY ce.at DESC, ce.id DESC {page}"
    ).format(
        columns=columns,
        joins=_CASE_JOINS + _PUBLIC_JOINS,
        where=where(conditions),
        page=limit_offset(size),
    )
    return Statement(query, params)


def active_staff_user(username: str) -> Statement:
    """The id of the active staff user of that name (a case's assignee must be one)."""
    query = sql.SQL("SELECT id FROM staff_users WHERE username = %(username)s AND active")
    return Statement(query, {"username": username})
