"""The staff audit log (``staff_audit``), filtered by object and actor, newest first."""

from __future__ import annotations

from typing import Any

from psycopg import sql

from api.db import Statement
from api.queries.common import limit_offset, where

__all__ = ["audit_count", "audit_select"]


def _audit_where(
    object_type: str | None, object_id: str | None, actor: str | None
) -> tuple[sql.Composable, dict[str, Any]]:
    conditions: list[sql.Composable] = []
    params: dict[str, Any] = {}
    for name, value in (("object_type", object_type), ("object_id", object_id), ("actor", actor)):
        if value is not None:
            conditions.append(
                sql.SQL("{} = {}").format(sql.Identifier(name), sql.Placeholder(name))
            )
            params[name] = value
    return where(conditions), params


def audit_count(object_type: str | None, object_id: str | None, actor: str | None) -> Statement:
    condition, params = _audit_where(object_type, object_id, actor)
    return Statement(
        sql.SQL("SELECT count(*) AS found FROM staff_audit {}").format(condition), params
    )


def audit_select(
    object_type: str | None,
    object_id: str | None,
    actor: str | None,
    limit: int | None,
    offset: int,
) -> Statement:
    condition, params = _audit_where(object_type, object_id, actor)
    query = sql.SQL(
        "SELECT id, at, actor, action, object_type, object_id, before, after FROM staff_audit"
        " {} ORDER BY id DESC {}"
    ).format(condition, limit_offset(limit, offset))
    return Statement(query, params)
