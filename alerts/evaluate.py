"""Evaluating an outlet's hours and days: valid means with coverage, then the judgement of
every limit in force, as the regulator does (regulations.md §A.8–A.9).

- Hourly means come from minute data when the logger sent it, else from real-time data, else
  from the logger's own hourly values; only valid data counts (data_flags.valid).
- Flue gas is judged on the concentration converted to the limit's reference O₂; water on the
  measured concentration.
- Daily means are computed whenever an hour changes, and judged against daily limits once the
  local day is over (plus a grace period for late data); late data re-judges them.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Any, Literal
from zoneinfo import ZoneInfo

import psycopg

from alerts.cases import CasePolicy, Transition, judge_period
from alerts.faults import check_faults
from alerts.patterns import check_patterns
from alerts.rules import (
    DayResult,
    MeanResult,
    Sample,
    daily_mean,
    exceedance_multiple,
    exceeds,
    hourly_mean,
)
from schemas.limits import Limit, ValidityRules, limits_for_outlet, load_validity_rules
from schemas.pattern_rules import PatternRules, load_pattern_rules

__all__ = ["OXYGEN", "Evaluation", "OutletContext", "load_outlet"]

OXYGEN = "a19001"
_MINUTE_INTERVALS = (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30)  # HJ 212-2017 Table 4, MinInterval


@dataclass(frozen=True, slots=True)
class OutletContext:
    id: int
    kind: str  # gas | water
    timezone: ZoneInfo

    def local_day(self, at: datetime) -> date:
        return at.astimezone(self.timezone).date()

    def day_bounds(self, day: date) -> tuple[datetime, datetime]:
        start = datetime.combine(day, time(0), tzinfo=self.timezone)
        return start, datetime.combine(day + timedelta(days=1), time(0), tzinfo=self.timezone)


def load_outlet(conn: psycopg.Connection, outlet_id: int) -> OutletContext | None:
    row = conn.execute(
        "SELECT id, kind, timezone FROM outlets WHERE id = %s", (outlet_id,)
    ).fetchone()
    return None if row is None else OutletContext(row[0], row[1], ZoneInfo(row[2]))


class Evaluation:
    """One pass over one outlet, inside the caller's transaction (which holds the outlet lock).
    Caches the limits and validity rules per day."""

    def __init__(
        self, conn: psycopg.Connection, outlet: OutletContext, policy: CasePolicy, now: datetime,
        day_grace: timedelta, fault_after_hours: int = 2,
    ) -> None:  # fmt: skip
        self.conn, self.outlet, self.policy, self.now = conn, outlet, policy, now
        self.day_grace = day_grace
        self.fault_after_hours = fault_after_hours
        self._pattern_rules: dict[date, PatternRules] = {}
        self._limits: dict[date, list[Limit]] = {}
        self._rules: dict[date, ValidityRules] = {}
        self._valid_flags: frozenset[str] | None = None
        self.transitions: list[Transition] = []

    # --- reference data ------------------------------------------------------------------

    def limits(self, day: date) -> list[Limit]:
        if day not in self._limits:
            self._limits[day] = limits_for_outlet(self.conn, self.outlet.id, day)
        return self._limits[day]

    def rules(self, day: date) -> ValidityRules:
        if day not in self._rules:
            self._rules[day] = load_validity_rules(self.conn, self.outlet.kind, day)
        return self._rules[day]

    def pattern_rules(self, day: date) -> PatternRules:
        if day not in self._pattern_rules:
            self._pattern_rules[day] = load_pattern_rules(self.conn, day)
        return self._pattern_rules[day]

    def valid_flags(self) -> frozenset[str]:
        if self._valid_flags is None:
            rows = self.conn.execute("SELECT DISTINCT code FROM data_flags WHERE valid")
            self._valid_flags = frozenset(code for (code,) in rows)
        return self._valid_flags

    def reference_o2(self, pollutant: str, day: date) -> Decimal | None:
        if self.outlet.kind != "gas":
            return None
        for period in ("hour", "day"):
            for lim in self.limits(day):
                if lim.pollutant == pollutant and lim.period == period and lim.reference_o2:
                    return lim.reference_o2
        return None

    # --- hours -----------------------------------------------------------------------------

    def hours(self, starts: Iterable[datetime]) -> None:
        days: set[date] = set()
        for start in sorted(set(starts)):
            self.hour(start)
            days.add(self.outlet.local_day(start))
        self.days(days)

    def hour(self, start: datetime) -> None:
        day = self.outlet.local_day(start)
        series = self._samples(start)
        oxygen = series.get(OXYGEN, {})
        for pollutant, kinds in series.items():
            result = self._hour_mean(pollutant, kinds, oxygen, start, day)
            if result is None:
                continue
            self._store_hour(pollutant, result)
            self.transitions += check_faults(
                self.conn, outlet_id=self.outlet.id, pollutant=pollutant, hour_start=start,
                flags=result.flags, valid=result.valid, after_hours=self.fault_after_hours,
                rules=self.pattern_rules(day),
            )  # fmt: skip
            if result.valid:
                for lim in self.limits(day):
                    if lim.pollutant == pollutant and lim.period == "hour":
                        self._judge(lim, start, result.mean, result.converted, result)

    def _samples(self, start: datetime) -> dict[str, dict[str, list[Sample]]]:
        rows = self.conn.execute(
            "SELECT pollutant, kind, ts, value, zs_value, flag FROM measurements "
            "WHERE outlet_id = %s AND ts >= %s AND ts < %s AND kind IN ('rtd', 'min', 'hour') "
            "ORDER BY ts",
            (self.outlet.id, start, start + timedelta(hours=1)),
        )
        out: dict[str, dict[str, list[Sample]]] = defaultdict(lambda: defaultdict(list))
        for pollutant, kind, ts, value, zs, flag in rows:
            out[pollutant][kind].append(Sample(ts, value, zs, flag))
        return out

    def _hour_mean(
        self,
        pollutant: str,
        kinds: dict[str, list[Sample]],
        oxygen: dict[str, list[Sample]],
        start: datetime,
        day: date,
    ) -> MeanResult | None:
        rules, o2_ref = self.rules(day), self.reference_o2(pollutant, day)
        source: Literal["min", "rtd"]
        for source in ("min", "rtd"):
            if kinds.get(source):
                samples = kinds[source]
                return hourly_mean(
                    samples, oxygen.get(source, []), hour_start=start, source=source,
                    o2_ref=o2_ref, rules=rules, valid_flags=self.valid_flags(),
                    interval_minutes=_interval(samples) if source == "min" else 1,
                )  # fmt: skip
        sent = kinds.get("hour")
        return _sent_hour(sent[-1], start, self.valid_flags()) if sent else None

    def _store_hour(self, pollutant: str, r: MeanResult) -> None:
        self.conn.execute(
            """INSERT INTO hourly_means (outlet_id, pollutant, hour_start, source, mean,
                   zs_reported, converted, o2_mean, valid_count, expected_count, valid, reason,
                   flags, computed_at)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
               ON CONFLICT (outlet_id, pollutant, hour_start) DO UPDATE SET
                   source = EXCLUDED.source, mean = EXCLUDED.mean,
                   zs_reported = EXCLUDED.zs_reported, converted = EXCLUDED.converted,
                   o2_mean = EXCLUDED.o2_mean, valid_count = EXCLUDED.valid_count,
                   expected_count = EXCLUDED.expected_count, valid = EXCLUDED.valid,
                   reason = EXCLUDED.reason, flags = EXCLUDED.flags,
                   computed_at = EXCLUDED.computed_at""",
            (self.outlet.id, pollutant, r.hour_start, r.source, r.mean, r.zs_reported,
             r.converted, r.o2_mean, r.valid_count, r.expected_count, r.valid, r.reason,
             json.dumps(dict(r.flags)), self.now),
        )  # fmt: skip

    # --- days ------------------------------------------------------------------------------

    def days(self, days: Iterable[date]) -> None:
        for day in sorted(days):
            self.day(day)

    def day(self, day: date) -> None:
        start, end = self.outlet.day_bounds(day)
        final = end + self.day_grace <= self.now
        rules = self.rules(day)
        by_pollutant: dict[str, list[MeanResult]] = defaultdict(list)
        for row in self.conn.execute(
            "SELECT pollutant, hour_start, source, mean, zs_reported, converted, o2_mean, "
            "valid_count, expected_count, valid, reason, flags FROM hourly_means "
            "WHERE outlet_id = %s AND hour_start >= %s AND hour_start < %s",
            (self.outlet.id, start, end),
        ):
            by_pollutant[row[0]].append(MeanResult(*row[1:]))
        for pollutant, hours in by_pollutant.items():
            result = daily_mean(hours, day=day, rules=rules)
            self._store_day(pollutant, result)
            if final and result.valid:
                for lim in self.limits(day):
                    if lim.pollutant == pollutant and lim.period == "day":
                        self._judge(lim, start, result.mean, result.converted, result)
        if final:
            self.transitions += check_patterns(
                self.conn, outlet_id=self.outlet.id, day_start=start, day_end=end,
                limits=self.limits(day), rules=self.pattern_rules(day),
                zs_tolerance_pct=rules.zs_mismatch_tolerance_pct,
                o2_max=rules.o2_max_for_conversion,
            )  # fmt: skip

    def _store_day(self, pollutant: str, r: DayResult) -> None:
        self.conn.execute(
            """INSERT INTO daily_means (outlet_id, pollutant, day, source, mean, zs_reported,
                   converted, o2_mean, valid_count, expected_count, valid, reason, computed_at)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
               ON CONFLICT (outlet_id, pollutant, day) DO UPDATE SET
                   source = EXCLUDED.source, mean = EXCLUDED.mean,
                   zs_reported = EXCLUDED.zs_reported, converted = EXCLUDED.converted,
                   o2_mean = EXCLUDED.o2_mean, valid_count = EXCLUDED.valid_count,
                   expected_count = EXCLUDED.expected_count, valid = EXCLUDED.valid,
                   reason = EXCLUDED.reason, computed_at = EXCLUDED.computed_at""",
            (self.outlet.id, pollutant, r.day, r.source, r.mean, r.zs_reported, r.converted,
             r.o2_mean, r.valid_count, r.expected_count, r.valid, r.reason, self.now),
        )  # fmt: skip

    # --- judgement -------------------------------------------------------------------------

    def _judge(
        self,
        lim: Limit,
        period_start: datetime,
        measured: Decimal | None,
        converted: Decimal | None,
        result: MeanResult | DayResult,
    ) -> None:
        value = converted if lim.reference_o2 is not None else measured
        if value is None:
            return  # a valid mean that cannot be converted (no O₂) is not judged
        exceeding = exceeds(value, lim)
        multiple = exceedance_multiple(value, lim.value) if exceeding else Decimal(0)
        details: dict[str, Any] = {
            "value": str(value), "measured": None if measured is None else str(measured),
            "converted": None if converted is None else str(converted),
            "limit": str(lim.value), "limit_min": None if lim.value_min is None else str(lim.value_min),
            "unit": lim.unit, "reference_o2": None if lim.reference_o2 is None else str(lim.reference_o2),
            "limit_source": lim.source, "standard": lim.standard, "category": lim.category,
            "source_document": lim.source_document, "clause": lim.clause,
            "limit_confirmed": lim.confirmed, "limit_version": lim.version,
            "coverage": f"{result.valid_count}/{result.expected_count}",
        }  # fmt: skip
        self.transitions += judge_period(
            self.conn, outlet_id=self.outlet.id, pollutant=lim.pollutant, period=lim.period,
            limit_id=lim.id, limit_source=lim.source, limit_value=lim.value,
            period_start=period_start, value=value, multiple=multiple, exceeding=exceeding,
            policy=self.policy, details=details,
        )  # fmt: skip


def _interval(samples: Sequence[Sample]) -> int:
    """The logger's minute-data interval, from the spacing of its samples."""
    gaps = [int((b.ts - a.ts).total_seconds() // 60) for a, b in pairwise(samples)]
    gap = min((g for g in gaps if g > 0), default=1)
    return max((i for i in _MINUTE_INTERVALS if i <= gap), default=1)


def _sent_hour(sample: Sample, start: datetime, valid_flags: frozenset[str]) -> MeanResult:
    """The logger's own hourly value, when neither minute nor real-time data came."""
    valid = sample.flag in valid_flags and sample.value is not None
    return MeanResult(
        hour_start=start, source="hour", mean=sample.value, zs_reported=sample.zs_value,
        converted=sample.zs_value, o2_mean=None, valid_count=1 if valid else 0, expected_count=1,
        valid=valid, reason=None if valid else f"hourly value sent with flag {sample.flag}",
        flags={sample.flag or "none": 1},
    )  # fmt: skip
