"""Which outlet-hours (or days) a history recall should ask a logger for: the gaps of the
completeness record (:func:`schemas.completeness.gaps.gaps`, the one rule of what an outlet is
expected to send), in the record kinds a logger can be asked for again — minute (CN 2051), hour
(CN 2061) and day (CN 2031) records. On top of that rule, for recall:

- a kind is recalled only between the outlet's first and last hour with records of that kind
  in the window ``[since, until)``: a logger silent until now is an outage
  (``alerts/outages.py``), and its gap becomes recallable once it reports again; a kind the
  outlet never sent is not asked for, whatever the registry says (``sourcewatch check`` and the
  completeness rates show that);
- consecutive gap buckets (hours; days for day records) make one :class:`Gap`, at most
  ``max_hours`` long (31 days for day records);
- only whole UTC hours inside the window count for minute and hour records: the hour the
  window starts in and the hour it ends in (the hour still being reported) are left out, since
  they hold only part of what was sent;
- in the first and the last hour with minute records, only what was due between the records
  counts: a logger that started (or came back) at 10:10 was silent before, and one whose last
  record is of 16:01 is still uploading (a backlog) or has fallen silent — neither is a gap yet
  (``sourcewatch up`` once asked every simulated logger for the minutes before its start, and
  for the hour its history upload had reached).

*Records* are counted as a history query returns them: data packets, one per DataTime with
every pollutant in it; an hour's missing records are the most that any one pollutant lacks
(:attr:`schemas.completeness.gaps.Gap.packets_missing`). Nothing here scans ``measurements``;
call it every few minutes over a window of a day or two (a month for day records).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import psycopg

from schemas.completeness.gaps import gaps as completeness_gaps

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
    expected_per_hour: int  # records due in its first bucket (an hour; a day for day records)


# Per active outlet and kind: the first and the last hour with records in the window.
_REPORTED = """
SELECT o.id, o.mn, c.kind, min(c.hour_start), max(c.hour_start)
FROM completeness c JOIN outlets o ON o.id = c.outlet_id AND o.active
WHERE c.kind = ANY(%(kinds)s) AND c.hour_start >= %(since)s AND c.hour_start < %(until)s
  AND (%(outlet)s::bigint IS NULL OR c.outlet_id = %(outlet)s)
GROUP BY o.id, o.mn, c.kind
ORDER BY o.id, c.kind
"""


# The first and last minute record of an outlet's hour, by the primary key (one probe per
# pollutant of the hour's completeness record): the only read of ``measurements`` here, one hour
# of one outlet.
_RECORDS_SPAN = """
SELECT min(m.ts), max(m.ts) FROM measurements m
WHERE m.outlet_id = %(outlet)s AND m.kind = %(kind)s
  AND m.ts >= %(hour)s AND m.ts < %(hour)s + interval '1 hour'
  AND m.pollutant = ANY(ARRAY(SELECT c.pollutant FROM completeness c WHERE c.outlet_id = %(outlet)s
                              AND c.kind = %(kind)s AND c.hour_start = %(hour)s))
"""


def _missing_between_records(
    conn: psycopg.Connection[Any],
    outlet_id: int,
    kind: str,
    hour: datetime,
    hole: tuple[int, int],
    *,
    first: bool,
    last: bool,
) -> int:
    """What the first or last hour with records (``hole``: records due, most missing) lacks
    between its records: from the first record on in the first hour, up to the last in the
    last hour; records due in those slots less the most any pollutant received."""
    due, missing = hole
    row = conn.execute(_RECORDS_SPAN, {"outlet": outlet_id, "kind": kind, "hour": hour}).fetchone()
    if row is None or row[0] is None or due <= 1:
        return missing
    slot = timedelta(hours=1) / due
    lo = row[0] if first else hour
    hi = row[1] + slot if last else hour + timedelta(hours=1)
    due_between: int = -(-(hi - lo) // slot)  # slots from ``lo`` to ``hi``, rounded up
    return max(0, due_between - (due - missing))


def _hour_floor(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _window(kind: str, since: datetime, until: datetime) -> tuple[datetime, datetime]:
    if kind == "day":
        return since, until
    floor = _hour_floor(since)
    return (floor + _STEP[kind] if since != floor else floor), _hour_floor(until)


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
    found: list[Gap] = []
    windows = {kind: _window(kind, since, until) for kind in kinds}
    lo = min(w[0] for w in windows.values()) if windows else since
    hi = max(w[1] for w in windows.values()) if windows else since
    if lo >= hi:
        return []
    reported = conn.execute(
        _REPORTED, {"kinds": list(kinds), "since": lo, "until": hi, "outlet": outlet_id}
    ).fetchall()
    for oid, mn, kind, first, last in reported:
        k_lo, k_hi = windows[kind]
        # a day's record counts in the hour its local day starts, as its DataTime
        begin, end = max(first, k_lo), min(last + timedelta(hours=1), k_hi)
        if begin >= end:
            continue
        step = _STEP[kind]
        span = _DAY_SPAN if kind == "day" else timedelta(hours=max_hours)
        start = len(found)
        for hole in completeness_gaps(conn, oid, begin, end, now=_hour_floor(until)):
            if hole.kind != kind:
                continue
            missing = hole.packets_missing
            if kind == "min" and hole.hour_start in (first, last):
                missing = _missing_between_records(
                    conn,
                    oid,
                    kind,
                    hole.hour_start,
                    (hole.packets_due, missing),
                    first=hole.hour_start == first,
                    last=hole.hour_start == last,
                )
                if missing == 0:
                    continue
            last_gap = found[-1] if len(found) > start else None
            if (
                last_gap is not None
                and last_gap.end == hole.hour_start
                and last_gap.end - last_gap.begin < span
            ):
                found[-1] = Gap(
                    oid,
                    mn,
                    last_gap.cn,
                    last_gap.begin,
                    hole.hour_start + step,
                    last_gap.missing + missing,
                    last_gap.expected_per_hour,
                )
            else:
                found.append(
                    Gap(
                        oid,
                        mn,
                        KIND_CN[kind],
                        hole.hour_start,
                        hole.hour_start + step,
                        missing,
                        hole.packets_due,
                    )
                )
    found.sort(key=lambda g: (g.outlet_id, g.begin, g.cn))
    return found


def missing_records(
    conn: psycopg.Connection[Any], outlet_id: int, cn: str, begin: datetime, end: datetime
) -> int:
    """Records of the history query ``cn`` still missing from ``[begin, end)`` (whole
    buckets), by the completeness record: what a recall has left to heal."""
    kind = CN_KIND[cn]
    holes = completeness_gaps(conn, outlet_id, begin, end, now=end + timedelta(hours=1))
    return sum(h.packets_missing for h in holes if h.kind == kind)
