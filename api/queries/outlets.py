"""Outlets with their public status (last data, open cases by kind), and latest values."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from psycopg import sql

from api.db import Statement
from api.queries.common import limit_offset, where
from schemas.core.localtime import LOCAL_TZ
from schemas.limits.coverage import MEASURED_WITHIN, judgement_columns

__all__ = ["OutletFilter", "count", "flag_standard", "latest", "one", "select"]

# Outlet, its enterprise's names, activity, open-case counts of the public kinds (counts only;
# open fault and pattern cases are not counted: they would tip off the enterprise) and
# whether it is judged today (schemas/limits/coverage.py).
_SELECT = sql.SQL(
    """SELECT o.id, o.enterprise_id, o.code, o.name_zh, o.name_en, o.kind, o.emission_standard,
       o.permit_number, o.longitude, o.latitude, o.active, o.timezone, o.protocol_profile,
       e.name_zh AS enterprise_name_zh, e.name_en AS enterprise_name_en, e.district,
       a.last_data_at, a.last_frame_at,
       c.exceedance, c.outage,
       %(judged_on)s::date AS judged_on, j.has_limits, j.unlimited
FROM outlets o
JOIN enterprises e ON e.id = o.enterprise_id
LEFT JOIN outlet_activity a ON a.outlet_id = o.id
CROSS JOIN LATERAL (
    SELECT count(*) FILTER (WHERE k.kind = 'exceedance') AS exceedance,
           count(*) FILTER (WHERE k.kind = 'outage') AS outage
    FROM cases k WHERE k.outlet_id = o.id AND k.state = 'open'
) c
CROSS JOIN LATERAL ({judgement}) j"""
).format(
    judgement=judgement_columns(
        sql.SQL("o.id"), sql.Placeholder("judged_on"), sql.Placeholder("measured_since")
    )
)


def _judgement_params() -> dict[str, Any]:
    """Judged today (Asia/Shanghai) on what was reported within the coverage window."""
    now = datetime.now(UTC)
    return {"judged_on": now.astimezone(LOCAL_TZ).date(), "measured_since": now - MEASURED_WITHIN}


@dataclass(frozen=True, slots=True)
class OutletFilter:
    enterprise_id: int | None = None
    kind: str | None = None
    active: bool | None = None
    q: str | None = None  # substring of the Chinese or English name, or the permit outlet code


def _where(f: OutletFilter) -> tuple[sql.Composable, dict[str, Any]]:
    conditions: list[sql.Composable] = []
    params: dict[str, Any] = {}
    for column in ("enterprise_id", "kind", "active"):
        if (value := getattr(f, column)) is not None:
            conditions.append(
                sql.SQL("o.{c} = {p}").format(c=sql.Identifier(column), p=sql.Placeholder(column))
            )
            params[column] = value
    if f.q:
        conditions.append(
            sql.SQL(
                "(strpos(lower(o.name_zh), lower(%(q)s)) > 0"
                " OR strpos(lower(coalesce(o.name_en, '')), lower(%(q)s)) > 0"
                " OR lower(coalesce(o.code, '')) = lower(%(q)s))"
            )
        )
        params["q"] = f.q
    return where(conditions), params


def select(f: OutletFilter, limit: int | None, offset: int) -> Statement:
    condition, params = _where(f)
    query = sql.SQL("{select} {where} ORDER BY o.id {page}").format(
        select=_SELECT, where=condition, page=limit_offset(limit, offset)
    )
    return Statement(query, params | _judgement_params())


def count(f: OutletFilter) -> Statement:
    condition, params = _where(f)
    query = sql.SQL("SELECT count(*) AS found FROM outlets o {where}").format(where=condition)
    return Statement(query, params)


def one(outlet_id: int) -> Statement:
    return Statement(
        sql.SQL("{select} WHERE o.id = %(id)s").format(select=_SELECT),
        {"id": outlet_id} | _judgement_params(),
    )


def flag_standard(protocol_profile: str) -> str:
    """The ``data_flags.standard`` whose flags an outlet's logger sends."""
    return "HJ/T 212-2005" if protocol_profile == "hj212-2005" else "HJ 212-2017"


# The latest value per pollutant: the outlet's pollutants by a loose index scan of the primary
# key (outlet_id, pollutant, kind, ts), then per pollutant the newest row of each data kind.
_LATEST = sql.SQL(
    """WITH RECURSIVE codes AS (
    (SELECT pollutant FROM measurements WHERE outlet_id = %(outlet)s ORDER BY pollutant LIMIT 1)
    UNION ALL
    SELECT (SELECT m.pollutant FROM measurements m
            WHERE m.outlet_id = %(outlet)s AND m.pollutant > codes.pollutant
            ORDER BY m.pollutant LIMIT 1)
    FROM codes WHERE codes.pollutant IS NOT NULL
)
SELECT codes.pollutant, p.name_zh AS p_name_zh, p.name_en AS p_name_en,
       p.unit_zh AS p_unit_zh, p.unit_en AS p_unit_en,
       newest.kind, newest.ts, newest.value, newest.zs_value, newest.flag,
       f.name_zh AS flag_name_zh, f.name_en AS flag_name_en,
       (coalesce(f.valid, false) AND newest.value IS NOT NULL) AS valid
FROM codes
CROSS JOIN LATERAL (
    SELECT m.* FROM (VALUES ('rtd', 1), ('min', 2), ('hour', 3), ('day', 4)) AS k (kind, rank)
    CROSS JOIN LATERAL (
        SELECT kind, ts, value, zs_value, flag FROM measurements
        WHERE outlet_id = %(outlet)s AND pollutant = codes.pollutant AND kind = k.kind
        ORDER BY ts DESC LIMIT 1
    ) m
    ORDER BY m.ts DESC, k.rank LIMIT 1
) newest
LEFT JOIN pollutants p ON p.code = codes.pollutant
LEFT JOIN data_flags f ON f.standard = %(flag_standard)s AND f.code = newest.flag
WHERE codes.pollutant IS NOT NULL
ORDER BY codes.pollutant"""
)


def latest(outlet_id: int, protocol_profile: str) -> Statement:
    params = {"outlet": outlet_id, "flag_standard": flag_standard(protocol_profile)}
    return Statement(_LATEST, params)
