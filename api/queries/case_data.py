"""What the staff console shows beside a case: the hourly means of its outlet and pollutant
around the case, and the raw values with their flags, each with the pollutant's units."""

from __future__ import annotations

from datetime import datetime

from psycopg import sql

from api.db import Statement
from schemas.core.periods import running_from

__all__ = ["RAW_ROWS", "hourly_means", "raw_values"]

RAW_ROWS = 500  # raw values shown on a case page at most

_FLAG_STANDARD = "HJ 212-2017"


def hourly_means(
    outlet_id: int, pollutant: str, start: datetime, end: datetime, now: datetime
) -> Statement:
    """Hourly means in ``[start, end)``, oldest first, with validity, ``in_progress`` (the hour
    has not ended at ``now``, as in the API: :mod:`schemas.core.periods`) and the pollutant's
    unit."""
    query = sql.SQL(
        "SELECT h.hour_start, h.mean, h.converted, h.o2_mean, h.valid,"
        " h.hour_start > %(running_from)s AS in_progress, h.reason,"
        " h.valid_count, h.expected_count, p.unit_zh, p.unit_en"
        " FROM hourly_means h LEFT JOIN pollutants p ON p.code = h.pollutant"
        " WHERE h.outlet_id = %(outlet)s AND h.pollutant = %(pollutant)s"
        " AND h.hour_start >= %(start)s AND h.hour_start < %(end)s ORDER BY h.hour_start"
    )
    params = {"outlet": outlet_id, "pollutant": pollutant, "start": start, "end": end}
    return Statement(query, params | {"running_from": running_from(now)})


def raw_values(outlet_id: int, pollutant: str, start: datetime, end: datetime) -> Statement:
    """Raw values in ``[start, end)`` with their flag's names and validity, oldest first."""
    query = sql.SQL(
        "SELECT m.ts, m.kind, m.value, m.zs_value, m.flag, f.name_zh AS flag_zh,"
        " f.name_en AS flag_en, f.valid AS flag_valid, p.unit_zh, p.unit_en"
        " FROM measurements m LEFT JOIN pollutants p ON p.code = m.pollutant"
        " LEFT JOIN data_flags f ON f.standard = %(standard)s AND f.code = m.flag"
        " WHERE m.outlet_id = %(outlet)s AND m.pollutant = %(pollutant)s"
        " AND m.ts >= %(start)s AND m.ts < %(end)s ORDER BY m.ts, m.kind LIMIT %(rows)s"
    )
    return Statement(
        query,
        {
            "outlet": outlet_id,
            "pollutant": pollutant,
            "start": start,
            "end": end,
            "standard": _FLAG_STANDARD,
            "rows": RAW_ROWS,
        },
    )
