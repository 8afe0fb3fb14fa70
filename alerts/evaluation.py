"""Evaluating an outlet's hours and days: valid means with coverage, then the judgement of
every limit in force, as the regulator does (docs/regulations.md#validity,
docs/regulations.md#exceedance).

- Hourly means come from minute data when the logger sent it, else from real-time data, else
  from the logger's own hourly values; only valid data counts (data_flags.valid).
- Flue gas is judged on the concentration converted to the limit's reference O₂; water on the
  measured concentration.
- Daily means are computed whenever an hour changes, and judged against daily limits once the
  local day is over (plus a grace period for late data); late data re-judges them.
"""

from __future__ import annotations

import functools
import json
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from itertools import islice
from operator import attrgetter, lt, sub
from types import MappingProxyType
from typing import Any, Literal, NamedTuple, cast
from zoneinfo import ZoneInfo

import psycopg

from alerts.faults import check_faults, fault_flag
from alerts.patterns import (
    PatternCasesRead,
    check_patterns,
    flat_line_pollutants,
    hour_spreads,
    read_spreads,
)
from alerts.rules import (
    HOUR_US,
    MINUTE_US,
    DayResult,
    Exact,
    MeanResult,
    MinuteMemo,
    Sample,
    SampleColumns,
    daily_mean,
    epoch_micros,
    hourly_mean,
    pair_decimals,
)
from schemas.cases.policy import CasePolicy
from schemas.cases.transitions import (
    LimitDetails,
    PendingPeriods,
    PeriodDetails,
    Transition,
    judge_period,
    open_exceedances,
)
from schemas.codes.pattern_rules import PatternRules, load_pattern_rules
from schemas.core import pgcopy
from schemas.limits.judgement import judge, value_to_judge
from schemas.limits.rules import (
    Limit,
    ValidityRules,
    limits_for_outlet,
    limits_for_outlets,
    load_validity_rules,
)

__all__ = [
    "FLOW",
    "OXYGEN",
    "BatchWrites",
    "Evaluation",
    "MinutesRead",
    "NoPeriodsRead",
    "OpenCases",
    "OutletContext",
    "ReferenceCache",
    "load_outlet",
    "load_outlets",
    "read_days",
    "read_hours",
    "read_minutes",
    "read_no_periods",
    "read_open_cases",
]

_CaseKey = tuple[str, str, int, str]  # pollutant, period, limit id, limit source

OXYGEN = "a19001"
FLOW = "w00000"  # wastewater flow: weights the means of pollutants with an emission amount
# A day's rows of hourly_means, and its flat-line spreads (None: not read, the day is not over)
_DayRead = tuple[list[tuple[Any, ...]], list[tuple[Any, ...]] | None]


class HoursMeans(NamedTuple):
    """What :meth:`Evaluation.hour_means` computed: per hour its means and each mean's fault
    flag (or None), and whether they are still to be written hour by hour (a fault flag among
    them)."""

    hours: list[tuple[datetime, list[tuple[str, MeanResult]], list[str | None]]]
    by_hour: bool


class DayMeans(NamedTuple):
    """What :meth:`Evaluation.day_means` computed of one local day: its rows of hourly_means,
    its flat-line spreads (None: read when screened) and its daily means (written)."""

    day: date
    rows: list[tuple[Any, ...]]
    spreads: list[tuple[Any, ...]] | None
    results: list[tuple[str, DayResult]]


_MINUTE_INTERVALS = (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30)  # HJ 212-2017 Table 4, MinInterval
_DAYS_KEPT = 4096  # instants whose local day an outlet's context remembers


@dataclass(frozen=True, slots=True)
class OutletContext:
    id: int
    kind: str  # gas | water
    timezone: ZoneInfo
    # instant → its local day, as asked for (several times for every hour judged)
    _days: dict[datetime, date] = field(default_factory=dict, compare=False, repr=False)

    def local_day(self, at: datetime) -> date:
        day = self._days.get(at)
        if day is None:
            if len(self._days) >= _DAYS_KEPT:
                self._days.clear()
            day = self._days[at] = at.astimezone(self.timezone).date()
        return day

    def day_bounds(self, day: date) -> tuple[datetime, datetime]:
        start = datetime.combine(day, time(0), tzinfo=self.timezone)
        return start, datetime.combine(day + timedelta(days=1), time(0), tzinfo=self.timezone)


def load_outlet(conn: psycopg.Connection, outlet_id: int) -> OutletContext | None:
    row = conn.execute(
        "SELECT id, kind, timezone FROM outlets WHERE id = %s", (outlet_id,)
    ).fetchone()
    return None if row is None else OutletContext(row[0], row[1], ZoneInfo(row[2]))


def load_outlets(conn: psycopg.Connection, outlet_ids: list[int]) -> dict[int, OutletContext]:
    """:func:`load_outlet` of many outlets in one query (those that exist)."""
    rows = conn.execute(
        "SELECT id, kind, timezone FROM outlets WHERE id = ANY(%s)", (outlet_ids,)
    ).fetchall()
    return {row[0]: OutletContext(row[0], row[1], ZoneInfo(row[2])) for row in rows}


class ReferenceCache:
    """Code tables read once and kept while it lives: the valid flags, validity rules per
    (medium, day), pattern rules per day and limits per (outlet, day). The evaluator keeps one
    per drain (the tables do not change within one); only successful reads are kept, so a
    missing rule raises again for every hour that needs it."""

    def __init__(self) -> None:
        self.pattern_rules: dict[date, PatternRules] = {}
        self.limits: dict[tuple[int, date], list[Limit]] = {}
        self.rules: dict[tuple[str, date], ValidityRules] = {}
        self.valid_flags: frozenset[str] | None = None
        self.flow_weighted: frozenset[str] | None = None

    def read_limits(self, conn: psycopg.Connection, pairs: Iterable[tuple[int, date]]) -> None:
        """Read the limits of these (outlet, day) pairs not kept yet, in one statement."""
        missing = {pair for pair in pairs if pair not in self.limits}
        if missing:
            self.limits.update(limits_for_outlets(conn, missing))


class Evaluation:
    """One pass over one outlet, inside the caller's transaction (which holds the outlet lock).
    Caches the limits and validity rules per day (in ``cache``, which may outlive it)."""

    def __init__(
        self,
        conn: psycopg.Connection,
        outlet: OutletContext,
        policy: CasePolicy,
        now: datetime,
        day_grace: timedelta,
        fault_after_hours: int,
        cache: ReferenceCache | None = None,
        batch: BatchWrites | None = None,
    ) -> None:
        self.conn, self.outlet, self.policy, self.now = conn, outlet, policy, now
        self.day_grace = day_grace
        self.fault_after_hours = fault_after_hours
        self.cache = cache if cache is not None else ReferenceCache()
        self.transitions: list[Transition] = []
        # Samples of hours read ahead in one query (see prefetch); taken out when used.
        self._prefetched: dict[datetime, _Series] = {}
        # Pollutants that may have an open fault case; None until read. Only check_faults opens
        # fault cases, under the outlet lock we hold, so the set only grows when it does (a
        # rolled-back savepoint leaves a superset, which is safe: those are just looked up).
        self._open_faults: set[str] | None = None
        # Period starts at which no exceedance case of the outlet had a period when read, and
        # the (case key, start) judged since: only judge_period adds periods, under the lock.
        self._no_periods: set[datetime] = set()
        self._judged: set[tuple[str, str, int, str, datetime]] = set()
        # Keys (pollutant, period, limit id, limit source) of the outlet's open exceedance
        # cases; None until read. Only judge_period opens and closes them, under the lock we
        # hold, and it says so in its transitions: a compliant mean with no case to update
        # (no open case, no period at its start) is then known to change nothing.
        self._open_keys: set[_CaseKey] | None = None
        self._open_cases: dict[tuple[Any, ...], dict[str, Any]] = {}  # judge_period's cache
        # Keys of the outlet's exceedance cases closed by the time it judges, that may span a
        # period it judges; None until read (then a new case looks for one first). Cases are
        # closed by judge_period, under the lock we hold (its transitions say so), or by staff,
        # whose closed cases are never reopened (a new case is opened instead): a key not here
        # has no closed case that judge_period would reopen. A rolled-back close leaves a
        # superset, which is safe (the lookup is made).
        self._closed_keys: set[_CaseKey] | None = None
        # Periods appended to open cases and their aggregates, written at the end of each step
        # (hours, hour, day) in one statement each, inside its savepoint. In a batch judged
        # together (``batch``: only hour_means, judge_hours, day_means and judge_day are then
        # used), its means and these are written by the batch, for all of its outlets at once.
        self._batch = batch
        self._pending = PendingPeriods() if batch is None else batch.pending
        # What the day step reads, read ahead for the outlets of a batch (see read_days): per
        # local day the rows of hourly_means and the flat-line spreads; taken out when used.
        self._day_reads: dict[date, _DayRead] = {}
        # Whether the batch reads the outlet's pattern cases for its first day to screen (see
        # BatchWrites.pattern_days), and whether a day was screened since.
        self._patterns_asked = False
        self._patterns_screened = False
        # Per hour read ahead, the flat-line spreads of its valid values (see hour_spreads),
        # computed when its samples are used: a day all of whose hours are here is screened
        # without reading its minutes again (see spreads_from_minutes).
        self._hour_spreads: dict[datetime, dict[str, tuple[Any, ...]]] = {}
        # Per local day whether it is over (see day_over).
        self._over: dict[date, bool] = {}
        # Per (pollutant, local day) the reference O₂ of its limits (see reference_o2).
        self._reference_o2: dict[tuple[str, date], Decimal | None] = {}
        # Per (id of pattern rules, samples per flag…) the hour's fault flag (see _fault_flag).
        self._fault_flags: dict[tuple[Any, ...], tuple[PatternRules, str | None]] = {}
        # Per id of a limit, what judged means record of it (see _limit_details).
        self._details_of: dict[int, tuple[Limit, LimitDetails]] = {}

    # --- reference data ------------------------------------------------------------------

    def limits(self, day: date) -> list[Limit]:
        key = (self.outlet.id, day)
        if key not in self.cache.limits:
            self.cache.limits[key] = limits_for_outlet(self.conn, self.outlet.id, day)
        return self.cache.limits[key]

    def rules(self, day: date) -> ValidityRules:
        key = (self.outlet.kind, day)
        if key not in self.cache.rules:
            self.cache.rules[key] = load_validity_rules(self.conn, self.outlet.kind, day)
        return self.cache.rules[key]

    def pattern_rules(self, day: date) -> PatternRules:
        if day not in self.cache.pattern_rules:
            self.cache.pattern_rules[day] = load_pattern_rules(self.conn, day)
        return self.cache.pattern_rules[day]

    def valid_flags(self) -> frozenset[str]:
        if self.cache.valid_flags is None:
            rows = self.conn.execute("SELECT DISTINCT code FROM data_flags WHERE valid")
            self.cache.valid_flags = frozenset(code for (code,) in rows)
        return self.cache.valid_flags

    def read_code_tables(self, days: Iterable[date]) -> None:
        """Read now what the steps of these local days read of the code tables when first
        needed (the valid flags, which pollutants are flow-weighted, the validity and pattern
        rules; each kept in the cache): in a pipeline, a batch reads them before it sends its
        reads of minutes, so that its first outlet does not wait for all of those to find them.
        A rule that is missing raises here."""
        self.valid_flags()
        self.flow_weighted(FLOW)
        for day in sorted(set(days)):
            self.rules(day)
            self.pattern_rules(day)

    def flow_weighted(self, pollutant: str) -> bool:
        """Whether this outlet's means of ``pollutant`` are volume-weighted: wastewater
        pollutants that have an emission amount (a mass), HJ 212-2017 Appendix D."""
        if self.outlet.kind != "water":
            return False
        if self.cache.flow_weighted is None:
            rows = self.conn.execute(
                "SELECT code FROM pollutants WHERE medium = 'water' AND cou_unit_en IS NOT NULL "
                "AND code <> %s",
                (FLOW,),
            )
            self.cache.flow_weighted = frozenset(code for (code,) in rows)
        return pollutant in self.cache.flow_weighted

    def reference_o2(self, pollutant: str, day: date) -> Decimal | None:
        key = (pollutant, day)
        if key not in self._reference_o2:  # asked for every pollutant of every hour
            self._reference_o2[key] = self._find_reference_o2(pollutant, day)
        return self._reference_o2[key]

    def _find_reference_o2(self, pollutant: str, day: date) -> Decimal | None:
        if self.outlet.kind != "gas":
            return None
        for period in ("hour", "day"):
            for lim in self.limits(day):
                if lim.pollutant == pollutant and lim.period == period and lim.reference_o2:
                    return lim.reference_o2
        return None

    def day_over(self, day: date) -> bool:
        """Whether this local day is over, its grace for late data past: only then are its
        means judged against daily limits and the day screened for patterns."""
        if day not in self._over:
            self._over[day] = self.outlet.day_bounds(day)[1] + self.day_grace <= self.now
        return self._over[day]

    # --- hours -----------------------------------------------------------------------------

    def hours(self, starts: Iterable[datetime]) -> None:
        days: set[date] = set()
        for start in sorted(set(starts)):
            self.hour(start)
            days.add(self.outlet.local_day(start))
        self.days(days)

    def hour(self, start: datetime) -> None:
        results = self._means(start)
        # All of the hour's means in one statement: what follows reads only the same
        # pollutant's means (faults) or none (judgement), so storing them first is the same.
        self._store_hours(results)
        self._judge_hour(start, results)
        self._pending.flush(self.conn)

    def hours_together(self, starts: Iterable[datetime]) -> None:
        """What :meth:`hour` does for each of ``starts`` in order, with the means of all of
        them written in one statement first, unless a fault flag is among them: only fault
        checks read stored means back (the run of earlier hours), so then hour by hour."""
        self.judge_hours(self.hour_means(starts))

    def hour_means(self, starts: Iterable[datetime]) -> HoursMeans:
        """The first half of :meth:`hours_together`: the means of these hours, written in one
        statement unless a fault flag is among them (then :meth:`judge_hours` writes them hour
        by hour). Nothing here reads or changes cases, so a batch computes the means of all of
        its outlets first, their statements sent meanwhile, and judges them after."""
        planned = [(start, self._means(start)) for start in sorted(set(starts))]
        # Each mean's fault flag, asked once here: judge_hours checks the faults with it.
        hours = [(s, results, self._fault_flags_of(s, results)) for s, results in planned]
        by_hour = any(f is not None for _, _, faults in hours for f in faults)
        if not by_hour:
            self._store_hours([pr for _, results, _ in hours for pr in results], batched=True)
        return HoursMeans(hours, by_hour)

    def judge_hours(self, means: HoursMeans) -> None:
        """The second half of :meth:`hours_together`: judge the hours of :meth:`hour_means`."""
        for start, results, faults in means.hours:
            if means.by_hour:
                self._store_hours(results)
            self._judge_hour(start, results, faults)
        self._end_step()

    def _means(self, start: datetime) -> list[tuple[str, MeanResult]]:
        day = self.outlet.local_day(start)
        series = self._samples(start)
        oxygen, flow = series.get(OXYGEN, {}), series.get(FLOW, {})
        results: list[tuple[str, MeanResult]] = []
        memo: MinuteMemo = {}  # O₂ and flow are put into minutes once for all pollutants
        for pollutant, kinds in series.items():
            weights = flow if self.flow_weighted(pollutant) else None
            result = self._hour_mean(pollutant, kinds, oxygen, weights, start, day, memo)
            if result is not None:
                results.append((pollutant, result))
        return results

    def _judge_hour(
        self,
        start: datetime,
        results: Sequence[tuple[str, MeanResult]],
        faults: Sequence[str | None] | None = None,
    ) -> None:
        """Check the faults of the hour's means (``faults``: their fault flags, if known) and
        judge them."""
        day = self.outlet.local_day(start)
        if faults is None:
            faults = self._fault_flags_of(start, results)
        for (pollutant, result), fault in zip(results, faults, strict=True):
            self._check_faults(pollutant, start, day, result, fault)
            if result.valid:
                for lim in self.limits(day):
                    if lim.pollutant == pollutant and lim.period == "hour":
                        self._judge(lim, start, result.mean, result.converted, result)

    def _fault_flags_of(
        self, start: datetime, results: Sequence[tuple[str, MeanResult]]
    ) -> list[str | None]:
        """The fault flag of each of the hour's means (see :meth:`_fault_flag`)."""
        rules = self.pattern_rules(self.outlet.local_day(start))
        return [self._fault_flag(r.flags, rules) for _, r in results]

    def _fault_flag(self, flags: Mapping[str, int], rules: PatternRules) -> str | None:
        """:func:`fault_flag` of this outlet's hour, once per distinct samples per flag and
        rules (the hours' flags are few: usually 60 of one)."""
        key = (id(rules), *flags.items())
        known = self._fault_flags.get(key)
        if known is None or known[0] is not rules:
            known = self._fault_flags[key] = (rules, fault_flag(flags, rules, self.outlet.kind))
        return known[1]

    def _check_faults(
        self, pollutant: str, start: datetime, day: date, r: MeanResult, fault: str | None
    ) -> None:
        """Check the faults of one mean, whose fault flag is ``fault``."""
        rules = self.pattern_rules(day)
        if self.fault_after_hours < 1:
            pass  # check_faults refuses it
        elif fault is None:
            if not r.valid:
                return  # check_faults does nothing for an invalid hour without a fault flag
            if self._open_faults is None:
                rows = self.conn.execute(
                    "SELECT DISTINCT pollutant FROM cases WHERE kind = 'fault' "
                    "AND outlet_id = %s AND state = 'open'",
                    (self.outlet.id,),
                )
                self._open_faults = {p for (p,) in rows}
            if pollutant not in self._open_faults:
                return  # no open fault case to close
        elif self._open_faults is not None:
            self._open_faults.add(pollutant)  # check_faults may open one
        # its events are appended at once: those of the judgements before it first
        self._pending.flush(self.conn)
        self.transitions += check_faults(
            self.conn,
            outlet_id=self.outlet.id,
            pollutant=pollutant,
            medium=self.outlet.kind,
            hour_start=start,
            flags=r.flags,
            valid=r.valid,
            after_hours=self.fault_after_hours,
            rules=rules,
        )

    def prefetch(self, starts: Iterable[datetime]) -> None:
        """Read the samples of these hours in one query; :meth:`hour` then uses them."""
        hours = sorted(set(starts))
        series, no_periods = read_hours(self.conn, {self.outlet.id: hours})
        self.use_prefetched(series.get(self.outlet.id, {}), no_periods.get(self.outlet.id, set()))

    def use_prefetched(self, series: dict[datetime, _Series], no_periods: set[datetime]) -> None:
        """Take the samples of hours read ahead (see :func:`read_hours`), and the hours at which
        no exceedance case of the outlet had a period when read."""
        self._no_periods = no_periods
        self._prefetched = series

    def use_prefetched_minutes(self, series: dict[datetime, _Series]) -> None:
        """Take the samples of hours read ahead, the hours without case periods being known."""
        self._prefetched = series

    def _samples(self, start: datetime) -> _Series:
        if start in self._prefetched:
            series = self._prefetched.pop(start)
            day = self.outlet.local_day(start)
            # Only a day that is over is screened (read_days): a live hour's spreads would not
            # be used, so they are not computed.
            if self.day_over(day):
                spreads = hour_spreads(
                    series, flat_line_pollutants(self.limits(day)), self.valid_flags()
                )
                if spreads is not None:
                    self._hour_spreads[start] = spreads
            return series
        rows = self.conn.execute(
            "SELECT pollutant, kind, ts, value, zs_value, flag FROM measurements "
            "WHERE outlet_id = %s AND ts >= %s AND ts < %s AND kind IN ('rtd', 'min', 'hour') "
            "ORDER BY ts",
            (self.outlet.id, start, start + timedelta(hours=1)),
        )
        out: dict[str, dict[str, list[Sample]]] = defaultdict(lambda: defaultdict(list))
        for pollutant, kind, ts, value, zs, flag in rows:
            out[pollutant][kind].append(Sample(ts, value, zs, flag))
        return cast(_Series, out)

    def _hour_mean(
        self,
        pollutant: str,
        kinds: dict[str, Sequence[Sample]],
        oxygen: dict[str, Sequence[Sample]],
        flow: dict[str, Sequence[Sample]] | None,
        start: datetime,
        day: date,
        memo: MinuteMemo | None = None,
    ) -> MeanResult | None:
        rules, o2_ref = self.rules(day), self.reference_o2(pollutant, day)
        source: Literal["min", "rtd"]
        for source in ("min", "rtd"):
            if kinds.get(source):
                samples = kinds[source]
                return hourly_mean(
                    samples,
                    oxygen.get(source, []),
                    hour_start=start,
                    source=source,
                    o2_ref=o2_ref,
                    rules=rules,
                    valid_flags=self.valid_flags(),
                    interval_minutes=_interval(samples) if source == "min" else 1,
                    flow_samples=None if flow is None else flow.get(source, []),
                    memo=memo,
                )
        sent = kinds.get("hour")
        return _sent_hour(sent[-1], start, self.valid_flags()) if sent else None

    def _store_hours(
        self, results: Sequence[tuple[str, MeanResult]], *, batched: bool = False
    ) -> None:
        """Upsert these means in one statement (one array per column); ``batched``, in a batch
        judged together, with its other outlets' (:meth:`BatchWrites.write_hours`)."""
        outlet = (self.outlet.id, self.now, results)
        if batched and self._batch is not None:
            self._batch.hours.append(outlet)
        else:
            store_hours(self.conn, [outlet])

    def _end_step(self) -> None:
        """Write the periods kept pending by a step, unless a batch judged together writes
        them, all of its outlets' at once."""
        if self._batch is None:
            self._pending.flush(self.conn)

    # --- days ------------------------------------------------------------------------------

    def days(self, days: Iterable[date]) -> None:
        for day in sorted(days):
            self.day(day)

    def spreads_from_minutes(
        self, day: date, start: datetime, end: datetime
    ) -> list[tuple[Any, ...]] | None:
        """The rows :func:`read_spreads` gives for this local day, from the spreads of its hours
        computed when they were judged; None unless every hour of the day was (and the day
        starts on a whole UTC hour, so that its hours are those the minutes were read by)."""
        part = self.spreads_in_part(day, start, end)
        return part[0] if part is not None and not part[1] else None

    def spreads_in_part(
        self, day: date, start: datetime, end: datetime
    ) -> tuple[list[tuple[Any, ...]], list[tuple[datetime, datetime]]] | None:
        """The rows :func:`read_spreads` gives for this local day's hours whose spreads were
        computed when they were judged, by pollutant and hour, and the runs [from, to) of its
        other hours (whose rows the database gives); None unless the day starts on a whole UTC
        hour (then its hours are those the minutes were read by)."""
        if start.timestamp() % _ONE_HOUR:
            return None
        # Each hour looked up once: a datetime key costs microseconds to find (its hash, and
        # an aware comparison with a key of another tzinfo, UTC's against the read's in a
        # session whose zone is not named UTC: see alerts/evaluator.py, utc_named).
        hours: list[tuple[datetime, dict[str, tuple[Any, ...]]]] = []
        missing: list[tuple[datetime, datetime]] = []
        hour, end_utc = start.astimezone(UTC), end.astimezone(UTC)
        while hour < end_utc:
            spreads = self._hour_spreads.get(hour)
            if spreads is not None:
                hours.append((hour, spreads))
            elif missing and missing[-1][1] == hour:
                missing[-1] = (missing[-1][0], hour + _HOUR)
            else:
                missing.append((hour, hour + _HOUR))
            hour += _HOUR
        rows = [
            (pollutant, hour, *spreads[pollutant])
            for pollutant in flat_line_pollutants(self.limits(day))
            for hour, spreads in hours
            if pollutant in spreads
        ]
        return rows, missing

    def use_day_reads(self, reads: dict[date, _DayRead]) -> None:
        """Take what the day step reads, read ahead for these days (see :func:`read_days`)."""
        self._day_reads = reads

    def day(self, day: date) -> None:
        self.judge_day(self.day_means(day))

    def day_means(self, day: date) -> DayMeans:
        """The first half of :meth:`day`: the day's means, written (the judgement does not
        read them). Nothing here reads or changes cases (see :meth:`hour_means`)."""
        start, end = self.outlet.day_bounds(day)
        rules = self.rules(day)
        read = self._day_reads.pop(day, None)
        if read is None:
            rows = [
                row[2:]
                for row in self.conn.execute(
                    _DAYS_HOURS, ([self.outlet.id], [start], [end]), prepare=True
                )
            ]
            spreads = None
        else:
            rows, spreads = read
        by_pollutant: dict[str, list[MeanResult]] = defaultdict(list)
        for row in rows:
            by_pollutant[row[0]].append(MeanResult(*(*row[1:-1], _flags_of(row[-1]))))
        results = [
            (
                pollutant,
                daily_mean(
                    hours,
                    day=day,
                    rules=rules,
                    flow_hours=by_pollutant.get(FLOW, [])
                    if self.flow_weighted(pollutant)
                    else None,
                ),
            )
            for pollutant, hours in by_pollutant.items()
        ]
        self._store_days(results)  # the judgement does not read them
        if self._batch is not None and not self._patterns_asked and self.day_over(day):
            self._patterns_asked = True  # its later days' are read when screened
            self._batch.pattern_days.append((self.outlet.id, start))
        return DayMeans(day, rows, spreads, results)

    def judge_day(self, means: DayMeans) -> None:
        """The second half of :meth:`day`: judge the day's means, and screen a day that ended
        for patterns."""
        day, rows, spreads, results = means
        start, end = self.outlet.day_bounds(day)
        final = self.day_over(day)
        rules = self.rules(day)
        for pollutant, result in results:
            if final and result.valid:
                for lim in self.limits(day):
                    if lim.pollutant == pollutant and lim.period == "day":
                        self._judge(lim, start, result.mean, result.converted, result)
        if final:
            # its cases append their events at once: those of the judgements before it first
            self._pending.flush(self.conn)
            read = self._batch.pattern_cases if self._batch is not None else None
            first = self._patterns_asked and not self._patterns_screened
            self._patterns_screened = True
            self.transitions += check_patterns(
                self.conn,
                outlet_id=self.outlet.id,
                day_start=start,
                day_end=end,
                limits=self.limits(day),
                rules=self.pattern_rules(day),
                zs_tolerance_pct=rules.zs_mismatch_tolerance_pct,
                o2_max=rules.o2_max_for_conversion,
                hourly_means=sorted(
                    ((r[0], r[1], r[3], r[5], r[4], r[9]) for r in rows), key=_by_hour
                ),
                spreads=spreads,
                cases=read.of(self.outlet.id, start) if read is not None and first else None,
            )
        self._end_step()

    def _store_days(self, results: Sequence[tuple[str, DayResult]]) -> None:
        """Upsert these daily means in one statement (one array per column), or in a batch
        judged together with its other outlets' (:meth:`BatchWrites.write_days`)."""
        outlet = (self.outlet.id, self.now, results)
        if self._batch is not None:
            self._batch.days.append(outlet)
        else:
            store_days(self.conn, [outlet])

    # --- judgement -------------------------------------------------------------------------

    def _judge(
        self,
        lim: Limit,
        period_start: datetime,
        measured: Decimal | None,
        converted: Decimal | None,
        result: MeanResult | DayResult,
    ) -> None:
        value = value_to_judge(lim, measured, converted)
        if value is None:
            return  # a valid mean that cannot be converted (no O₂) is not judged
        verdict = judge(value, lim)
        details = PeriodDetails(
            str(value),
            None if measured is None else str(measured),
            None if converted is None else str(converted),
            self._limit_details(lim),
            f"{result.valid_count}/{result.expected_count}",
        )
        key = (lim.pollutant, lim.period, lim.id, lim.source, period_start)
        absent = period_start in self._no_periods and key not in self._judged
        self._judged.add(key)
        case_key = key[:4]
        open_keys = self._open_exceedances()
        if absent and not verdict.exceeds and case_key not in open_keys:
            return  # judge_period would find no case to record it in
        transitions = judge_period(
            self.conn,
            outlet_id=self.outlet.id,
            pollutant=lim.pollutant,
            period=lim.period,
            limit_id=lim.id,
            limit_source=lim.source,
            limit_value=lim.value,
            period_start=period_start,
            verdict=verdict,
            policy=self.policy,
            details=details,
            no_case_has_period=absent,
            open_cases=self._open_cases,
            no_open_case=case_key not in open_keys,
            pending=self._pending,
            no_closed_case=self._closed_keys is not None and case_key not in self._closed_keys,
        )
        for t in transitions:
            if t.action in ("opened", "reopened"):
                open_keys.add(case_key)
            elif t.action == "closed":
                open_keys.discard(case_key)
                if self._closed_keys is not None:
                    self._closed_keys.add(case_key)
        self.transitions += transitions

    def _limit_details(self, lim: Limit) -> LimitDetails:
        """:func:`limit_details` of a limit with their JSON, made once per limit: every mean
        judged by it copies them into its details."""
        made = self._details_of.get(id(lim))
        if made is None or made[0] is not lim:
            made = self._details_of[id(lim)] = (lim, LimitDetails(lim))
        return made[1]

    def use_open_cases(self, cases: OpenCases) -> None:
        """The keys of the outlet's open exceedance cases, the pollutants of its open fault
        cases and the keys of the closed exceedance cases that may span a period it judges,
        read for a batch of outlets (see :func:`read_open_cases`) under its lock; and the open
        exceedance cases' rows, locked, in judge_period's cache."""
        self._open_keys, self._open_faults = cases.exceedances, cases.faults
        self._open_cases.update(cases.rows)
        self._closed_keys = cases.closed_since

    def forget_cases(self) -> None:
        """Read the open cases again when next needed (after a rolled-back savepoint, whose
        transitions did not happen)."""
        self._open_keys = None
        self._open_cases.clear()
        self._pending.clear()

    def _open_exceedances(self) -> set[_CaseKey]:
        if self._open_keys is None:
            rows = self.conn.execute(
                "SELECT pollutant, period, limit_id, subject FROM cases "
                "WHERE kind = 'exceedance' AND outlet_id = %s AND state = 'open'",
                (self.outlet.id,),
            )
            self._open_keys = {(p, period, int(lid), subject) for p, period, lid, subject in rows}
        return self._open_keys


# The days' hourly means, as daily_mean takes them (by pollutant, in time order); the flags as
# their JSON text (see _flags_of). hourly_means' primary key is (outlet_id, pollutant,
# hour_start): each outlet's pollutants are found first, one descent of the key each (a
# recursive "loose index scan"), and the key descended to each one's day, as the minutes' read
# does with its series (_READ_HOURS): bounded by the outlet alone, the read walked all of the
# outlet's hourly means to find its days' (OFFSET 0: a lateral subquery, so that the plan
# descends the key by pollutant and day and never scans the table for a hash join).
_DAYS_HOURS = """
WITH RECURSIVE q AS (
    SELECT * FROM unnest(%b::int[], %b::timestamptz[], %b::timestamptz[]) AS q(outlet_id, lo, hi)
), p AS (
    SELECT f.* FROM (SELECT DISTINCT outlet_id FROM q) o CROSS JOIN LATERAL (
        SELECT h.outlet_id, h.pollutant FROM hourly_means h
        WHERE h.outlet_id = o.outlet_id ORDER BY h.pollutant LIMIT 1
    ) f
    UNION ALL
    SELECT f.* FROM p CROSS JOIN LATERAL (
        SELECT h.outlet_id, h.pollutant FROM hourly_means h
        WHERE h.outlet_id = p.outlet_id AND h.pollutant > p.pollutant
        ORDER BY h.pollutant LIMIT 1
    ) f
)
SELECT q.outlet_id, q.lo, p.pollutant, h.* FROM q JOIN p ON p.outlet_id = q.outlet_id
CROSS JOIN LATERAL (
    SELECT h.hour_start, h.source, h.mean, h.zs_reported, h.converted, h.o2_mean, h.valid_count,
        h.expected_count, h.valid, h.reason, h.flags::text FROM hourly_means h
    WHERE h.outlet_id = q.outlet_id AND h.pollutant = p.pollutant AND h.hour_start >= q.lo
        AND h.hour_start < q.hi
    OFFSET 0
) h
ORDER BY 1, 2, 3, 4
"""


@functools.lru_cache(maxsize=1024)
def _flags_of(text: str) -> Mapping[str, int]:
    """An hour's samples per flag from its JSON text, read only: there are few different ones
    (usually 60 of one flag), so each is parsed once and shared."""
    return MappingProxyType(json.loads(text))


def _by_hour(row: tuple[Any, ...]) -> Any:
    return row[1]


def _pollutant_hour(row: tuple[Any, ...]) -> Any:
    return row[0], row[1]


def read_days(
    conn: psycopg.Connection, days: Mapping[int, tuple[Evaluation, Iterable[date]]]
) -> dict[int, dict[date, _DayRead]]:
    """What the day step of these outlets' days reads, in two statements for all of them:
    outlet → local day → (its rows of hourly_means, its flat-line spreads: None for a day not
    over, which is not screened)."""
    wanted = [
        (ev, day, *ev.outlet.day_bounds(day))
        for ev, outlet_days in days.values()
        for day in sorted(set(outlet_days))
    ]
    out: dict[int, dict[date, _DayRead]] = {outlet_id: {} for outlet_id in days}
    if not wanted:
        return out
    # Sent first and its rows taken after the spreads' read: in a pipeline both come in one
    # round trip (the spreads' read does not depend on these rows).
    hours_read = conn.execute(
        _DAYS_HOURS,
        (
            [ev.outlet.id for ev, *_ in wanted],
            [lo for *_, lo, _ in wanted],
            [hi for *_, hi in wanted],
        ),
        prepare=True,  # sent once per batch: planned once, not at each of the first five
    )
    final = [w for w in wanted if w[0].day_over(w[1])]
    # Per day the rows of the hours whose minutes were read (see hour_spreads), and the runs
    # of its other hours, whose rows the database gives (the whole day if it does not start on
    # a whole UTC hour); a run starts a whole number of hours into the day, so its hours are
    # the day's. Rows by pollutant and hour, as read_spreads gives them.
    parts: dict[tuple[int, datetime], tuple[list[tuple[Any, ...]], list[datetime]]] = {}
    in_database: list[tuple[int, datetime, datetime, Sequence[str]]] = []
    for ev, day, lo, hi in final:
        part = ev.spreads_in_part(day, lo, hi)
        rows, runs = ([], [(lo, hi)]) if part is None else part
        parts[(ev.outlet.id, lo)] = rows, [run_lo for run_lo, _ in runs]
        pollutants = flat_line_pollutants(ev.limits(day))
        in_database += [(ev.outlet.id, run_lo, run_hi, pollutants) for run_lo, run_hi in runs]
    read = read_spreads(conn, in_database)
    hours: dict[tuple[int, datetime], list[tuple[Any, ...]]] = defaultdict(list)
    for outlet_id, lo, *row in hours_read:
        hours[(outlet_id, lo)].append(tuple(row))
    spreads: dict[tuple[int, datetime], list[tuple[Any, ...]]] = {}
    for (outlet_id, lo), (rows, run_starts) in parts.items():
        if run_starts:
            rows = sorted(
                [*rows, *(row for run_lo in run_starts for row in read[(outlet_id, run_lo)])],
                key=_pollutant_hour,
            )
        spreads[(outlet_id, lo)] = rows
    for ev, day, lo, _ in wanted:
        key = (ev.outlet.id, lo)
        out[ev.outlet.id][day] = (hours[key], spreads.get(key))
    return out


# The means' upserts, of one outlet or of every outlet of a batch judged together (each row its
# outlet and the time its evaluation computed it): prepared at their first execution on a
# connection (psycopg's default is the sixth), so a new connection's first batch does not parse
# and plan them five times each; a long-lived connection has them prepared either way.
# An hourly mean judged again (a replay, a recalled hour, late data of another pollutant) whose
# stored columns would not change by a byte (record_image_eq: 1.5 and 1.50 differ, as their text
# does) is not rewritten: no new row version, index entries or WAL, and its computed_at stays
# the time those values were first computed, so the publisher's watermark does not send it
# again. A daily mean is always rewritten: its computed_at says when the day was last judged
# (Evaluator.finish_days judges a day again until that is after the day was final).
_STORE_DAYS = """
INSERT INTO daily_means (outlet_id, computed_at, pollutant, day, source, mean, zs_reported,
    converted, o2_mean, valid_count, expected_count, valid, reason)
SELECT * FROM unnest(%b::int[], %b::timestamptz[], %b::text[], %b::date[], %b::text[],
    %b::numeric[], %b::numeric[], %b::numeric[], %b::numeric[], %b::int[], %b::int[],
    %b::bool[], %b::text[])
ON CONFLICT (outlet_id, pollutant, day) DO UPDATE SET
    source = EXCLUDED.source, mean = EXCLUDED.mean, zs_reported = EXCLUDED.zs_reported,
    converted = EXCLUDED.converted, o2_mean = EXCLUDED.o2_mean,
    valid_count = EXCLUDED.valid_count, expected_count = EXCLUDED.expected_count,
    valid = EXCLUDED.valid, reason = EXCLUDED.reason, computed_at = EXCLUDED.computed_at
"""
_STORE_HOURS = """
INSERT INTO hourly_means (outlet_id, computed_at, pollutant, hour_start, source, mean,
    zs_reported, converted, o2_mean, valid_count, expected_count, valid, reason, flags)
SELECT * FROM unnest(%b::int[], %b::timestamptz[], %b::text[], %b::timestamptz[], %b::text[],
    %b::numeric[], %b::numeric[], %b::numeric[], %b::numeric[], %b::int[], %b::int[],
    %b::bool[], %b::text[], %b::jsonb[])
ON CONFLICT (outlet_id, pollutant, hour_start) DO UPDATE SET
    source = EXCLUDED.source, mean = EXCLUDED.mean, zs_reported = EXCLUDED.zs_reported,
    converted = EXCLUDED.converted, o2_mean = EXCLUDED.o2_mean,
    valid_count = EXCLUDED.valid_count, expected_count = EXCLUDED.expected_count,
    valid = EXCLUDED.valid, reason = EXCLUDED.reason, flags = EXCLUDED.flags,
    computed_at = EXCLUDED.computed_at
WHERE NOT record_image_eq(
    ROW(hourly_means.source, hourly_means.mean, hourly_means.zs_reported,
        hourly_means.converted, hourly_means.o2_mean, hourly_means.valid_count,
        hourly_means.expected_count, hourly_means.valid, hourly_means.reason,
        hourly_means.flags),
    ROW(EXCLUDED.source, EXCLUDED.mean, EXCLUDED.zs_reported, EXCLUDED.converted,
        EXCLUDED.o2_mean, EXCLUDED.valid_count, EXCLUDED.expected_count, EXCLUDED.valid,
        EXCLUDED.reason, EXCLUDED.flags))
"""
# What is upserted of one outlet: its id, the time its evaluation computed the means, and the
# means by pollutant.
_OutletHours = tuple[int, datetime, Sequence[tuple[str, MeanResult]]]
_OutletDays = tuple[int, datetime, Sequence[tuple[str, DayResult]]]


def store_hours(conn: psycopg.Connection, outlets: Sequence[_OutletHours]) -> None:
    """Upsert the hourly means of these outlets in one statement (one array per column)."""
    rows = [(o, at, p, *_mean_row(r)) for o, at, results in outlets for p, r in results]
    if rows:
        conn.execute(_STORE_HOURS, pgcopy.columns(_hour_kinds(conn), rows), prepare=True)


def store_days(conn: psycopg.Connection, outlets: Sequence[_OutletDays]) -> None:
    """Upsert the daily means of these outlets in one statement (one array per column)."""
    rows = [(o, at, p, *_day_row(r)) for o, at, results in outlets for p, r in results]
    if rows:
        conn.execute(_STORE_DAYS, pgcopy.columns(_day_kinds(conn), rows), prepare=True)


class BatchWrites:
    """What the outlets of a batch judged together write in one statement each instead of one
    per outlet: their hourly means (those :meth:`Evaluation.hour_means` writes before any
    judgement), their daily means, and the periods, cases' aggregates and events that
    :class:`~schemas.cases.transitions.PendingPeriods` keeps (one shared by the batch's
    evaluations: a flush writes every outlet's, in the order they happened). Each statement
    saved is about 50 µs of this process's and its backend's CPU together (bench/README.md,
    fifteenth round). The caller sends :meth:`write_hours` after the batch's means and before
    its judgements, :meth:`write_days` after its daily means, and flushes ``pending`` before
    the batch's savepoint ends; a failure rolls back the whole batch, whose evaluations are
    then dropped (nothing kept here is written twice)."""

    __slots__ = ("days", "hours", "pattern_cases", "pattern_days", "pending")

    def __init__(self) -> None:
        self.hours: list[_OutletHours] = []
        self.days: list[_OutletDays] = []
        self.pending = PendingPeriods()
        # The (outlet, day start) of each outlet's first day to screen for patterns, whose
        # pattern cases write_days reads for all of them in one statement (no pattern case of
        # the outlet changes before that day is screened: only its screening changes them).
        self.pattern_days: list[tuple[int, datetime]] = []
        self.pattern_cases: PatternCasesRead | None = None

    def write_hours(self, conn: psycopg.Connection) -> None:
        store_hours(conn, self.hours)
        self.hours.clear()

    def write_days(self, conn: psycopg.Connection) -> None:
        store_days(conn, self.days)
        self.days.clear()
        if self.pattern_days:
            self.pattern_cases = PatternCasesRead(conn, self.pattern_days)
            self.pattern_days.clear()


# The columns a mean shares with a daily mean, in the order of the upserts' arrays.
_MEAN_COLUMNS = attrgetter(
    "source",
    "mean",
    "zs_reported",
    "converted",
    "o2_mean",
    "valid_count",
    "expected_count",
    "valid",
    "reason",
)


def _mean_kinds(conn: psycopg.Connection) -> list[pgcopy.Column]:
    """How the columns of ``_MEAN_COLUMNS`` are sent (schemas/core/pgcopy.py; registered on
    ``conn``): psycopg's list dumper spends over 1 µs an element on Decimals, in Python. The
    numbers go as text (``numeric``'s own digits, exact) and are cast to numeric[] in SQL."""
    pgcopy.register_arrays(conn.adapters)
    text = _text_kind(conn)
    numeric: pgcopy.Column = (pgcopy.TextArray, pgcopy.numeric_text)
    count: pgcopy.Column = (pgcopy.Int4Array, pgcopy.int4)
    return [
        text,  # source
        *[numeric] * 4,  # mean, zs_reported, converted, o2_mean
        _once_each(count),  # valid_count
        _once_each(count),  # expected_count
        (pgcopy.BoolArray, pgcopy.boolean),  # valid
        text,  # reason
    ]


def _text_kind(conn: psycopg.Connection) -> pgcopy.Column:
    """A text column, encoded as ``conn``'s client encoding says; each text once per
    statement (the means' pollutants, sources, reasons and flags are few different ones)."""
    encode = functools.partial(pgcopy.text, encoding=conn.info.encoding)
    return (pgcopy.TextArray, functools.lru_cache(maxsize=_FIELDS_KEPT)(encode))


_FIELDS_KEPT = 1024  # fields of one column a statement encodes once each
_OUTLET: pgcopy.Column = (pgcopy.Int4Array, pgcopy.int4)
_AT: pgcopy.Column = (pgcopy.TimestamptzArray, pgcopy.timestamptz)


def _once_each(column: pgcopy.Column) -> pgcopy.Column:
    """``column`` with each of its values encoded once per statement (a batch's outlets share
    their hours and the time they were computed at)."""
    return column[0], functools.lru_cache(maxsize=_FIELDS_KEPT)(column[1])


def _hour_kinds(conn: psycopg.Connection) -> list[pgcopy.Column]:
    """How the columns of ``_STORE_HOURS`` are sent (outlet, computed at, pollutant,
    :func:`_mean_row`)."""
    # the flags as text, cast to jsonb[]
    return [
        *(_once_each(_OUTLET), _once_each(_AT), _text_kind(conn), _once_each(_AT)),
        *(*_mean_kinds(conn), _text_kind(conn)),
    ]


def _day_kinds(conn: psycopg.Connection) -> list[pgcopy.Column]:
    """How the columns of ``_STORE_DAYS`` are sent (outlet, computed at, pollutant,
    :func:`_day_row`)."""
    day: pgcopy.Column = (pgcopy.DateArray, pgcopy.date)
    return [_OUTLET, _AT, _text_kind(conn), day, *_mean_kinds(conn)]


def _mean_row(r: MeanResult) -> tuple[Any, ...]:
    return (r.hour_start, *_MEAN_COLUMNS(r), _flags_json(tuple(r.flags.items())))


@functools.lru_cache(maxsize=1024)
def _flags_json(flags: tuple[tuple[str, int], ...]) -> str:
    """An hour's samples per flag as JSON: few different ones (usually 60 of one flag), so
    each is made once."""
    return json.dumps(dict(flags))


def _day_row(r: DayResult) -> tuple[Any, ...]:
    return (r.day, *_MEAN_COLUMNS(r))


_Series = dict[str, dict[str, Sequence[Sample]]]  # pollutant → kind → samples in time order


def _series() -> _Series:
    return defaultdict(lambda: defaultdict(list))


_ONE_HOUR = 3600.0


def read_hours(
    conn: psycopg.Connection, hours: dict[int, list[datetime]]
) -> tuple[dict[int, dict[datetime, _Series]], dict[int, set[datetime]]]:
    """The samples of many outlets' hours (:func:`read_minutes`) and per outlet the hours at
    which none of its exceedance cases has a period (:func:`read_no_periods`)."""
    out = read_minutes(conn, hours)
    return out, read_no_periods(conn, {o: list(by_hour) for o, by_hour in out.items()})


def read_minutes(
    conn: psycopg.Connection, hours: dict[int, list[datetime]]
) -> dict[int, dict[datetime, _Series]]:
    """The samples of many outlets' hours, read in one statement: outlet → hour → series.

    The minutes are read by ranges of each outlet's hours (hours less than a day apart share
    one range, read along the primary key), one row per (range, pollutant, kind) with the
    samples as arrays in time order, and cut into the queued hours here (by bisection: the
    database neither sorts nor groups by hour). Hours not on a whole UTC hour (the queue's
    are; one queued by hand might not be) are left out, and are read on their own when
    judged."""
    return MinutesRead(conn, hours).result()


class MinutesRead:
    """:func:`read_minutes` sent now and read when :meth:`result` is first called: in a
    pipeline, the statement is sent without waiting for it, so a batch sends each outlet's read
    first and takes each one's rows when it judges that outlet, while the database reads the
    next ones (on the evaluator's own connection and in its transaction: no thread, no second
    connection)."""

    __slots__ = ("_cursor", "_in_range", "_out")

    def __init__(self, conn: psycopg.Connection, hours: dict[int, list[datetime]]) -> None:
        lows: list[datetime] = []
        highs: list[datetime] = []
        ranges: list[int] = []
        # (outlet, low) → its hours and their starts in microseconds (each hour's once, not
        # once per pollutant and kind read)
        in_range: dict[tuple[int, datetime], list[tuple[datetime, int]]] = {}
        out: dict[int, dict[datetime, _Series]] = {}
        for outlet_id, outlet_hours in hours.items():
            aligned = sorted({h for h in outlet_hours if h.timestamp() % _ONE_HOUR == 0})
            if not aligned:
                continue
            out[outlet_id] = {h: _series() for h in aligned}
            low = prev = aligned[0]
            group = [(low, epoch_micros(low))]
            for h in aligned[1:]:
                if h - prev > _RANGE_GAP or h - low >= _OFFSET_EXACT - _HOUR:
                    lows.append(low)
                    highs.append(prev + _HOUR)
                    ranges.append(outlet_id)
                    in_range[(outlet_id, low)] = group
                    low, group = h, []
                group.append((h, epoch_micros(h)))
                prev = h
            lows.append(low)
            highs.append(prev + _HOUR)
            ranges.append(outlet_id)
            in_range[(outlet_id, low)] = group
        self._in_range, self._out = in_range, out
        self._cursor: psycopg.Cursor[Any] | None = None
        if ranges:
            self._cursor = conn.cursor()
            # Prepared at once: a batch sends it once per outlet, and the server then plans it
            # (a lateral over measurement_rows) once for its generic plan rather than once
            # for each of its first executions. In binary: integer arrays (see _READ_HOURS).
            self._cursor.execute(_READ_HOURS, (ranges, lows, highs), prepare=True, binary=True)
            if conn.pgconn.pipeline_status:
                # The server sends a pipeline's results when asked (a sync or a flush request)
                # or when its buffer fills: asked now, this read's rows come as soon as it is
                # done, not after everything sent behind it.
                conn.pgconn.send_flush_request()
                conn.pgconn.flush()

    def result(self) -> dict[int, dict[datetime, _Series]]:
        """The samples read: outlet → hour → series (the rows are taken the first time)."""
        cursor, self._cursor = self._cursor, None
        if cursor is None:
            return self._out
        out, in_range = self._out, self._in_range
        for outlet_id, low, pollutant, kind, first_us, count, times, *arrays in cursor:
            micros: Sequence[int]
            flags = arrays[6]
            value, value_exact = _stored(*arrays[0:3])
            zs: list[Decimal | None] | None
            if arrays[4] is None:  # no Zs value (see _READ_HOURS): as _stored reads NULLs
                zs, zs_exact = [None] * count, None
            else:
                zs, zs_exact = _stored(*arrays[3:6])
            if times is None:  # one sample a minute (see _READ_HOURS): in time order as made
                micros = range(first_us, first_us + count * MINUTE_US, MINUTE_US)
            elif all(map(lt, times, islice(times, 1, None))):
                micros = times
            else:  # (never seen: the arrays are aggregated in time order) each Decimal made
                columns: list[list[Any]] = [
                    exact.decimals() if exact is not None else decimals or []
                    for decimals, exact in ((value, value_exact), (zs, zs_exact))
                ]
                micros, value, zs, flags = _in_time_order(times, [*columns, flags])
                value_exact = zs_exact = None
            by_hour = out[outlet_id]
            # Each hour's samples [i, j): found by bisection, or, of one sample a minute (a
            # range), counted: the first at or after the hour's start is minute ⌈(start − first)
            # / 1 min⌉ of the series (within 0 … count, and from the previous hour's end on), as
            # bisect_left finds it in a range without asking it for a dozen of its times.
            j = 0
            every_minute = isinstance(micros, range)
            for start, start_us in in_range[(outlet_id, low)]:
                if every_minute:
                    i = min(max((start_us - first_us - 1) // MINUTE_US + 1, j), count)
                    j = min(max((start_us + HOUR_US - first_us - 1) // MINUTE_US + 1, i), count)
                else:
                    i = bisect_left(micros, start_us, j)
                    j = bisect_left(micros, start_us + HOUR_US, i)
                if j > i:
                    by_hour[start][pollutant][kind] = SampleColumns(
                        None,
                        None if value is None else value[i:j],
                        None if zs is None else zs[i:j],
                        flags[i:j],
                        micros=micros[i:j],
                        value_exact=_part(value_exact, i, j),
                        zs_exact=_part(zs_exact, i, j),
                    )
        cursor.close()
        return out


# The (outlet, hour) pairs at which one of the outlet's exceedance cases has a period. Of the
# batch's outlets that have an exceedance case at all (an index probe each, LIMIT 1), the periods
# at their hours by their start (case_periods_start_idx, migration 0030), each distinct hour
# once, each period's case by its key (OFFSET 0: a nested loop on cases_pkey, never a scan of
# cases), then matched to the pairs. Bounded by the cases that judged those hours, whatever the
# outlet's case history (by the outlet, as it was until the seventeenth round, it probed every
# case the outlet ever had), and read once for the batch: until the eighteenth round each pair
# probed the periods at its hour until one was of its outlet's cases, so a read grew with its
# pairs times the cases that judged their hours (one read of 200 outlets' same hour, each outlet
# with two open cases: 60,942 buffers and 55 ms, now 1,805 and under 2 ms).
_NO_PERIODS_READ = """
WITH q AS MATERIALIZED (
    SELECT * FROM unnest(%b::int[], %b::timestamptz[]) AS q(outlet_id, start)
), o AS MATERIALIZED (
    SELECT o.outlet_id FROM (SELECT DISTINCT q.outlet_id FROM q) o CROSS JOIN LATERAL (
        SELECT FROM cases c WHERE c.outlet_id = o.outlet_id AND c.kind = 'exceedance' LIMIT 1
    ) c
), x AS MATERIALIZED (
    SELECT c.outlet_id, p.period_start FROM case_periods p CROSS JOIN LATERAL (
        SELECT c.outlet_id FROM cases c WHERE c.id = p.case_id AND c.kind = 'exceedance' OFFSET 0
    ) c
    WHERE p.period_start = ANY(ARRAY(
        SELECT DISTINCT q.start FROM q WHERE q.outlet_id IN (SELECT o.outlet_id FROM o)
    ))
)
SELECT DISTINCT q.outlet_id, q.start FROM q
JOIN x ON x.outlet_id = q.outlet_id AND x.period_start = q.start
"""


def read_no_periods(
    conn: psycopg.Connection, hours: dict[int, list[datetime]]
) -> dict[int, set[datetime]]:
    """Per outlet, those of its hours at which none of its exceedance cases has a period, in
    one query."""
    return NoPeriodsRead(conn, hours).result()


class NoPeriodsRead:
    """:func:`read_no_periods` sent now and read when :meth:`result` is called: in a pipeline,
    a batch sends it with its other reads and takes all of their rows in one round trip."""

    __slots__ = ("_cursor", "_out")

    def __init__(self, conn: psycopg.Connection, hours: dict[int, list[datetime]]) -> None:
        self._out = {outlet_id: set(outlet_hours) for outlet_id, outlet_hours in hours.items()}
        pairs = [(o, h) for o, outlet_hours in self._out.items() for h in outlet_hours]
        self._cursor: psycopg.Cursor[Any] | None = None
        if pairs:
            self._cursor = conn.execute(
                _NO_PERIODS_READ,
                ([o for o, _ in pairs], [h for _, h in pairs]),
                prepare=True,  # sent once per batch: planned once, not at each of the first five
            )

    def result(self) -> dict[int, set[datetime]]:
        cursor, self._cursor = self._cursor, None
        if cursor is not None:
            for outlet_id, start in cursor:
                self._out[outlet_id].discard(start)
        return self._out


@dataclass(frozen=True, slots=True)
class OpenCases:
    """What :func:`read_open_cases` read of one outlet's cases."""

    exceedances: set[_CaseKey]  # keys of its open exceedance cases
    faults: set[str]  # pollutants of its open fault cases
    closed_since: set[_CaseKey]  # keys of its exceedance cases closed with last_at ≥ since
    # its open exceedance cases, locked, as judge_period keeps them (see open_exceedances)
    rows: dict[tuple[Any, ...], dict[str, Any]]


# Per outlet, its open exceedance and fault cases (cases_one_open_per_key) and its closed
# exceedance cases with last_at ≥ since (cases_closed_exceedance_last_idx, migration 0030): two
# index ranges, bounded by the open cases and the window judged. (Until the seventeenth round one
# condition with an OR read every case of the outlet: cases_outlet_idx is by opened_at.)
_OPEN_CASES_READ = """
SELECT q.outlet_id, c.kind, c.pollutant, c.period, c.limit_id, c.subject, c.is_open
FROM unnest(%b::bigint[], %b::timestamptz[]) AS q(outlet_id, since) CROSS JOIN LATERAL (
    SELECT o.kind, o.pollutant, o.period, o.limit_id, o.subject, true AS is_open FROM cases o
    WHERE o.kind IN ('exceedance', 'fault') AND o.outlet_id = q.outlet_id AND o.state = 'open'
    UNION ALL
    SELECT d.kind, d.pollutant, d.period, d.limit_id, d.subject, false FROM cases d
    WHERE d.kind = 'exceedance' AND d.state = 'closed' AND d.outlet_id = q.outlet_id
        AND d.last_at >= q.since
) c
"""


def read_open_cases(
    conn: psycopg.Connection, since: Mapping[int, datetime]
) -> dict[int, OpenCases]:
    """Per outlet, its open exceedance and fault cases, and the keys of its closed exceedance
    cases whose latest exceeding period is at or after ``since`` (the start of the earliest
    period it judges: only such a case can span a period judged, see ``judge_period``), in one
    query; and the open exceedance cases' rows, locked, with their periods' aggregates
    (:func:`~schemas.cases.transitions.open_exceedances`), in another."""
    rows = open_exceedances(conn, list(since))
    out = {o: OpenCases(set(), set(), set(), rows[o]) for o in since}
    for outlet_id, kind, pollutant, period, limit_id, subject, is_open in conn.execute(
        _OPEN_CASES_READ,
        (list(since), list(since.values())),
        prepare=True,  # sent once per batch: planned once, not at each of the first five
    ):
        cases = out[outlet_id]
        if kind == "fault":
            cases.faults.add(pollutant)
        elif is_open:
            cases.exceedances.add((pollutant, period, int(limit_id), subject))
        else:
            cases.closed_since.add((pollutant, period, int(limit_id), subject))
    return out


_HOUR, _MINUTE = timedelta(hours=1), timedelta(minutes=1)
_RANGE_GAP = timedelta(hours=24)  # queued hours further apart are read as separate ranges
# A sample's offset from the start of its range is read as float8 seconds, times 10⁶, rounded:
# exact below 2³¹ s (68 years), where the float8 seconds are within 0.12 µs of the offset and
# the product within 0.125 µs more, under the half microsecond that rounding forgives. Ranges
# are cut before they are that long.
_OFFSET_EXACT = timedelta(seconds=2**31)
# One row per (range, pollutant, kind) with rows in the range: the outlet's series
# (outlet_series, migration 0029: on plain PostgreSQL one descent of the primary key each,
# whatever the outlet's history) and each one's minutes of the range along the key, aggregated in
# time order (the index gives ts for one series), so the arrays are in time order; read_hours
# checks that they are (and sorts them if a plan ever did not keep it). The key is descended to
# each series' range: bounded by the outlet alone, as it was until the seventeenth round, the
# read walked every entry of the outlet's history to find its hours (bench/README.md).
# The times come as whole microseconds since the Unix epoch, which decode several times faster
# than timestamptz and are compared as integers: the range's start in numeric arithmetic (once a
# range: OFFSET 0 keeps it from being inlined into every row), plus each sample's offset from it
# in float8, a third of numeric's cost a row and exact all the same (see _OFFSET_EXACT). A series
# of one sample on every minute from its first to its last (the usual minute record: times on
# whole minutes from the range's start, date_bin's exact integer test, distinct by the primary
# key, as many as the minutes from the first to the last) comes as its first time and count, its
# times' array NULL: the client makes those times at C speed instead of decoding a number per
# sample (a fifth of the read's CPU in this process). The server then computes no offset per
# sample either: only the series that is not such a record (a gap, seconds past the minute) has
# its times aggregated, by a second descent of the key to its range (until the nineteenth round
# every sample's offset was computed and aggregated, and the array thrown away: with the Zs
# values' below, a sixth of the read's CPU on the server, bench/README.md).
# The values and Zs values come as the table keeps them, in binary: per series the mantissas
# (bigint), the scales (smallint; -1 where the value is wide) and the wide values alone
# (numeric, in order; NULL when there are none). The server then neither makes nor prints a
# numeric per value, and the client keeps a series whose values are all pairs as integers
# (Exact: the rules sum those where that gives the same Decimal; the Decimals, made when asked
# for, are Decimal(f"{m}E-{s}"), as exact_text's and numeric's text give them); see _stored.
# A series' Zs values are aggregated only where present (a FILTER: no aggregate called for a
# sample without one): none (O₂, temperature, flow … never have one) comes as NULL arrays, which
# the client reads as every Zs value NULL, as those arrays read; all of them, as the full
# arrays; only some (rare), as the full arrays again, by a second descent to the range.
# Binary, as the integers and the times decode fastest so.
_READ_HOURS = """
WITH r AS (
    SELECT r.*, (extract(epoch FROM r.lo) * 1000000)::bigint AS lo_us
    FROM unnest(%b::int[], %b::timestamptz[], %b::timestamptz[]) AS r(outlet_id, lo, hi) OFFSET 0
)
SELECT r.outlet_id, r.lo, s.pollutant, s.kind,
    r.lo_us + round(date_part('epoch', a.first - r.lo) * 1000000)::bigint, a.n,
    CASE WHEN a.minutes AND a.first + (a.n - 1) * interval '1 minute' = a.last THEN NULL ELSE (
        SELECT array_agg(r.lo_us + round(date_part('epoch', m.ts - r.lo) * 1000000)::bigint
            ORDER BY m.ts)
        FROM measurement_rows m
        WHERE m.outlet_id = r.outlet_id AND m.pollutant = s.pollutant AND m.kind = s.kind
            AND m.ts >= r.lo AND m.ts < r.hi
    ) END,
    a.value_mantissa, a.value_scale, a.value_wide,
    CASE WHEN a.zs_value_scale IS NULL OR cardinality(a.zs_value_scale) = a.n
        THEN a.zs_value_mantissa ELSE z.mantissa END,
    CASE WHEN a.zs_value_scale IS NULL OR cardinality(a.zs_value_scale) = a.n
        THEN a.zs_value_scale ELSE z.scale END,
    CASE WHEN a.zs_value_scale IS NULL OR cardinality(a.zs_value_scale) = a.n
        THEN a.zs_value_wide ELSE z.wide END,
    a.flags
FROM r
CROSS JOIN LATERAL outlet_series(r.outlet_id, r.lo, r.hi) s
CROSS JOIN LATERAL (
    SELECT min(m.ts) AS first, max(m.ts) AS last, count(*) AS n,
        bool_and(date_bin('1 minute', m.ts, r.lo) = m.ts) AS minutes,
        array_agg(m.value_mantissa) AS value_mantissa, array_agg(m.value_scale) AS value_scale,
        array_agg(m.value_wide) FILTER (WHERE m.value_wide IS NOT NULL) AS value_wide,
        array_agg(m.zs_value_mantissa) FILTER (WHERE m.zs_value_present) AS zs_value_mantissa,
        array_agg(m.zs_value_scale) FILTER (WHERE m.zs_value_present) AS zs_value_scale,
        array_agg(m.zs_value_wide) FILTER (WHERE m.zs_value_wide IS NOT NULL) AS zs_value_wide,
        array_agg(m.flag) AS flags
    FROM (
        SELECT m.ts, m.flag, m.value_mantissa, m.zs_value_mantissa,
            CASE WHEN m.value_wide IS NULL THEN m.value_scale ELSE -1::smallint END
                AS value_scale, m.value_wide,
            CASE WHEN m.zs_value_wide IS NULL THEN m.zs_value_scale ELSE -1::smallint END
                AS zs_value_scale, m.zs_value_wide,
            m.zs_value_scale IS NOT NULL OR m.zs_value_wide IS NOT NULL AS zs_value_present
        FROM measurement_rows m
        WHERE m.outlet_id = r.outlet_id AND m.pollutant = s.pollutant AND m.kind = s.kind
            AND m.ts >= r.lo AND m.ts < r.hi
        ORDER BY m.ts
    ) m
    HAVING count(*) > 0
) a
LEFT JOIN LATERAL (
    SELECT array_agg(m.zs_value_mantissa ORDER BY m.ts) AS mantissa,
        array_agg(CASE WHEN m.zs_value_wide IS NULL THEN m.zs_value_scale ELSE -1::smallint END
            ORDER BY m.ts) AS scale,
        array_agg(m.zs_value_wide ORDER BY m.ts) FILTER (WHERE m.zs_value_wide IS NOT NULL) AS wide
    FROM measurement_rows m
    WHERE a.zs_value_scale IS NOT NULL AND cardinality(a.zs_value_scale) <> a.n
        AND m.outlet_id = r.outlet_id AND m.pollutant = s.pollutant AND m.kind = s.kind
        AND m.ts >= r.lo AND m.ts < r.hi
) z ON true
WHERE s.kind IN ('rtd', 'min', 'hour')
"""


def _stored(
    mantissas: list[int | None], scales: list[int | None], wide: list[Decimal] | None
) -> tuple[list[Decimal | None] | None, Exact | None]:
    """A series' values as read (see _READ_HOURS): as :class:`Exact` when every one is a pair
    (no Decimal made yet), else each one's Decimal (None for NULL), the Decimal that
    exact_text (migration 0027) reads as: '{m}E-{s}', or the wide value."""
    n = len(scales)
    first = scales[0] if n else None
    if first is not None and first >= 0 and scales.count(first) == n:
        return None, Exact(cast("list[int]", mantissas), first)
    nulls = scales.count(None)
    if nulls == n:
        return [None] * n, None
    if wide is None and not nulls:  # pairs of several scales
        return None, Exact(cast("list[int]", mantissas), cast("list[int]", scales))
    return pair_decimals(mantissas, scales, wide or ()), None


def _part(exact: Exact | None, i: int, j: int) -> Exact | None:
    return None if exact is None else exact.part(i, j)


def _in_time_order(times: list[Any], columns: list[list[Any]]) -> tuple[list[Any], ...]:
    """The arrays of one series, in time order (as read, unless they were not)."""
    if all(map(lt, times, islice(times, 1, None))):
        return (times, *columns)
    order = sorted(range(len(times)), key=times.__getitem__)
    return tuple([column[k] for k in order] for column in (times, *columns))


def _interval(samples: Sequence[Sample]) -> int:
    """The logger's minute-data interval, from the spacing of its samples."""
    if isinstance(samples, SampleColumns):
        micros = samples.micros
        if isinstance(micros, range) and micros.step == MINUTE_US and len(micros) > 1:
            return 1  # (a series of one sample a minute, as read: every step a minute)
    else:
        micros = [epoch_micros(s[0]) for s in samples]
    if MINUTE_US in map(sub, micros[1:], micros):  # stops at the first such step
        return 1  # the shortest step of a minute or more is one minute (the usual logger)
    shortest = min((d for d in map(sub, micros[1:], micros) if d >= MINUTE_US), default=None)
    gap = 1 if shortest is None else shortest // MINUTE_US  # whole minutes, as a logger counts
    return max((i for i in _MINUTE_INTERVALS if i <= gap), default=1)


def _sent_hour(sample: Sample, start: datetime, valid_flags: frozenset[str]) -> MeanResult:
    """The logger's own hourly value, when neither minute nor real-time data came."""
    valid = sample.flag in valid_flags and sample.value is not None
    return MeanResult(
        hour_start=start,
        source="hour",
        mean=sample.value,
        zs_reported=sample.zs_value,
        converted=sample.zs_value,
        o2_mean=None,
        valid_count=1 if valid else 0,
        expected_count=1,
        valid=valid,
        reason=None if valid else f"hourly value sent with flag {sample.flag}",
        flags={sample.flag or "none": 1},
    )
