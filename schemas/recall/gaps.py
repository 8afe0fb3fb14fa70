"""Which outlet-hours (or days) that should have data have none or too few records.

:func:`find_gaps` is the one place that decides it, so that it can later read the
completeness record (expected and received records per outlet and hour, being built in
``schemas/completeness``) instead of counting here. Until then it counts the measurements, per
record kind — minute (CN 2051), hour (CN 2061) and day (CN 2031) records:

- an outlet *should report* a kind in the buckets (hours; days for day records) between its
  first and its last record of that kind in the window ``[since, until)``; a logger silent
  until now is an outage (``alerts/outages.py``), and its gap becomes recallable once it
  reports again;
- a bucket's *expected* count is the most distinct timestamps the outlet reported in any
  bucket of the window (for minute data its own MinInterval: 60 an hour for every minute, 6
  for every ten; 1 for hour and day records); a bucket with fewer (any pollutant) is a gap;
- consecutive gap buckets make one :class:`Gap`, at most ``max_hours`` long (31 days for day
  records);
- only whole UTC hours inside the window count for minute and hour records: the hour the
  window starts in and the hour it ends in (the hour still being reported) are left out, since
  they hold only part of what was sent.

It scans the window's records of each kind (an index range scan on ``ts``): call it every few
minutes over a window of a day or two (a month for day records), not on every batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import psycopg

__all__ = ["CN_KIND", "KIND_CN", "Gap", "Kind", "find_gaps", "missing_records"]

Kind = Literal["min", "hour", "day"]
KIND_CN: dict[str, str] = {"min": "2051", "hour": "2061", "day": "2031"}  # HJ 212 Table 9
CN_KIND: dict[str, Kind] = {"2051": "min", "2061": "hour", "2031": "day"}
_STEP = {"min": timedelta(hours=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}
_DAY_SPAN = timedelta(days=31)


@dataclass(frozen=True, slots=True)
class Gap:
    outlet_id: int
    mn: str
    cn: str  # the history query that recalls it: 2051 minute, 2061 hour, 2031 day data
    begin: datetime  # first missing bucket's start
    end: datetime  # the end of the last missing bucket (exclusive)
    missing: int  # records missing in it
    expected_per_hour: int  # records a bucket (an hour; a day for day records)


# Buckets: the UTC hour for minute and hour records, the record itself for day records (its
# DataTime is the outlet's local midnight, so consecutive days are 1 day apart).
_BUCKETS = """
WITH per_bucket AS (
    SELECT outlet_id,
           CASE WHEN %(kind)s = 'day' THEN ts ELSE date_trunc('hour', ts, 'UTC') END AS b,
           count(DISTINCT ts) AS n
    FROM measurements
    WHERE kind = %(kind)s AND ts >= %(since)s AND ts < %(until)s
      AND (%(outlet)s::bigint IS NULL OR outlet_id = %(outlet)s)
    GROUP BY 1, 2
), bounds AS (
    SELECT outlet_id, min(b) AS first_b, max(b) AS last_b, max(n) AS expected
    FROM per_bucket GROUP BY 1
)
SELECT o.id, o.mn, g.b, b.expected, coalesce(p.n, 0)
FROM bounds b
JOIN outlets o ON o.id = b.outlet_id AND o.active
CROSS JOIN LATERAL generate_series(b.first_b, b.last_b, %(step)s::interval) AS g(b)
LEFT JOIN per_bucket p ON p.outlet_id = b.outlet_id AND p.b = g.b
WHERE coalesce(p.n, 0) < b.expected
ORDER BY o.id, g.b
"""


def _hour_floor(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def find_gaps(
    conn: psycopg.Connection[Any],
    *,
    since: datetime,
    until: datetime,
    max_hours: int = 24,
    outlet_id: int | None = None,
    kinds: Sequence[Kind] = ("min",),
) -> list[Gap]:
    """The gaps of active outlets in ``[since, until)`` in records of ``kinds`` (see the
    module), by outlet, kind and time."""
    gaps: list[Gap] = []
    for kind in kinds:
        step = _STEP[kind]
        span = _DAY_SPAN if kind == "day" else timedelta(hours=max_hours)
        lo, hi = since, until
        if kind != "day":  # whole UTC hours only: an hour cut by the window is no gap
            lo = _hour_floor(since) + (step if since != _hour_floor(since) else timedelta(0))
            hi = _hour_floor(until)
            if lo >= hi:
                continue
        rows = conn.execute(
            _BUCKETS,
            {"kind": kind, "since": lo, "until": hi, "outlet": outlet_id, "step": step},
        ).fetchall()
        start = len(gaps)
        for oid, mn, bucket, expected, got in rows:
            missing = int(expected) - int(got)
            last = gaps[-1] if len(gaps) > start else None
            if (
                last is not None
                and last.outlet_id == oid
                and last.end == bucket
                and last.end - last.begin < span
            ):
                gaps[-1] = Gap(
                    oid,
                    mn,
                    last.cn,
                    last.begin,
                    bucket + step,
                    last.missing + missing,
                    last.expected_per_hour,
                )
            else:
                gaps.append(
                    Gap(oid, mn, KIND_CN[kind], bucket, bucket + step, missing, int(expected))
                )
    gaps.sort(key=lambda g: (g.outlet_id, g.begin, g.cn))
    return gaps


def missing_records(
    conn: psycopg.Connection[Any],
    outlet_id: int,
    cn: str,
    begin: datetime,
    end: datetime,
    expected: int,
) -> int:
    """Records of the history query ``cn`` still missing from ``[begin, end)`` (whole
    buckets) at ``expected`` a bucket: what a recall has left to heal."""
    kind = CN_KIND[cn]
    buckets = int((end - begin) / _STEP[kind])
    row = conn.execute(
        "SELECT coalesce(sum(greatest(%(x)s - n, 0)), 0) + %(x)s * (%(buckets)s - count(*))"
        " FROM (SELECT CASE WHEN %(kind)s = 'day' THEN ts ELSE date_trunc('hour', ts, 'UTC')"
        "  END AS b, count(DISTINCT ts) AS n FROM measurements"
        "  WHERE outlet_id = %(o)s AND kind = %(kind)s AND ts >= %(b)s AND ts < %(e)s"
        "  GROUP BY 1) AS per_bucket",
        {"x": expected, "buckets": buckets, "kind": kind, "o": outlet_id, "b": begin, "e": end},
    ).fetchone()
    return int(row[0]) if row else 0
