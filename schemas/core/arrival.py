"""A value's arrival time: its frame's ``received_at`` (issue 16, migration 0022).

Measurements keep no copy of it (rows written before 0022 still carry theirs, which wins). A
reader joins ``frames`` by ``frame_id`` within a window around the values' time range: on
TimescaleDB ``frames`` is a hypertable on ``received_at``, and a join by id alone would read
every chunk. A value whose frame arrived outside the window (late data, history recall) is
looked up by id alone, one sub-query for that row only.

Usage: ``FROM measurements m {JOIN}`` and ``{ARRIVAL} AS received_at`` in the select list, with
the parameters of :func:`window` beside the query's own.
"""

from __future__ import annotations

from datetime import datetime, timedelta

__all__ = ["ARRIVAL", "JOIN", "MARGIN", "window"]

# Frames that arrived up to this long before or after the values' time range are joined; the
# rest are found by id. (A value is at most SOURCEWATCH_FUTURE_TOLERANCE_S ahead of its
# arrival, 15 min by default.)
MARGIN = timedelta(days=1)

JOIN = (
    "LEFT JOIN frames arrival ON arrival.id = m.frame_id"
    " AND arrival.received_at >= %(arrival_from)s AND arrival.received_at < %(arrival_to)s"
)

ARRIVAL = (
    "coalesce(m.received_at, arrival.received_at, CASE WHEN m.frame_id IS NOT NULL THEN"
    " (SELECT f.received_at FROM frames f WHERE f.id = m.frame_id"
    " ORDER BY f.received_at LIMIT 1) END)"
)


def window(start: datetime, end: datetime) -> dict[str, datetime]:
    """The parameters of :data:`JOIN` for values with ``start <= ts < end``."""
    return {"arrival_from": start - MARGIN, "arrival_to": end + MARGIN}
