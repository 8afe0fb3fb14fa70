"""History recall for staff: requests (``recall_requests``) with their outlet's MN, newest
first, and the tries of one request (``recall_attempts``)."""

from __future__ import annotations

from typing import Any

from psycopg import sql

from api.db import Statement
from api.queries.common import limit_offset, where

__all__ = ["recall_attempts", "recall_requests_count", "recall_requests_select"]

_COLUMNS = sql.SQL(
    "r.id, r.outlet_id, o.mn, r.cn, r.begin_at, r.end_at, r.state, r.outcome, r.reason,"
    " r.tries, r.next_at, r.missing, r.expected_per_hour, r.created_at, r.updated_at"
)


def _where(
    state: str | None, mn: str | None, request_id: int | None = None
) -> tuple[sql.Composable, dict[str, Any]]:
    conditions: list[sql.Composable] = []
    params: dict[str, Any] = {}
    if state is not None:
        conditions.append(sql.SQL("r.state = %(state)s"))
        params["state"] = state
    if mn is not None:
        conditions.append(sql.SQL("o.mn = %(mn)s"))
        params["mn"] = mn
    if request_id is not None:
        conditions.append(sql.SQL("r.id = %(id)s"))
        params["id"] = request_id
    return where(conditions), params


def recall_requests_count(state: str | None, mn: str | None) -> Statement:
    condition, params = _where(state, mn)
    return Statement(
        sql.SQL(
            "SELECT count(*) AS found FROM recall_requests r JOIN outlets o ON o.id = r.outlet_id {}"
        ).format(condition),
        params,
    )


def recall_requests_select(
    state: str | None,
    mn: str | None,
    limit: int | None,
    offset: int,
    request_id: int | None = None,
) -> Statement:
    condition, params = _where(state, mn, request_id)
    return Statement(
        sql.SQL(
            "SELECT {} FROM recall_requests r JOIN outlets o ON o.id = r.outlet_id {}"
            " ORDER BY r.created_at DESC, r.id DESC {}"
        ).format(_COLUMNS, condition, limit_offset(limit, offset)),
        params,
    )


def recall_attempts(request_id: int) -> Statement:
    return Statement(
        sql.SQL(
            "SELECT try, qn, transport, sent_at, qn_rtn, exe_rtn, packets, missing_after,"
            " outcome, finished_at FROM recall_attempts WHERE request_id = %(id)s ORDER BY try"
        ),
        {"id": request_id},
    )
