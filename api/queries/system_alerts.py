"""System alerts (``system_alerts``) for staff, filtered by state and kind, latest first."""

from __future__ import annotations

from typing import Any

from psycopg import sql

from api.db import Statement
from api.queries.common import limit_offset, where

__all__ = ["system_alert", "system_alerts_count", "system_alerts_select"]


def _where(state: str | None, kind: str | None) -> tuple[sql.Composable, dict[str, Any]]:
    conditions: list[sql.Composable] = []
    params: dict[str, Any] = {}
    for name, value in (("state", state), ("kind", kind)):
        if value is not None:
            conditions.append(
                sql.SQL("{} = {}").format(sql.Identifier(name), sql.Placeholder(name))
            )
            params[name] = value
    return where(conditions), params


def system_alerts_count(state: str | None, kind: str | None) -> Statement:
    condition, params = _where(state, kind)
    return Statement(
        sql.SQL("SELECT count(*) AS found FROM system_alerts {}").format(condition), params
    )


def system_alerts_select(
    state: str | None, kind: str | None, limit: int | None, offset: int
) -> Statement:
    condition, params = _where(state, kind)
    query = sql.SQL(
        "SELECT id, kind, subject, state, first_at, last_at, count, message_zh, message_en,"
        " details, closed_at, closed_by FROM system_alerts {} ORDER BY last_at DESC, id DESC {}"
    ).format(condition, limit_offset(limit, offset))
    return Statement(query, params)


def system_alert(alert_id: int) -> Statement:
    return Statement(
        sql.SQL(
            "SELECT id, kind, subject, state, first_at, last_at, count, message_zh, message_en,"
            " details, closed_at, closed_by FROM system_alerts WHERE id = %(id)s"
        ),
        {"id": alert_id},
    )
