"""Instrument faults: runs of hours the data logger itself flagged as fault (D), calibration (C)
or maintenance (M) — HJ 212-2017 Table 8.

An hour is a *fault hour* as HJ 212-2017 marks an interval abnormal (notes to Tables C.16–C.18;
docs/regulations.md#fault-intervals, docs/regulation-values.md#pattern-rules): flue gas when more
than ``rules.fault_hour_share_gas`` (25 %) of its samples carry one of ``rules.fault_flags``,
wastewater when at least ``rules.fault_hour_values_water`` (one) of its values does. It is a fault hour *for* the fault flag
most of those samples carry (on a tie, the first of ``rules.fault_flags``). When the last
``after_hours`` consecutive hours of a pollutant (hourly means, no gap) are all fault hours of the
same flag, a ``fault`` case with subject ``flag-X`` opens (or the open one is extended); the next
valid hour of that pollutant that is not a fault hour closes it. Re-evaluating hours changes
nothing: a run already recorded in a closed case is not opened again.

The flags are the logger's own statement; the case asks staff to check the instrument and the
marking, it is not a finding.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import psycopg

from schemas.cases.transitions import Transition, close_case, open_case
from schemas.codes.pattern_rules import PatternRules

__all__ = ["check_faults", "fault_flag", "fault_rule"]

_MAJOR = frozenset({"D"})  # instrument fault; calibration and maintenance are warnings
NOTE_ZH = "数采仪上报的数据标记，提示仪器故障、校准或维护，供核查；非违法认定"
NOTE_EN = (
    "flags reported by the data logger (instrument fault, calibration or maintenance): "
    "an indicator for review, not a finding"
)


def fault_flag(flags: Mapping[str, int], rules: PatternRules, medium: str) -> str | None:
    """The fault flag this hour of a ``medium`` ('gas' or 'water') outlet is a fault hour for,
    or None; ``flags`` = samples per flag."""
    total = sum(flags.values())
    faulty = {f: flags.get(f, 0) for f in rules.fault_flags if flags.get(f, 0) > 0}
    if not rules.interval.abnormal(sum(faulty.values()), total, medium):
        return None
    return max(faulty, key=lambda f: (faulty[f], -rules.fault_flags.index(f)))


def fault_rule(medium: str) -> str:
    """The name of the pattern rule that makes an hour of ``medium`` a fault hour."""
    return "fault_hour_share_gas" if medium == "gas" else "fault_hour_values_water"


def check_faults(
    conn: psycopg.Connection,
    *,
    outlet_id: int,
    pollutant: str,
    medium: str,
    hour_start: datetime,
    flags: Mapping[str, int],
    valid: bool,
    after_hours: int,
    rules: PatternRules,
) -> list[Transition]:
    """Judge one stored hourly mean of one pollutant; returns the transitions it caused.

    Call it after the hour is stored in ``hourly_means`` (the earlier hours of the run are
    read from there), inside the transaction that holds the outlet lock."""
    if after_hours < 1:
        raise ValueError(f"after_hours must be at least 1, got {after_hours}")
    flag = fault_flag(flags, rules, medium)
    if flag is None:
        return _close(conn, outlet_id, pollutant, hour_start) if valid else []
    first = hour_start - timedelta(hours=after_hours - 1)
    before = conn.execute(
        "SELECT hour_start, flags FROM hourly_means WHERE outlet_id = %s AND pollutant = %s "
        "AND hour_start >= %s AND hour_start < %s ORDER BY hour_start",
        (outlet_id, pollutant, first, hour_start),
    ).fetchall()
    expected = [first + timedelta(hours=i) for i in range(after_hours - 1)]
    if [h for h, _ in before] != expected or any(
        fault_flag(f, rules, medium) != flag for _, f in before
    ):
        return []
    subject = f"flag-{flag}"
    case = conn.execute(
        "SELECT state, first_at, last_at FROM cases WHERE kind = 'fault' AND outlet_id = %s "
        "AND pollutant = %s AND subject = %s "
        "AND (state = 'open' OR (first_at <= %s AND last_at >= %s)) "
        "ORDER BY (first_at <= %s AND last_at >= %s) DESC, state = 'open' DESC, id DESC LIMIT 1",
        (outlet_id, pollutant, subject, hour_start, first, hour_start, first),
    ).fetchone()
    if case is not None and case[0] == "closed":
        return []  # this run is already in a case that was closed since
    since = first if case is None else case[1]
    until = hour_start if case is None else max(case[2], hour_start)
    total = sum(flags.values())
    details: dict[str, Any] = {
        "flag": flag,
        **_meaning(conn, flag),
        "hours": _fault_hours(conn, outlet_id, pollutant, medium, flag, since, until, rules),
        "after_hours": after_hours,
        "latest_hour": hour_start.isoformat(),
        "latest_share": f"{sum(flags.get(f, 0) for f in rules.fault_flags) / total:.3f}",
        "latest_samples": dict(flags),
        "rules": rules.describe("fault_flags", fault_rule(medium)),
        "note_zh": NOTE_ZH,
        "note_en": NOTE_EN,
    }
    _, transitions = open_case(
        conn,
        kind="fault",
        outlet_id=outlet_id,
        pollutant=pollutant,
        subject=subject,
        severity="major" if flag in _MAJOR else "warning",
        first_at=first,
        last_at=hour_start,
        details=details,
    )
    return transitions


def _meaning(conn: psycopg.Connection, flag: str) -> dict[str, str | None]:
    row = conn.execute(
        "SELECT name_zh, name_en FROM data_flags WHERE code = %s "
        "ORDER BY standard = 'HJ 212-2017' DESC, standard LIMIT 1",
        (flag,),
    ).fetchone()
    return {"meaning_zh": row[0] if row else None, "meaning_en": row[1] if row else None}


def _fault_hours(
    conn: psycopg.Connection,
    outlet_id: int,
    pollutant: str,
    medium: str,
    flag: str,
    since: datetime,
    until: datetime,
    rules: PatternRules,
) -> int:
    rows = conn.execute(
        "SELECT flags FROM hourly_means WHERE outlet_id = %s AND pollutant = %s "
        "AND hour_start >= %s AND hour_start <= %s",
        (outlet_id, pollutant, since, until),
    )
    return sum(1 for (f,) in rows if fault_flag(f, rules, medium) == flag)


def _close(
    conn: psycopg.Connection, outlet_id: int, pollutant: str, hour_start: datetime
) -> list[Transition]:
    """A valid hour at or after the start of an open fault run closes its case."""
    rows = conn.execute(
        "SELECT id FROM cases WHERE kind = 'fault' AND outlet_id = %s AND pollutant = %s "
        "AND state = 'open' AND first_at <= %s ORDER BY id",
        (outlet_id, pollutant, hour_start),
    ).fetchall()
    out: list[Transition] = []
    for (case_id,) in rows:
        out += close_case(conn, case_id, f"normal data again at {hour_start.isoformat()}")
    return out
