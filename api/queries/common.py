"""Pieces shared by the query builders."""

from __future__ import annotations

from collections.abc import Sequence

from psycopg import sql

__all__ = ["limit_offset", "where"]


def where(conditions: Sequence[sql.Composable]) -> sql.Composable:
    """``WHERE a AND b …``, or nothing."""
    if not conditions:
        return sql.SQL("")
    return sql.SQL("WHERE ") + sql.SQL(" AND ").join(conditions)


def limit_offset(limit: int | None, offset: int = 0) -> sql.Composable:
    """``LIMIT n OFFSET m`` as literals (both are checked ints), or nothing for no limit."""
    parts = []
    if limit is not None:
        parts.append(sql.SQL("LIMIT {}").format(sql.Literal(int(limit))))
    if offset:
        parts.append(sql.SQL("OFFSET {}").format(sql.Literal(int(offset))))
    return sql.SQL(" ").join(parts)
