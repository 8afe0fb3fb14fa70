"""Which outlet-hours that should have minute data have none or too few minutes.

:func:`find_gaps` is the one place that decides it, so that it can later read the
completeness record (expected and received records per outlet and hour, being built in
``schemas/completeness``) instead of counting here. Until then it counts the measurements:

- an outlet *should report* minute data (CN 2051) in the hours between its first and its last
  minute record of the window ``[since, until)``; a logger silent until now is an outage
  (``alerts/outages.py``), and its gap becomes recallable once it reports again;
- an hour's *expected* count is the most distinct minute timestamps the outlet reported in any
  hour of the window (its own MinInterval: 60 for every minute, 6 for every ten); an hour with
  fewer distinct minute timestamps (any pollutant) is a gap;
- consecutive gap hours make one :class:`Gap`, at most ``max_hours`` long.

It scans the minute measurements of the window (an index range scan on ``ts``): call it every
few minutes over a window of a day or two, not on every batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg

__all__ = ["Gap", "find_gaps", "missing_minutes"]


@dataclass(frozen=True, slots=True)
class Gap:
    outlet_id: int
    mn: str
    cn: str  # the history query that recalls it: 2051 minute data
    begin: datetime  # first missing hour's start
    end: datetime  # the end of the last missing hour (exclusive)
    missing: int  # minute records missing in it
    expected_per_hour: int


_HOURS = """
WITH per_hour AS (
    SELECT outlet_id, date_trunc('hour', ts, 'UTC') AS h, count(DISTINCT ts) AS n
    FROM measurements
    WHERE kind = 'min' AND ts >= %(since)s AND ts < %(until)s
      AND (%(outlet)s::bigint IS NULL OR outlet_id = %(outlet)s)
    GROUP BY 1, 2
), bounds AS (
    SELECT outlet_id, min(h) AS first_h, max(h) AS last_h, max(n) AS expected
    FROM per_hour GROUP BY 1
)
SELECT o.id, o.mn, g.h, b.expected, coalesce(p.n, 0)
FROM bounds b
JOIN outlets o ON o.id = b.outlet_id AND o.active
CROSS JOIN LATERAL generate_series(b.first_h, b.last_h, interval '1 hour') AS g(h)
LEFT JOIN per_hour p ON p.outlet_id = b.outlet_id AND p.h = g.h
WHERE coalesce(p.n, 0) < b.expected
ORDER BY o.id, g.h
"""


def find_gaps(
    conn: psycopg.Connection[Any],
    *,
    since: datetime,
    until: datetime,
    max_hours: int = 24,
    outlet_id: int | None = None,
) -> list[Gap]:
    """The minute-data gaps of active outlets in ``[since, until)`` (see the module)."""
    rows = conn.execute(_HOURS, {"since": since, "until": until, "outlet": outlet_id}).fetchall()
    gaps: list[Gap] = []
    for oid, mn, hour, expected, got in rows:
        missing = int(expected) - int(got)
        last = gaps[-1] if gaps else None
        if (
            last is not None
            and last.outlet_id == oid
            and last.end == hour
            and last.end - last.begin < timedelta(hours=max_hours)
        ):
            gaps[-1] = Gap(
                oid,
                mn,
                "2051",
                last.begin,
                hour + timedelta(hours=1),
                last.missing + missing,
                last.expected_per_hour,
            )
        else:
            gaps.append(
                Gap(oid, mn, "2051", hour, hour + timedelta(hours=1), missing, int(expected))
            )
    return gaps


def missing_minutes(
    conn: psycopg.Connection[Any], outlet_id: int, begin: datetime, end: datetime, expected: int
) -> int:
    """Minute records still missing from ``[begin, end)`` (whole hours) at ``expected`` an
    hour: what a recall has left to heal."""
    row = conn.execute(
        "SELECT coalesce(sum(greatest(%s - n, 0)), 0) + %s * (%s - count(*)) FROM ("
        " SELECT date_trunc('hour', ts, 'UTC') AS h, count(DISTINCT ts) AS n FROM measurements"
        " WHERE outlet_id = %s AND kind = 'min' AND ts >= %s AND ts < %s GROUP BY 1) AS hours",
        (expected, expected, int((end - begin) / timedelta(hours=1)), outlet_id, begin, end),
    ).fetchone()
    return int(row[0]) if row else 0
