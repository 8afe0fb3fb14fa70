"""Data patterns that can point to falsification (docs/regulations.md#falsification-patterns),
screened per complete local day. They are indicators for enforcement staff to review, never
findings:

- ``flat-line`` (恒值输出, ECO-Audit R005/R083): the valid minute (else real-time) values of a
  pollutant with a limit, or of O₂, stay flat for ``flat_min_hours`` consecutive hours or more:
  standard deviation ≤ max(``flat_max_absolute_std``, ``flat_max_relative_std`` × |mean|).
- ``bunching`` (平顶, R070): of at least ``bunching_min_hours`` valid hourly means judged against
  an hourly limit L, a share of at least ``bunching_min_share`` lies in [band × L, L].
- ``zs-mismatch`` (R068): at least ``zs_mismatch_min_hours`` hours whose reported 折算 value
  differs from the one recomputed from measured value and O₂ beyond the tolerance.
- ``flag-abuse`` (R098): at least ``flag_abuse_min_hours`` invalid hours whose invalid-flagged
  values (mean, converted with the hour's O₂ when the limit has a reference O₂) exceed the hourly
  limit.

One ``pattern`` case (severity info) per (pattern, pollutant): a day showing the pattern opens it
or extends the open one; a later complete day on which the pattern could be checked and was not
seen closes it. Thresholds come from :class:`schemas.codes.pattern_rules.PatternRules`. Limitation: a
flat stretch across midnight is judged as two parts, one per day.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import (
    MAX_EMAX,
    MAX_PREC,
    MIN_EMIN,
    Context,
    Decimal,
    DecimalException,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
    Rounded,
    Underflow,
    localcontext,
)
from itertools import repeat
from operator import is_, mul
from typing import Any, cast

import psycopg
from psycopg import sql

from alerts.rules import Exact, Sample, SampleColumns, convert_o2, zs_mismatch
from schemas.cases.transitions import (
    Transition,
    close_read_case,
    limit_details,
    open_read_case,
)
from schemas.codes.pattern_rules import PatternRules
from schemas.limits.judgement import judge
from schemas.limits.rules import Limit

__all__ = [
    "PATTERNS",
    "PatternCases",
    "PatternCasesRead",
    "check_patterns",
    "flat_line_pollutants",
    "hour_spreads",
    "read_spreads",
]

OXYGEN = "a19001"
HOUR = timedelta(hours=1)
PATTERNS = {  # name → (reference, what it means zh, en)
    "flat-line": (
        "ECO-Audit V3.0 R005, R083",
        "数值长时间几乎不变（恒值输出）",
        "values barely change for hours (constant output)",
    ),
    "bunching": (
        "ECO-Audit V3.0 R070",
        "小时均值集中在限值以下附近（平顶）",
        "hourly means bunched just under the limit",
    ),
    "zs-mismatch": (
        "ECO-Audit V3.0 R068",
        "上报折算浓度与按实测浓度和氧含量复算的值不符",
        "reported 折算 values differ from those recomputed from measured value and O₂",
    ),
    "flag-abuse": (
        "ECO-Audit V3.0 R098",
        "被标记为无效的数据超过限值（无效标记可能掩盖超标）",
        "values flagged invalid exceed the limit (flags may hide exceedances)",
    ),
}
INDICATOR_ZH = "数据特征提示，非违法认定，需人工核查"
INDICATOR_EN = "indicator for review, not a finding"
_VALID = sql.SQL("(SELECT code FROM data_flags WHERE valid)")


@dataclass(frozen=True, slots=True)
class _Finding:
    subject: str
    pollutant: str
    details: dict[str, Any]


@dataclass(slots=True)
class _Day:
    """One outlet-day being screened, and the (pattern, pollutant) pairs it could check."""

    conn: psycopg.Connection
    outlet_id: int
    start: datetime
    end: datetime
    rules: PatternRules
    checked: set[tuple[str, str]] = field(default_factory=set)

    def iso(self, ts: datetime) -> str:
        """``ts`` in the outlet's local time."""
        return ts.astimezone(self.start.tzinfo).isoformat()


def check_patterns(
    conn: psycopg.Connection,
    *,
    outlet_id: int,
    day_start: datetime,
    day_end: datetime,
    limits: Sequence[Limit],
    rules: PatternRules,
    zs_tolerance_pct: Decimal | None,
    o2_max: Decimal | None = None,
    hourly_means: Sequence[tuple[Any, ...]] | None = None,
    spreads: Sequence[tuple[Any, ...]] | None = None,
    cases: PatternCases | None = None,
) -> list[Transition]:
    """Screen one complete local day [day_start, day_end) of an outlet whose hourly means are
    stored; returns the transitions. ``limits`` are the limits in force that day, ``o2_max`` the
    O₂ at or above which no 折算 is made (validity rules; None: only below 21 %).

    The caller may give what it read already in this transaction: ``hourly_means``, the day's
    rows of ``hourly_means`` as (pollutant, hour_start, mean, converted, zs_reported, valid) in
    time order, ``spreads``, the day's rows of :func:`read_spreads`, and ``cases``, the outlet's
    pattern cases as :class:`PatternCasesRead` read them for this day (no pattern case of the
    outlet changed since)."""
    d = _Day(conn, outlet_id, day_start, day_end, rules)
    hourly = {lim.pollutant: lim for lim in limits if lim.period == "hour"}
    if hourly_means is None:
        hourly_means = conn.execute(
            "SELECT pollutant, hour_start, mean, converted, zs_reported, valid FROM hourly_means "
            "WHERE outlet_id = %s AND hour_start >= %s AND hour_start < %s ORDER BY hour_start",
            (outlet_id, day_start, day_end),
        ).fetchall()
    means: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for row in hourly_means:
        means[row[0]].append(row[1:])
    if spreads is None:
        key = (outlet_id, day_start)
        spreads = read_spreads(
            conn, [(outlet_id, day_start, day_end, flat_line_pollutants(limits))]
        )[key]
    found: list[_Finding] = []
    for f in (
        *_flat_lines(d, limits, spreads),
        *_bunching(d, means, hourly),
        *_zs_mismatches(d, means, zs_tolerance_pct),
        *_flag_abuse(d, means, hourly, o2_max),
    ):
        reference, zh, en = PATTERNS[f.subject]
        found.append(
            _Finding(
                f.subject,
                f.pollutant,
                {
                    "pattern": f.subject,
                    "pattern_zh": zh,
                    "pattern_en": en,
                    "reference": reference,
                    "day": day_start.date().isoformat(),
                    **f.details,
                    "indicator_zh": INDICATOR_ZH,
                    "indicator_en": INDICATOR_EN,
                },
            )
        )
    if cases is None:
        cases = PatternCasesRead(conn, [(outlet_id, day_start)]).of(outlet_id, day_start)
    return _settle(d, found, cases)


# In one statement for many outlet-days: each one's pattern cases that cover its day or are
# open (the open one is at most one per pattern and pollutant: cases_one_open_per_key), their
# rows locked. Read before the day is screened, so for every finding alike: opening or
# extending the findings' cases changes what the read says of no other finding (another
# pollutant or pattern, another case), nor which open cases ended before the day (a case opened
# or extended ends on it). Under the outlet's lock only the screening opens, extends or closes
# pattern cases, and staff, who close one with its row locked, cannot close those read here
# before the transaction ends: so the screening's statements are not waited for (see
# open_read_case). Prepared at its first execution.
# The cases are found by two index ranges per outlet-day, disjoint (state is open or closed):
# the open ones (cases_one_open_per_key) and the closed ones that end on or after the day
# (cases_closed_pattern_last_idx, migration 0031), those that start after it filtered out; so
# the read is bounded by what covers the day, not by the outlet's case history (until the
# eighteenth round it went through every case of the outlet). Their ids, an array per
# outlet-day, are then each row's key (cases_pkey, a nested loop whatever the estimates: the
# join has no condition a hash join could use), and each row is locked and read as it is once
# locked: a case closed by staff meanwhile comes back closed, as the row the screening acts on.
_PATTERN_CASES = """
SELECT q.outlet_id, q.start, c.id, c.subject, c.pollutant, c.state = 'open',
    c.first_at <= q.start AND c.last_at >= q.start, c.last_at < q.start, c.severity
FROM unnest(%s::int[], %s::timestamptz[]) AS q(outlet_id, start)
JOIN cases c ON c.id = ANY(ARRAY(
    SELECT o.id FROM cases o
    WHERE o.kind = 'pattern' AND o.outlet_id = q.outlet_id AND o.state = 'open'
    UNION ALL
    SELECT d.id FROM cases d
    WHERE d.kind = 'pattern' AND d.outlet_id = q.outlet_id AND d.state = 'closed'
        AND d.last_at >= q.start AND d.first_at <= q.start
))
ORDER BY c.id
FOR UPDATE OF c
"""


@dataclass(slots=True)
class PatternCases:
    """What :func:`_settle` needs of an outlet's pattern cases on a day: per (pattern,
    pollutant) whether the case covering the day (the open one, else the last) is open, the
    pairs that have an open case, and the open cases that ended before the day (id, pattern,
    pollutant, severity), by id."""

    covering: dict[tuple[str, str], tuple[bool, int]] = field(default_factory=dict)
    open_now: set[tuple[str, str]] = field(default_factory=set)
    ended: list[tuple[int, str, str, str]] = field(default_factory=list)


class PatternCasesRead:
    """:data:`_PATTERN_CASES` of several outlet-days (outlet, day start), sent at once and
    fetched when one of them is first needed (so that a pipeline does not wait for it)."""

    __slots__ = ("_cursor", "_days", "_result")

    def __init__(self, conn: psycopg.Connection, days: Sequence[tuple[int, datetime]]) -> None:
        self._days = list(dict.fromkeys(days))
        self._result: dict[tuple[int, datetime], PatternCases] | None = None
        self._cursor = conn.execute(
            _PATTERN_CASES,
            ([o for o, _ in self._days], [start for _, start in self._days]),
            prepare=True,
        )

    def of(self, outlet_id: int, start: datetime) -> PatternCases:
        if self._result is None:
            self._result = {day: PatternCases() for day in self._days}
            for row in self._cursor:
                outlet, lo, case_id, subject, pollutant, is_open, covers, ended, severity = row
                cases = self._result[(outlet, lo)]
                key = (subject, pollutant)
                if covers and not _covering_before(cases.covering.get(key), is_open, case_id):
                    cases.covering[key] = (is_open, case_id)
                if is_open:
                    cases.open_now.add(key)
                    if ended:
                        cases.ended.append((case_id, subject, pollutant, severity))
        return self._result[(outlet_id, start)]


def _covering_before(kept: tuple[bool, int] | None, is_open: bool, case_id: int) -> bool:
    """Whether the covering case kept so far comes before another (the open one first, then
    the highest id)."""
    return kept is not None and (kept[0], kept[1]) > (is_open, case_id)


def _settle(d: _Day, found: list[_Finding], cases: PatternCases) -> list[Transition]:
    out: list[Transition] = []
    for f in found:
        covering = cases.covering.get((f.subject, f.pollutant))
        if covering is not None and not covering[0]:
            continue  # this day is already in a case that was closed since
        out += open_read_case(
            d.conn,
            kind="pattern",
            outlet_id=d.outlet_id,
            pollutant=f.pollutant,
            subject=f.subject,
            severity="info",
            first_at=d.start,
            last_at=d.start,
            details=f.details,
            is_open=(f.subject, f.pollutant) in cases.open_now,
        )
    unseen = d.checked - {(f.subject, f.pollutant) for f in found}
    for case_id, subject, pollutant, severity in cases.ended:
        if (subject, pollutant) in unseen:
            day = d.start.date().isoformat()
            reason = f"not seen on {day} (a complete day checked)"
            out += close_read_case(d.conn, case_id, reason, severity)
    return out


def _num(value: Decimal) -> str:
    return f"{value:.4f}".rstrip("0").rstrip(".") or "0"


# --- flat lines ----------------------------------------------------------------------------

# One pass over the valid values of many outlet-days: per (outlet, day, pollutant) and hour, the
# spread of its minute values and of its real-time values; the minute values count when there
# are any (as for the means). Each row of the arrays is one (outlet, day, pollutant), read on
# its own (a lateral: along the primary key, whatever the table's statistics say; joined
# with all of them at once, an analysed table was scanned whole even for hours with no data).
_HOURLY_SPREADS = sql.SQL("""
SELECT q.outlet_id, q.lo, q.pollutant, s.*
FROM unnest(%b::int[], %b::timestamptz[], %b::timestamptz[], %b::text[])
    AS q(outlet_id, lo, hi, pollutant)
CROSS JOIN LATERAL (
    SELECT date_bin('1 hour', m.ts, q.lo) AS hour,
        count(*) FILTER (WHERE m.kind = 'min'), sum(m.value) FILTER (WHERE m.kind = 'min'),
        sum(m.value * m.value) FILTER (WHERE m.kind = 'min'),
        count(*) FILTER (WHERE m.kind = 'rtd'), sum(m.value) FILTER (WHERE m.kind = 'rtd'),
        sum(m.value * m.value) FILTER (WHERE m.kind = 'rtd')
    FROM measurements m
    WHERE m.outlet_id = q.outlet_id AND m.pollutant = q.pollutant AND m.kind IN ('min', 'rtd')
        AND m.ts >= q.lo AND m.ts < q.hi AND m.value IS NOT NULL AND m.flag IN {valid}
    GROUP BY 1
) s
ORDER BY 1, 2, 3, 4
""").format(valid=_VALID)
_Hour = tuple[datetime, str, int, Decimal, Decimal]  # start, kind, values, sum, sum of squares


def flat_line_pollutants(limits: Sequence[Limit]) -> list[str]:
    """The pollutants screened for flat lines on a day with these limits: those with a limit,
    and O₂."""
    return sorted({*(lim.pollutant for lim in limits), OXYGEN})


def read_spreads(
    conn: psycopg.Connection, days: Sequence[tuple[int, datetime, datetime, Sequence[str]]]
) -> dict[tuple[int, datetime], list[tuple[Any, ...]]]:
    """For each (outlet, day start, day end, pollutants) the hourly spreads of the pollutants'
    valid values that the flat-line screening uses, in one statement: (outlet, day start) →
    rows (pollutant, hour, then count, sum and sum of squares of the minute values and of the
    real-time values), by pollutant and hour."""
    out: dict[tuple[int, datetime], list[tuple[Any, ...]]] = {(o, lo): [] for o, lo, _, _ in days}
    rows = [(o, lo, hi, p) for o, lo, hi, pollutants in days for p in pollutants]
    if rows:
        for outlet_id, lo, *spread in conn.execute(
            _HOURLY_SPREADS, [list(column) for column in zip(*rows, strict=True)], prepare=True
        ):
            out[(outlet_id, lo)].append(tuple(spread))
    return out


# Sums of numeric values as the database computes them: exact (every trap set; the precision is
# the largest there is, so that an addition or a product of stored values is never rounded).
_EXACT = Context(
    prec=MAX_PREC,
    Emax=MAX_EMAX,
    Emin=MIN_EMIN,
    traps=[InvalidOperation, DivisionByZero, Overflow, Underflow, Inexact, Rounded],
)


def _valid_values(samples: Sequence[Sample], valid_flags: frozenset[str]) -> list[Decimal]:
    """The values of the valid samples, in order (of columns without making their times, and
    all of them at once when every one is valid; None is found by identity, as comparing a
    Decimal with it is slow)."""
    if isinstance(samples, SampleColumns):
        values, flags = samples.value, samples.flag
        if valid_flags.issuperset(flags) and not any(map(is_, values, repeat(None))):
            return list(cast("Sequence[Decimal]", values))
        pairs: Iterable[tuple[Any, str | None]] = zip(values, flags, strict=True)
    else:
        pairs = ((s[1], s[3]) for s in samples)
    return [v for v, f in pairs if v is not None and f in valid_flags]


def _valid_pairs(samples: Sequence[Sample], valid_flags: frozenset[str]) -> Exact | None:
    """The valid samples' values as pairs (:class:`~alerts.rules.Exact`), when there are some
    and the columns have every value so. Their sums in :data:`_EXACT` are then those of the
    integers: a pair m × 10⁻ˢ is the Decimal of coefficient |m| and exponent −s (no negative
    zero), so with S the largest scale and a = m × 10^(S − s) each, the exact sum of the
    values has exponent −S and coefficient Σa, that of their squares (a² × 10⁻²ˢ each)
    exponent −2S and coefficient Σa², and a zero sum is +0."""
    if isinstance(samples, SampleColumns) and samples.value_exact is not None:
        _, exact = samples.valid_pairs(valid_flags)
        if exact.mantissas:
            return exact
    return None


def hour_spreads(
    series: Mapping[str, Mapping[str, Sequence[Sample]]],
    pollutants: Iterable[str],
    valid_flags: frozenset[str],
) -> dict[str, tuple[Any, ...]] | None:
    """One hour's row of :func:`read_spreads` for each of ``pollutants`` that has valid values,
    computed from the hour's samples (pollutant → kind → samples) instead of in the database:
    the count, sum and sum of squares of the valid minute values, then of the valid real-time
    values (a sum of no values is None, as in SQL). The sums are exact, as numeric's are; None
    when one could not be computed exactly (then the database computes them)."""
    out: dict[str, tuple[Any, ...]] = {}
    try:
        for pollutant in pollutants:
            kinds = series.get(pollutant)
            if not kinds:
                continue
            row: list[Any] = []
            for kind in ("min", "rtd"):
                samples = kinds.get(kind)
                if not samples:
                    row += (0, None, None)
                    continue
                pairs = _valid_pairs(samples, valid_flags)
                if pairs is not None:  # the same sums, on the integers (see below)
                    ms, scale = pairs.aligned()
                    total = Decimal(sum(ms)).scaleb(-scale, _EXACT)
                    squares = Decimal(sum(map(mul, ms, ms))).scaleb(-2 * scale, _EXACT)
                    row += (len(ms), total, squares)
                    continue
                values = _valid_values(samples, valid_flags)
                if values:  # exact: in any order the same sums, to the last digit
                    first, rest = values[0], values[1:]
                    with localcontext(_EXACT):
                        total = sum(rest, first)
                        squares = sum(map(mul, rest, rest), first * first)
                    row += (len(values), total, squares)
                else:
                    row += (0, None, None)
            if row[0] or row[3]:
                out[pollutant] = tuple(row)
    except DecimalException:
        return None
    return out


def _flat_lines(
    d: _Day, limits: Sequence[Limit], spreads: Sequence[tuple[Any, ...]]
) -> list[_Finding]:
    by_pollutant = {lim.pollutant: lim for lim in sorted(limits, key=lambda x: x.period == "hour")}
    hours: dict[str, list[_Hour]] = defaultdict(list)
    for pollutant, hour, n_min, s_min, q_min, n_rtd, s_rtd, q_rtd in spreads:
        if n_min:
            hours[pollutant].append((hour, "min", n_min, s_min, q_min))
        else:
            hours[pollutant].append((hour, "rtd", n_rtd, s_rtd, q_rtd))
    out = []
    for pollutant, series in sorted(hours.items()):
        if len(series) < d.rules.flat_min_hours:
            continue
        d.checked.add(("flat-line", pollutant))
        if stretches := _flat_stretches(d, series):
            lim = by_pollutant.get(pollutant)
            rules = d.rules.describe(
                "flat_min_hours", "flat_max_relative_std", "flat_max_absolute_std"
            )
            details = {
                "stretches": stretches,
                "longest_hours": max(s["hours"] for s in stretches),
                "data": sorted({kind for _, kind, *_ in series}),
                **(limit_details(lim) if lim else {}),
                "rules": rules,
            }
            out.append(_Finding("flat-line", pollutant, details))
    return out


def _flat_stretches(d: _Day, series: list[_Hour]) -> list[dict[str, Any]]:
    """Consecutive hours, at least ``flat_min_hours`` long, whose pooled values are flat."""
    rules, out, i = d.rules, [], 0
    while i < len(series):
        best: tuple[int, int, Decimal, Decimal, Decimal] | None = None
        n, total, squares = 0, Decimal(0), Decimal(0)
        for j in range(i, len(series)):
            if j > i and series[j][0] - series[j - 1][0] != HOUR:
                break
            n, total, squares = n + series[j][2], total + series[j][3], squares + series[j][4]
            mean = total / n
            std = max(squares / n - mean * mean, Decimal(0)).sqrt()
            bound = max(rules.flat_max_absolute_std, rules.flat_max_relative_std * abs(mean))
            if std > bound:
                break
            best = (j, n, mean, std, bound)
        if best is not None and best[0] - i + 1 >= rules.flat_min_hours:
            j, n, mean, std, bound = best
            out.append(
                {
                    "from": d.iso(series[i][0]),
                    "to": d.iso(series[j][0] + HOUR),
                    "hours": j - i + 1,
                    "values": n,
                    "mean": _num(mean),
                    "std": _num(std),
                    "max_std": _num(bound),
                }
            )
            i = j + 1
        else:
            i += 1
    return out


# --- hourly means: bunching and 折算 mismatch -----------------------------------------------

_Means = dict[str, list[tuple[Any, ...]]]  # pollutant → (hour, mean, converted, zs, valid)


def _bunching(d: _Day, means: _Means, hourly: dict[str, Limit]) -> list[_Finding]:
    out = []
    for pollutant, lim in sorted(hourly.items()):
        if lim.value_min is not None:
            continue  # a range (pH 6–9): "just under the limit" has no meaning
        pick = 2 if lim.reference_o2 is not None else 1  # converted, else measured
        values = [m[pick] for m in means.get(pollutant, []) if m[4] and m[pick] is not None]
        if len(values) < d.rules.bunching_min_hours:
            continue
        d.checked.add(("bunching", pollutant))
        low = d.rules.bunching_band * lim.value
        near = sum(1 for v in values if low <= v <= lim.value)
        share = Decimal(near) / len(values)
        if share >= d.rules.bunching_min_share:
            rules = d.rules.describe("bunching_band", "bunching_min_share", "bunching_min_hours")
            details = {
                "valid_hours": len(values),
                "hours_in_band": near,
                "share": _num(share),
                "band_from": _num(low),
                "band_to": str(lim.value),
                **limit_details(lim),
                "rules": rules,
            }
            out.append(_Finding("bunching", pollutant, details))
    return out


def _zs_mismatches(d: _Day, means: _Means, tolerance: Decimal | None) -> list[_Finding]:
    if tolerance is None:
        return []  # no 折算 for this medium
    out = []
    for pollutant, rows in sorted(means.items()):
        both = [(h, zs, conv) for h, _, conv, zs, _ in rows if zs is not None and conv is not None]
        if len(both) < d.rules.zs_mismatch_min_hours:
            continue
        d.checked.add(("zs-mismatch", pollutant))
        bad = [(h, zs, conv) for h, zs, conv in both if zs_mismatch(zs, conv, tolerance)]
        if len(bad) >= d.rules.zs_mismatch_min_hours:
            h, zs, conv = max(bad, key=lambda b: abs(b[1] - b[2]) / max(abs(b[2]), Decimal("1E-9")))
            details = {
                "hours_compared": len(both),
                "hours_mismatched": len(bad),
                "tolerance_pct": str(tolerance),
                "mismatched": [d.iso(b[0]) for b in bad],
                "worst": {"hour": d.iso(h), "reported": _num(zs), "recomputed": _num(conv)},
                "rules": d.rules.describe("zs_mismatch_min_hours"),
            }
            out.append(_Finding("zs-mismatch", pollutant, details))
    return out


# --- invalid hours whose flagged values exceed ---------------------------------------------

_FLAGGED = sql.SQL("""
SELECT h.pollutant, h.hour_start, h.flags,
    (SELECT avg(m.value) FROM measurements m
      WHERE m.outlet_id = h.outlet_id AND m.pollutant = h.pollutant AND m.kind = h.source
        AND m.ts >= h.hour_start AND m.ts < h.hour_start + interval '1 hour'
        AND m.flag NOT IN {valid}),
    (SELECT coalesce(avg(m.value) FILTER (WHERE m.flag IN {valid}), avg(m.value))
       FROM measurements m
      WHERE m.outlet_id = h.outlet_id AND m.pollutant = %(oxygen)s AND m.kind = h.source
        AND m.ts >= h.hour_start AND m.ts < h.hour_start + interval '1 hour')
FROM hourly_means h
WHERE h.outlet_id = %(outlet)s AND h.hour_start >= %(start)s AND h.hour_start < %(end)s
  AND h.pollutant = ANY(%(pollutants)s) AND NOT h.valid
ORDER BY h.pollutant, h.hour_start
""").format(valid=_VALID)


def _flag_abuse(
    d: _Day, means: _Means, hourly: dict[str, Limit], o2_max: Decimal | None
) -> list[_Finding]:
    d.checked.update(("flag-abuse", p) for p in hourly if p in means)
    if not any(not m[4] for p in hourly for m in means.get(p, ())):
        return []  # no invalid hour of a pollutant with an hourly limit: nothing to read
    params = {
        "outlet": d.outlet_id,
        "start": d.start,
        "end": d.end,
        "oxygen": OXYGEN,
        "pollutants": sorted(hourly),
    }
    hits: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for pollutant, hour, flags, measured, o2 in d.conn.execute(_FLAGGED, params):
        lim = hourly[pollutant]
        value = measured
        if measured is not None and lim.reference_o2 is not None:
            value = convert_o2(measured, o2, lim.reference_o2, o2_max or Decimal(21))
        if value is not None and judge(value, lim).exceeds:
            hits[pollutant].append(
                {
                    "hour": d.iso(hour),
                    "flags": flags,
                    "value": _num(value),
                    "measured": _num(measured),
                    "o2": None if o2 is None else _num(o2),
                }
            )
    out = []
    for pollutant, hours in sorted(hits.items()):
        if len(hours) >= d.rules.flag_abuse_min_hours:
            details = {
                "invalid_hours_exceeding": len(hours),
                "hours": hours,
                **limit_details(hourly[pollutant]),
                "rules": d.rules.describe("flag_abuse_min_hours"),
            }
            out.append(_Finding("flag-abuse", pollutant, details))
    return out
