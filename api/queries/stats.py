"""Aggregates over a period, per district or per pollutant: exceedance cases, outlets, and the
data-capture rate of hourly means.

* exceedances: exceedance cases whose periods overlap [start, end) (the first starts before
  ``end``, the latest ends after ``start``);
* data capture: valid hourly means starting in the period / expected hours, the expected hours
  being the hours of the period for each (outlet, pollutant) with any hourly mean in it; an
  hour not over yet (``now`` before its end) counts in neither, as in the completeness rates
  (schemas.completeness.expected.completed_until): the running hour is in progress, not
  missing, and is not valid yet.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from psycopg import sql

from api.db import Statement
from api.queries.common import limit_offset
from schemas.core.periods import running_from

__all__ = ["Grouping", "count", "select"]

Grouping = Literal["district", "pollutant"]

# Per (outlet, pollutant): valid hourly means in the period.
_HOURS = sql.SQL(
    "SELECT outlet_id, pollutant, count(*) FILTER (WHERE valid"
    " AND hour_start <= %(running_from)s) AS valid_hours"
    " FROM hourly_means WHERE hour_start >= %(start)s AND hour_start < %(end)s"
    " GROUP BY outlet_id, pollutant"
)
_CASES = sql.SQL(
    "SELECT id, outlet_id, pollutant, state FROM cases WHERE kind = 'exceedance'"
    " AND first_at < %(end)s"
    " AND last_at + CASE period WHEN 'day' THEN interval '1 day' ELSE interval '1 hour' END"
    " > %(start)s"
)

_DISTRICTS = sql.SQL(
    "WITH h AS ({hours}), c AS ({cases}),"
    " per_outlet AS (SELECT o.id, o.enterprise_id, e.district,"
    " (SELECT count(*) FROM c WHERE c.outlet_id = o.id) AS exceedances,"
    " (SELECT count(*) FROM c WHERE c.outlet_id = o.id AND c.state = 'open') AS open,"
    " (SELECT coalesce(sum(h.valid_hours), 0) FROM h WHERE h.outlet_id = o.id) AS valid_hours,"
    " (SELECT count(*) FROM h WHERE h.outlet_id = o.id) AS series"
    " FROM outlets o JOIN enterprises e ON e.id = o.enterprise_id)"
    " SELECT district AS key, count(DISTINCT enterprise_id) AS enterprises, count(*) AS outlets,"
    " count(*) FILTER (WHERE exceedances > 0) AS outlets_exceeding,"
    " sum(exceedances)::bigint AS exceedances, sum(open)::bigint AS open,"
    " sum(valid_hours)::bigint AS valid_hours, sum(series)::bigint AS series"
    " FROM per_outlet GROUP BY district ORDER BY district NULLS LAST {page}"
).format
_POLLUTANTS = sql.SQL(
    "WITH h AS ({hours}), c AS ({cases}),"
    " keys AS (SELECT outlet_id, pollutant FROM h UNION SELECT outlet_id, pollutant FROM c),"
    " per_series AS (SELECT k.outlet_id, k.pollutant, o.enterprise_id,"
    " (SELECT count(*) FROM c WHERE c.outlet_id = k.outlet_id AND c.pollutant = k.pollutant)"
    " AS exceedances,"
    " (SELECT count(*) FROM c WHERE c.outlet_id = k.outlet_id AND c.pollutant = k.pollutant"
    " AND c.state = 'open') AS open,"
    " coalesce(h.valid_hours, 0) AS valid_hours, (h.outlet_id IS NOT NULL)::int AS series"
    " FROM keys k JOIN outlets o ON o.id = k.outlet_id"
    " LEFT JOIN h ON h.outlet_id = k.outlet_id AND h.pollutant = k.pollutant)"
    " SELECT s.pollutant AS key, p.name_zh AS p_name_zh, p.name_en AS p_name_en,"
    " p.unit_zh AS p_unit_zh, p.unit_en AS p_unit_en,"
    " count(DISTINCT s.enterprise_id) AS enterprises, count(*) AS outlets,"
    " count(*) FILTER (WHERE s.exceedances > 0) AS outlets_exceeding,"
    " sum(s.exceedances)::bigint AS exceedances, sum(s.open)::bigint AS open,"
    " sum(s.valid_hours)::bigint AS valid_hours, sum(s.series)::bigint AS series"
    " FROM per_series s LEFT JOIN pollutants p ON p.code = s.pollutant"
    " GROUP BY s.pollutant, p.name_zh, p.name_en, p.unit_zh, p.unit_en"
    " ORDER BY s.pollutant {page}"
).format


def _params(start: datetime, end: datetime, now: datetime) -> dict[str, Any]:
    return {"start": start, "end": end, "running_from": running_from(now)}  # ended hours only


def select(
    grouping: Grouping,
    start: datetime,
    end: datetime,
    limit: int | None,
    offset: int,
    *,
    now: datetime,
) -> Statement:
    template = _DISTRICTS if grouping == "district" else _POLLUTANTS
    query = template(hours=_HOURS, cases=_CASES, page=limit_offset(limit, offset))
    return Statement(query, _params(start, end, now))


def count(grouping: Grouping, start: datetime, end: datetime, *, now: datetime) -> Statement:
    query: sql.Composable
    if grouping == "district":
        query = sql.SQL(
            "SELECT count(*) AS found FROM (SELECT DISTINCT e.district FROM outlets o"
            " JOIN enterprises e ON e.id = o.enterprise_id) d"
        )
        return Statement(query)
    query = sql.SQL(
        "WITH h AS ({hours}), c AS ({cases}) SELECT count(*) AS found FROM"
        " (SELECT pollutant FROM h UNION SELECT pollutant FROM c) k"
    ).format(hours=_HOURS, cases=_CASES)
    return Statement(query, _params(start, end, now))
