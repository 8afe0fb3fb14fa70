"""The HJ 212 code tables: pollutant (factor) codes and data flags."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import sql

from api.db import Statement
from api.queries.common import limit_offset, where

__all__ = ["count", "count_flags", "flags", "one", "refs", "select"]

_COLUMNS = sql.SQL(
    "code, medium, name_zh, name_en, unit_zh, unit_en, cou_unit_zh, cou_unit_en, legacy_code,"
    " data_type"
)


def _where(medium: str | None, q: str | None) -> tuple[sql.Composable, dict[str, Any]]:
    conditions: list[sql.Composable] = []
    params: dict[str, Any] = {}
    if medium is not None:
        conditions.append(sql.SQL("medium = %(medium)s"))
        params["medium"] = medium
    if q:
        conditions.append(
            sql.SQL(
                "(strpos(lower(name_zh), lower(%(q)s)) > 0"
                " OR strpos(lower(name_en), lower(%(q)s)) > 0"
                " OR lower(code) = lower(%(q)s) OR legacy_code = %(q)s)"
            )
        )
        params["q"] = q
    return where(conditions), params


def select(medium: str | None, q: str | None, limit: int | None, offset: int) -> Statement:
    condition, params = _where(medium, q)
    query = sql.SQL("SELECT {c} FROM pollutants {w} ORDER BY code {p}").format(
        c=_COLUMNS, w=condition, p=limit_offset(limit, offset)
    )
    return Statement(query, params)


def count(medium: str | None, q: str | None) -> Statement:
    condition, params = _where(medium, q)
    query = sql.SQL("SELECT count(*) AS found FROM pollutants {w}").format(w=condition)
    return Statement(query, params)


def one(code: str) -> Statement:
    query = sql.SQL("SELECT {c} FROM pollutants WHERE code = %(code)s").format(c=_COLUMNS)
    return Statement(query, {"code": code})


def refs(codes: Sequence[str]) -> Statement:
    """Names and units of some codes (for limits and series)."""
    query = sql.SQL(
        "SELECT code, name_zh, name_en, unit_zh, unit_en FROM pollutants WHERE code = ANY(%(codes)s)"
    )
    return Statement(query, {"codes": list(codes)})


def _flag_where(standard: str | None) -> tuple[sql.Composable, dict[str, Any]]:
    if standard is None:
        return sql.SQL(""), {}
    return where([sql.SQL("standard = %(standard)s")]), {"standard": standard}


def flags(standard: str | None, limit: int | None, offset: int) -> Statement:
    condition, params = _flag_where(standard)
    query = sql.SQL(
        "SELECT standard, code, name_zh, name_en, valid, source FROM data_flags {w}"
        " ORDER BY standard, code {p}"
    ).format(w=condition, p=limit_offset(limit, offset))
    return Statement(query, params)


def count_flags(standard: str | None) -> Statement:
    condition, params = _flag_where(standard)
    query = sql.SQL("SELECT count(*) AS found FROM data_flags {w}").format(w=condition)
    return Statement(query, params)
