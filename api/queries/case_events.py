"""Case events as the staff alert stream sends them (:mod:`api.routes.staff_stream`): each
``case_events`` row with its case, outlet and enterprise, filtered as one client asked."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from psycopg import sql

from api.db import Statement
from api.queries.common import limit_offset, where
from schemas.cases.kinds import SEVERITIES, CaseKind, Severity

__all__ = ["EventFilter", "after", "by_ids", "latest"]

_SELECT = sql.SQL(
    "SELECT e.id AS event_id, e.case_id, e.action, e.severity, e.actor, e.at,"
    " c.kind, c.state, c.pollutant, c.period, c.subject, c.first_at, c.last_at, c.max_multiple,"
    " o.id AS outlet_id, o.mn, o.name_zh AS outlet_name_zh,"
    " en.id AS enterprise_id, en.name_zh AS enterprise_name_zh,"
    " en.name_en AS enterprise_name_en, en.district"
    " FROM case_events e JOIN cases c ON c.id = e.case_id JOIN outlets o ON o.id = c.outlet_id"
    " JOIN enterprises en ON en.id = o.enterprise_id"
)


@dataclass(frozen=True, slots=True)
class EventFilter:
    kind: CaseKind | None = None
    min_severity: Severity = "info"  # the event's severity, else its case's
    enterprise_id: int | None = None


def _where(
    f: EventFilter, first: sql.Composable, params: dict[str, Any]
) -> tuple[sql.Composable, dict[str, Any]]:
    conditions = [
        first,
        sql.SQL(
            "array_position(%(severities)s::text[], coalesce(e.severity, c.severity))"
            " >= %(min_rank)s"
        ),
    ]
    params = {
        **params,
        "severities": list(SEVERITIES),
        "min_rank": SEVERITIES.index(f.min_severity) + 1,
    }
    if f.kind is not None:
        conditions.append(sql.SQL("c.kind = %(kind)s"))
        params["kind"] = f.kind
    if f.enterprise_id is not None:
        conditions.append(sql.SQL("en.id = %(enterprise_id)s"))
        params["enterprise_id"] = f.enterprise_id
    return where(conditions), params


def after(f: EventFilter, event_id: int, limit: int) -> Statement:
    """The first ``limit`` events after ``event_id``, in order (replay and catch-up)."""
    condition, params = _where(f, sql.SQL("e.id > %(after)s"), {"after": event_id})
    query = sql.SQL("{select} {where} ORDER BY e.id {limit}").format(
        select=_SELECT, where=condition, limit=limit_offset(limit)
    )
    return Statement(query, params)


def by_ids(f: EventFilter, ids: Sequence[int]) -> Statement:
    """The events among ``ids`` (just notified) that pass the filter, in order."""
    condition, params = _where(f, sql.SQL("e.id = ANY(%(ids)s)"), {"ids": list(ids)})
    query = sql.SQL("{select} {where} ORDER BY e.id").format(select=_SELECT, where=condition)
    return Statement(query, params)


def latest() -> Statement:
    """The newest event id (0 before the first): where a stream without Last-Event-ID starts."""
    return Statement(sql.SQL("SELECT coalesce(max(id), 0) AS event_id FROM case_events"))
