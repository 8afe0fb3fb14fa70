"""The limits in force for an outlet over a range of days, without a query per day.

:func:`schemas.limits.rules.limits_for_outlet` says which limits apply on one day. The answer can
only change on a day some outlet limit, binding or bound standard starts or ends, so a
:class:`LimitCalendar` asks for those days in the range and calls it once per stretch.
"""

from __future__ import annotations

from bisect import bisect_right
from datetime import date
from typing import Any

import psycopg

from schemas.limits.rules import Limit, limits_for_outlet

__all__ = ["LimitCalendar", "limit_calendar"]

_CHANGES = """
SELECT DISTINCT d FROM (
    SELECT valid_from AS d FROM outlet_limits WHERE outlet_id = %(outlet)s
    UNION ALL
    SELECT valid_to + 1 FROM outlet_limits WHERE outlet_id = %(outlet)s AND valid_to IS NOT NULL
    UNION ALL
    SELECT valid_from FROM outlet_limit_bindings WHERE outlet_id = %(outlet)s
    UNION ALL
    SELECT valid_to + 1 FROM outlet_limit_bindings
    WHERE outlet_id = %(outlet)s AND valid_to IS NOT NULL
    UNION ALL
    SELECT l.valid_from FROM limits l
    JOIN outlet_limit_bindings b ON b.standard = l.standard AND b.category = l.category
    WHERE b.outlet_id = %(outlet)s
    UNION ALL
    SELECT l.valid_to + 1 FROM limits l
    JOIN outlet_limit_bindings b ON b.standard = l.standard AND b.category = l.category
    WHERE b.outlet_id = %(outlet)s AND l.valid_to IS NOT NULL
) changes
WHERE d > %(first)s AND d <= %(last)s
ORDER BY d
"""


class LimitCalendar:
    """Which limit applies to (pollutant, averaging period) on a day of the range."""

    def __init__(self, starts: list[date], sets: list[list[Limit]]) -> None:
        self._starts = starts
        self._sets: list[dict[tuple[str, str], Limit]] = [
            {(lim.pollutant, lim.period): lim for lim in limits} for limits in sets
        ]

    def find(self, pollutant: str, period: str, on: date) -> Limit | None:
        if not self._starts:
            return None
        index = max(bisect_right(self._starts, on) - 1, 0)
        return self._sets[index].get((pollutant, period))


def limit_calendar(
    conn: psycopg.Connection[Any], outlet_id: int, first: date, last: date
) -> LimitCalendar:
    """The calendar of days ``first`` to ``last`` (inclusive); ``conn`` returns tuple rows."""
    params = {"outlet": outlet_id, "first": first, "last": last}
    changes = [row[0] for row in conn.execute(_CHANGES, params)]
    starts = [first, *changes]
    return LimitCalendar(starts, [limits_for_outlet(conn, outlet_id, day) for day in starts])
