"""Enterprises and outlets as staff see them: the MN, whether a password is set, timestamps,
open cases of every kind, and whether the outlet is judged (public reads are in :mod:`api.queries.outlets`)."""

from __future__ import annotations

from datetime import UTC, datetime

from psycopg import sql

from api.db import Statement
from schemas.core.localtime import LOCAL_TZ
from schemas.limits.coverage import MEASURED_WITHIN, judgement_columns

__all__ = ["enterprise", "outlet"]

_OUTLET = sql.SQL(
    """SELECT o.id, o.enterprise_id, o.mn, o.code, o.name_zh, o.name_en, o.kind, o.crc_policy,
       o.protocol_profile, o.timezone, o.emission_standard, o.permit_number, o.longitude,
       o.latitude, o.active, o.password IS NOT NULL AS password_set, o.created_at, o.updated_at,
       a.last_data_at, %(judged_on)s::date AS judged_on, j.has_limits, j.unlimited,
       c.exceedance, c.outage, c.fault, c.pattern
FROM outlets o
LEFT JOIN outlet_activity a ON a.outlet_id = o.id
CROSS JOIN LATERAL ({judgement}) j
CROSS JOIN LATERAL (
    SELECT count(*) FILTER (WHERE k.kind = 'exceedance') AS exceedance,
           count(*) FILTER (WHERE k.kind = 'outage') AS outage,
           count(*) FILTER (WHERE k.kind = 'fault') AS fault,
           count(*) FILTER (WHERE k.kind = 'pattern') AS pattern
    FROM cases k WHERE k.outlet_id = o.id AND k.state = 'open'
) c
WHERE o.id = %(id)s"""
).format(
    judgement=judgement_columns(
        sql.SQL("o.id"), sql.Placeholder("judged_on"), sql.Placeholder("measured_since")
    )
)

_ENTERPRISE = sql.SQL(
    """SELECT e.id, e.uscc, e.name_zh, e.name_en, e.address, e.district, e.industry,
       e.control_level, e.longitude, e.latitude, e.created_at, e.updated_at,
       count(o.id) AS outlets, count(o.id) FILTER (WHERE o.active) AS active_outlets
FROM enterprises e LEFT JOIN outlets o ON o.enterprise_id = e.id
WHERE e.id = %(id)s GROUP BY e.id"""
)


def outlet(outlet_id: int) -> Statement:
    now = datetime.now(UTC)
    params = {
        "id": outlet_id,
        "judged_on": now.astimezone(LOCAL_TZ).date(),
        "measured_since": now - MEASURED_WITHIN,
    }
    return Statement(_OUTLET, params)


def enterprise(enterprise_id: int) -> Statement:
    return Statement(_ENTERPRISE, {"id": enterprise_id})
