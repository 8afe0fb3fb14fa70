"""The regulator's transmission and validity rates of an outlet, per local day, month or quarter
(docs/completeness.md#rates):

- 传输率 (transmission rate) = records received / records expected;
- 有效率 (validity rate) = valid records / records received;
- 传输有效率 (transmission-validity rate) = 传输率 × 有效率, judged against the target of
  ``completeness_rules`` (90 %, unconfirmed: :mod:`schemas.completeness.rules`).

Counted from the completeness record (:mod:`schemas.completeness.record`) against what the
registry expects (:mod:`schemas.completeness.expected`), never by scanning measurements. Per
pollutant, kind and hour, what was received counts at most as what was expected (a logger that
sends more often than registered does not make up for hours it missed).

One :class:`Rate` per period and kind for the whole outlet (``pollutant`` None) and per pollutant;
the ``headline`` rate is the outlet's, on the kind that ``rate_basis_period`` names (hourly
records), or on minute records when the outlet sends no records of that kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Literal
from zoneinfo import ZoneInfo

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from schemas.completeness.expected import BASE_CTES, completed_until
from schemas.completeness.rules import RateRules, load_rate_rules

__all__ = [
    "PERIODS",
    "Rate",
    "RatePeriod",
    "bounds",
    "period_start",
    "rate_rows_sql",
    "rates",
    "ratio",
]

RatePeriod = Literal["day", "month", "quarter"]
PERIODS: tuple[RatePeriod, ...] = ("day", "month", "quarter")
_STEP = {"day": "1 day", "month": "1 month", "quarter": "3 months"}
_FOUR = Decimal("0.0001")

# Rows (period_start, period_end, pollutant, kind, expected, received, valid); pollutant NULL for
# the whole outlet. Parameters: outlet, start, end (UTC hours), unit, step.
#
# Counted without a row per hour: what is expected of a (period, pollutant, kind) is its records
# per hour times the hours of the period it is expected in (from the pollutant's first hour,
# up to `end` and, for a deactivated outlet, its last data), or for day data the local
# midnights in them; what was received is summed over the record's rows, each counted at most
# as the records due in its hour. So the cost follows the rows present, not the hours asked.
_RATES = sql.SQL(
    """WITH {base}, periods AS (
    SELECT p AS local_start, p AT TIME ZONE o.timezone AS period_start,
           (p + %(step)s::interval) AT TIME ZONE o.timezone AS period_end
    FROM o CROSS JOIN generate_series(
        date_trunc(%(unit)s, %(start)s::timestamptz AT TIME ZONE o.timezone),
        (%(end)s::timestamptz - interval '1 hour') AT TIME ZONE o.timezone,
        %(step)s::interval) AS p
), windows AS (
    SELECT pe.local_start, pe.period_start, pe.period_end, po.pollutant, k.kind, k.per_hour,
           greatest(pe.period_start, po.since, %(start)s::timestamptz) AS lo,
           least(pe.period_end, %(end)s::timestamptz, u.hour_end) AS hi
    FROM periods pe CROSS JOIN pollutants po CROSS JOIN kinds k CROSS JOIN until u
), expected AS (
    SELECT w.local_start, w.period_start, w.period_end, w.pollutant, w.kind,
           CASE WHEN w.hi <= w.lo THEN 0
                WHEN w.kind <> 'day'
                    THEN w.per_hour * round(extract(epoch FROM w.hi - w.lo) / 3600)::bigint
                ELSE (SELECT count(*) FROM generate_series(
                          date_trunc('day', w.lo AT TIME ZONE o.timezone),
                          w.hi AT TIME ZONE o.timezone, interval '1 day') AS d
                      WHERE d AT TIME ZONE o.timezone >= w.lo
                        AND d AT TIME ZONE o.timezone < w.hi) END AS expected
    FROM windows w CROSS JOIN o
), counted AS (
    SELECT date_trunc(%(unit)s, c.hour_start AT TIME ZONE o.timezone) AS local_start,
           c.pollutant, c.kind,
           sum(least(c.received, due.records)) AS received,
           sum(least(c.valid, due.records)) AS valid
    FROM completeness c
    CROSS JOIN o CROSS JOIN until u
    JOIN kinds k ON k.kind = c.kind
    CROSS JOIN LATERAL (
        SELECT CASE WHEN c.kind <> 'day' THEN k.per_hour
                    WHEN (c.hour_start AT TIME ZONE o.timezone)::time = time '00:00' THEN 1
                    ELSE 0 END AS records
    ) due
    WHERE c.outlet_id = %(outlet)s AND c.hour_start >= %(start)s AND c.hour_start < %(end)s
      AND c.hour_start < u.hour_end
    GROUP BY 1, 2, 3
), joined AS (
    SELECT e.local_start, e.period_start, e.period_end, e.pollutant, e.kind, e.expected,
           coalesce(n.received, 0) AS received, coalesce(n.valid, 0) AS valid
    FROM expected e
    LEFT JOIN counted n ON n.local_start = e.local_start AND n.pollutant = e.pollutant
         AND n.kind = e.kind
    WHERE e.expected > 0
)
SELECT j.period_start, j.period_end, j.pollutant, j.kind, sum(j.expected)::bigint AS expected,
       sum(j.received)::bigint AS received, sum(j.valid)::bigint AS valid
FROM joined j
GROUP BY GROUPING SETS ((j.period_start, j.period_end, j.kind),
                        (j.period_start, j.period_end, j.kind, j.pollutant))
ORDER BY j.period_start, j.pollutant NULLS FIRST, j.kind"""
).format(base=sql.SQL(BASE_CTES))


def rate_rows_sql() -> sql.Composed:
    """The rates query (for the API's statements and the dumps)."""
    return _RATES


def ratio(part: int, whole: int) -> Decimal | None:
    """``part / whole`` to 4 decimals, None when nothing was due."""
    if whole <= 0:
        return None
    return (Decimal(part) / Decimal(whole)).quantize(_FOUR, ROUND_HALF_EVEN)


@dataclass(frozen=True, slots=True)
class Rate:
    """The counts and rates of one period, kind and pollutant (None: all of the outlet's)."""

    period_start: datetime
    period_end: datetime
    pollutant: str | None
    kind: str
    expected: int
    received: int
    valid: int
    headline: bool
    target: Decimal  # fraction, e.g. 0.9
    rules_confirmed: bool

    @property
    def transmission_rate(self) -> Decimal | None:
        """传输率: received / expected."""
        return ratio(self.received, self.expected)

    @property
    def validity_rate(self) -> Decimal | None:
        """有效率: valid / received."""
        return ratio(self.valid, self.received)

    @property
    def transmission_validity_rate(self) -> Decimal | None:
        """传输有效率: 传输率 × 有效率, which is valid / expected."""
        if self.expected <= 0:
            return None
        return ratio(self.valid, self.expected)

    @property
    def meets_target(self) -> bool | None:
        rate = self.transmission_validity_rate
        return None if rate is None else rate >= self.target


def period_start(period: RatePeriod, day: date) -> date:
    """The first day of the period that holds ``day``."""
    if period == "day":
        return day
    month = day.month if period == "month" else 3 * ((day.month - 1) // 3) + 1
    return date(day.year, month, 1)


def _next(period: RatePeriod, first: date) -> date:
    if period == "day":
        return first + timedelta(days=1)
    months = first.month - 1 + (1 if period == "month" else 3)
    return date(first.year + months // 12, months % 12 + 1, 1)


def bounds(period: RatePeriod, first: date, last: date, timezone: str) -> tuple[datetime, datetime]:
    """UTC [start, end) of the periods holding the local days ``first`` to ``last``."""
    tz = ZoneInfo(timezone)
    start = datetime.combine(period_start(period, first), datetime.min.time(), tz)
    end = datetime.combine(_next(period, period_start(period, last)), datetime.min.time(), tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def rates(
    conn: psycopg.Connection[Any],
    outlet_id: int,
    period: RatePeriod,
    first: date,
    last: date,
    *,
    now: datetime | None = None,
) -> list[Rate]:
    """The rates of ``outlet_id`` for the ``period``s holding the local days ``first`` to
    ``last``, counted up to the current hour. Empty for an unknown outlet."""
    outlet = conn.execute(
        "SELECT kind, timezone, expects_minute FROM outlets WHERE id = %s", (outlet_id,)
    ).fetchone()
    if outlet is None:
        return []
    medium, timezone, _ = outlet
    start, end = bounds(period, first, last, timezone)
    end = completed_until(end, now or datetime.now(UTC))
    if end <= start:
        return []
    rules = load_rate_rules(conn, medium, last)
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        # The planner overestimates the generated series; JIT compiling this small query then
        # cost seconds (measured, PostgreSQL 15), more than running it.
        cur.execute("SET LOCAL jit = off")
        rows = cur.execute(
            rate_rows_sql(),
            {
                "outlet": outlet_id,
                "start": start,
                "end": end,
                "unit": period,
                "step": _STEP[period],
            },
        ).fetchall()
    return build(rows, rules)


def headline_kind(kinds: set[str], rules: RateRules) -> str | None:
    """The kind the headline rate counts: the rule's, else minute records, else None."""
    for kind in (rules.basis_kind, "min"):
        if kind in kinds:
            return kind
    return None


def build(rows: list[dict[str, Any]], rules: RateRules) -> list[Rate]:
    """:class:`Rate` objects from the rows of :func:`rate_rows_sql`."""
    kinds = {r["kind"] for r in rows}
    basis = headline_kind(kinds, rules)
    target = (rules.target_pct / 100).quantize(_FOUR)
    return [
        Rate(
            period_start=r["period_start"],
            period_end=r["period_end"],
            pollutant=r["pollutant"],
            kind=r["kind"],
            expected=int(r["expected"]),
            received=int(r["received"]),
            valid=int(r["valid"]),
            headline=r["pollutant"] is None and r["kind"] == basis,
            target=target,
            rules_confirmed=rules.confirmed,
        )
        for r in rows
    ]
