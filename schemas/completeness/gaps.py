"""Open gaps: the outlet-hours where fewer records arrived than the registry expects, per data
kind (what a history recall, HJ 212 CN 2051 / 2061 / 2031, would ask the logger for).

:func:`gaps` reads the completeness record against :mod:`schemas.completeness.expected`; it
never scans measurements. A gap heals by itself when the missing records arrive (ingest adds
them to the record in the same transaction as the data), so calling it again says what is
still missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql

from schemas.completeness.expected import BASE_CTES, HOURLY_CTES, completed_until

__all__ = ["Gap", "gaps"]

_GAPS = sql.SQL(
    """WITH {base}{hourly}
SELECT e.hour_start, e.kind, sum(e.expected)::bigint AS expected,
       sum(least(coalesce(c.received, 0), e.expected))::bigint AS received,
       array_agg(e.pollutant ORDER BY e.pollutant)
           FILTER (WHERE coalesce(c.received, 0) < e.expected) AS short,
       max(e.expected)::int AS due_each,
       max(e.expected - least(coalesce(c.received, 0), e.expected))::int AS short_most
FROM expected e
LEFT JOIN completeness c ON c.outlet_id = %(outlet)s AND c.pollutant = e.pollutant
     AND c.kind = e.kind AND c.hour_start = e.hour_start
WHERE e.expected > 0
GROUP BY e.hour_start, e.kind
HAVING bool_or(coalesce(c.received, 0) < e.expected)
ORDER BY e.hour_start, e.kind"""
).format(base=sql.SQL(BASE_CTES), hourly=sql.SQL(HOURLY_CTES))


@dataclass(frozen=True, slots=True)
class Gap:
    """One UTC hour of one data kind with records missing."""

    hour_start: datetime
    kind: str  # rtd | min | hour | day
    expected: int  # records due in the hour, all pollutants
    received: int  # of those, received (at most the expected per pollutant)
    pollutants: tuple[str, ...]  # the pollutants short of what was due
    # The same hour counted in data packets (DataTimes, each carrying every pollutant), as a
    # history recall asks for them: due per pollutant, and the most any one pollutant lacks.
    packets_due: int
    packets_missing: int

    @property
    def hour_end(self) -> datetime:
        return self.hour_start + timedelta(hours=1)

    @property
    def missing(self) -> int:
        return self.expected - self.received


def _next_hour(moment: datetime) -> datetime:
    """The first UTC hour that starts at or after ``moment``."""
    hour = moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return hour if hour >= moment else hour + timedelta(hours=1)


def gaps(
    conn: psycopg.Connection[Any],
    outlet_id: int,
    since: datetime,
    until: datetime,
    *,
    now: datetime | None = None,
) -> list[Gap]:
    """The gaps of ``outlet_id`` in the UTC hours that start in [since, until) and have ended,
    oldest first."""
    start = _next_hour(since)
    end = completed_until(_next_hour(until), now or datetime.now(UTC))
    if end <= start:
        return []
    with conn.transaction():
        conn.execute("SET LOCAL jit = off")  # as in rates(): JIT costs more than the query
        rows = conn.execute(_GAPS, {"outlet": outlet_id, "start": start, "end": end}).fetchall()
    return [Gap(h, k, int(e), int(r), tuple(p or ()), d, m) for h, k, e, r, p, d, m in rows]
