"""The evaluator's transitions of a case: what it concluded, kept per key and changed only here.

An exceedance case is keyed by (outlet, pollutant, averaging period, limit version): the first
valid exceeding mean opens it, more exceeding means and higher multiples escalate it, a run of
consecutive compliant valid means closes it. Re-judging a period (late or revised data) updates
that period in place, so replays change nothing and produce no new events. Other kinds
(outage, fault, pattern) are keyed by (kind, outlet, pollutant, subject) and opened and closed
by their detectors.

An open case nobody has acknowledged for a while is escalated one severity up, once
(:func:`escalate_unacknowledged`). Whether a mean exceeds and by how much is the one judgement
of :func:`schemas.limits.judgement.judge`; how serious the case is, :mod:`schemas.cases.policy`.

Every transition appends one ``case_events`` row (actor ``evaluator``); its id is what
notifications are sent for (the alerts process announces them). Callers hold
``pg_advisory_xact_lock(outlet_id)`` (see :func:`lock_outlet`), so one outlet's cases are only
ever changed by one transaction at a time; the partial unique index on open cases is the last
line of defence. What staff do with a case is :mod:`schemas.cases.workflow`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from json.encoder import encode_basestring_ascii
from types import MappingProxyType
from typing import Any, NamedTuple

import psycopg
from psycopg.rows import dict_row

from schemas.cases.kinds import SEVERITIES, higher_severity
from schemas.cases.model import MACHINE, EventId, EventIds, append_machine_event
from schemas.cases.policy import CasePolicy, severity_for
from schemas.core import pgcopy
from schemas.limits.judgement import Judgement
from schemas.limits.rules import Limit

__all__ = [
    "FreeQueue",
    "LimitDetails",
    "OpenedCase",
    "PendingPeriods",
    "PeriodDetails",
    "Transition",
    "close_case",
    "close_read_case",
    "escalate_unacknowledged",
    "free_queued_outlets",
    "judge_period",
    "limit_details",
    "lock_outlet",
    "open_case",
    "open_exceedances",
    "open_read_case",
    "try_lock_outlet",
    "try_lock_outlets",
    "unacknowledged",
]


@dataclass(frozen=True, slots=True)
class Transition:
    case: int | OpenedCase  # its id, or the case opened by a statement not read yet
    event: EventId  # of the case_events row it appended, read when needed (in a pipeline)
    action: str  # opened | escalated | closed | reopened | unack-escalated
    severity: str

    @property
    def case_id(self) -> int:
        return self.case if isinstance(self.case, int) else self.case.case_id

    @property
    def event_id(self) -> int:
        return self.event.id


class OpenedCase:
    """The case and event ids that :data:`_OPEN_CASE` returns (or the case id alone that
    :data:`_INSERT_CASE` returns), read when first asked for (in a pipeline, after the sync
    that brought them); also the row its :class:`EventId` reads."""

    __slots__ = ("_cursor", "_row")

    def __init__(self, cursor: psycopg.Cursor[Any]) -> None:
        self._cursor: psycopg.Cursor[Any] | None = cursor
        self._row: tuple[int, ...] | None = None

    @property
    def case_id(self) -> int:
        return self._read()[0]

    def fetchone(self) -> tuple[int]:
        """The event's id, as :class:`EventId` reads it."""
        return (self._read()[1],)

    def _read(self) -> tuple[int, ...]:
        if self._row is None:
            assert self._cursor is not None
            row = self._cursor.fetchone()
            if row is None:  # never, under the outlet's lock (see open_read_case)
                raise RuntimeError("a case said to have none open had one open")
            self._row, self._cursor = tuple(int(v) for v in row), None
        return self._row


def _case_id(case: int | OpenedCase) -> int:
    """A case's id, read if it was opened by a statement not read yet."""
    return case if isinstance(case, int) else case.case_id


@dataclass(slots=True)
class PendingPeriods:
    """Periods appended to open cases (a new case's first one included) that do not close
    them, those cases' new aggregates, and the events of :func:`judge_period`'s transitions, in
    the order they happened, not written yet: the caller of :func:`judge_period` writes them all
    in one statement with :meth:`flush`, before its savepoint ends and before it appends any
    other event (so the events' ids are in the order of their transitions, as one statement
    each gave them). ``judge_period`` flushes them itself before it reads or writes
    anything else, so the database is never read while they are pending; a caller whose
    savepoint is rolled back drops them with :meth:`clear`."""

    # the periods' rows, their columns in _PERIOD_COLUMNS' order
    periods: list[tuple[Any, ...]] = field(default_factory=list)
    # id (or the case opened, its id not read yet) → its latest changes
    cases: dict[int | OpenedCase, dict[str, Any]] = field(default_factory=dict)
    events: list[tuple[int | OpenedCase, str, str, str, EventId]] = field(default_factory=list)

    def event(
        self,
        case_id: int | OpenedCase,
        action: str,
        severity: str,
        detail: Mapping[str, Any] | PeriodDetails,
    ) -> EventId:
        """Keep an event of the evaluator's to be appended by :meth:`flush`; its id then."""
        event = EventId.later()
        self.events.append((case_id, action, severity, _details_text(detail), event))
        return event

    def flush(self, conn: psycopg.Connection) -> None:
        """Write the periods, the cases' aggregates and the events, as arrays of
        schemas/core/pgcopy.py (psycopg's list dumper spends over 1 µs an element on Decimals,
        in Python): the numbers as their text (exact), cast to numeric[] in SQL, and the details
        as text, cast to jsonb[]. The events' ids are read when first asked for (``EventId``),
        so in a pipeline nothing waits for them."""
        if not (self.periods or self.cases or self.events):
            return
        pgcopy.register_arrays(conn.adapters)
        text: pgcopy.Column = (
            pgcopy.TextArray,
            functools.partial(pgcopy.text, encoding=conn.info.encoding),
        )
        numeric: pgcopy.Column = (pgcopy.TextArray, pgcopy.numeric_text)
        case_id: pgcopy.Column = (pgcopy.Int8Array, pgcopy.int8)
        at: pgcopy.Column = (pgcopy.TimestamptzArray, pgcopy.timestamptz)
        period_kinds = [case_id, at, numeric, numeric, numeric]
        period_kinds += [(pgcopy.BoolArray, pgcopy.boolean), text]
        case_kinds: list[pgcopy.Column] = [case_id, at, at, numeric]
        case_kinds += [(pgcopy.Int4Array, pgcopy.int4), text]
        # a case opened in a pipeline has its id read here (see _open_unread)
        arrays = pgcopy.columns(
            period_kinds,
            ((_case_id(p[0]), *p[1:]) for p in self.periods),
        ) + pgcopy.columns(
            case_kinds,
            ([_case_id(i), *(c[k] for k in _CASE_COLUMNS)] for i, c in self.cases.items()),
        )
        # all in one statement (other tables, other rows: the order does not matter); an
        # empty side's arrays are empty and write nothing
        if not self.events:
            conn.execute(_FLUSH, arrays)
        else:
            events = pgcopy.columns(
                [case_id, text, text, text], ((_case_id(e[0]), *e[1:4]) for e in self.events)
            )
            cur = conn.cursor().execute(_FLUSH_WITH_EVENTS, (*arrays, MACHINE, *events))
            ids = EventIds(cur)
            for k, (*_, event) in enumerate(self.events):
                event.appended(ids, k)
        self.clear()

    def clear(self) -> None:
        self.periods.clear()
        self.cases.clear()
        self.events.clear()


_PERIOD_COLUMNS = ("case", "start", "value", "limit", "multiple", "compliant", "details")
_APPEND_PERIODS = """
INSERT INTO case_periods (case_id, period_start, value, limit_value, multiple, compliant, details)
SELECT * FROM unnest(%b::bigint[], %b::timestamptz[], %b::numeric[], %b::numeric[],
    %b::numeric[], %b::bool[], %b::jsonb[])
"""
_CASE_COLUMNS = ("first_at", "last_at", "max_multiple", "compliant_run", "severity")
_UPDATE_CASES = """
UPDATE cases c SET first_at = u.first_at, last_at = u.last_at, max_multiple = u.max_multiple,
    compliant_run = u.compliant_run, severity = u.severity
FROM unnest(%b::bigint[], %b::timestamptz[], %b::timestamptz[], %b::numeric[], %b::int[],
    %b::text[]) AS u(id, first_at, last_at, max_multiple, compliant_run, severity)
WHERE c.id = u.id
"""
_FLUSH = f"WITH p AS ({_APPEND_PERIODS})\n{_UPDATE_CASES}"
# The events inserted in the arrays' order (each row's id drawn from the sequence as it is
# inserted), each announced by the case_events_notify trigger as a single insert was.
_APPEND_EVENTS = """
INSERT INTO case_events (case_id, actor, action, severity, detail)
SELECT e.case_id, %s, e.action, e.severity, e.detail
FROM unnest(%b::bigint[], %b::text[], %b::text[], %b::jsonb[])
    AS e(case_id, action, severity, detail)
RETURNING id
"""
_FLUSH_WITH_EVENTS = (
    f"WITH p AS ({_APPEND_PERIODS}), u AS ({_UPDATE_CASES}), e AS ({_APPEND_EVENTS})\n"
    "SELECT id FROM e"
)


def limit_details(lim: Limit) -> dict[str, Any]:
    """What a case records of the limit it was judged by, in its (or its period's) details:
    the API, the published notices and the evidence bundle read it back from there."""
    return {
        "limit": str(lim.value),
        "unit": lim.unit,
        "period": lim.period,
        "limit_min": None if lim.value_min is None else str(lim.value_min),
        "reference_o2": None if lim.reference_o2 is None else str(lim.reference_o2),
        "limit_source": lim.source,
        "standard": lim.standard,
        "category": lim.category,
        "source_document": lim.source_document,
        "clause": lim.clause,
        "limit_confirmed": lim.confirmed,
        "limit_version": lim.version,
    }


def _dumps(details: Mapping[str, Any]) -> str:
    """Details as stored: their JSON text (the server parses it into jsonb)."""
    return json.dumps(details, default=str)


def _details_text(details: Mapping[str, Any] | PeriodDetails) -> str:
    return details.text() if isinstance(details, PeriodDetails) else _dumps(details)


class LimitDetails:
    """:func:`limit_details` of a limit, made once for every mean judged by it, with their
    JSON text (the members, without braces), which :meth:`PeriodDetails.text` copies."""

    __slots__ = ("fields", "members")

    def __init__(self, lim: Limit) -> None:
        fields = limit_details(lim)
        # PeriodDetails puts its own keys around these: none may be one of them
        assert not fields.keys() & {"value", "measured", "converted", "coverage"}
        self.fields: Mapping[str, Any] = MappingProxyType(fields)
        self.members = _dumps(fields)[1:-1]


class PeriodDetails(NamedTuple):
    """What a judged mean records in its period's details (and in those of the case it opens
    and of that case's "opened" or "reopened" event): the value judged, the mean as measured
    and converted (their text, None where there is none), the limit's details and the
    coverage. ``fields()`` is the details as a dict; ``text()`` their JSON text, the same as
    ``json.dumps(fields(), default=str)`` makes, made by joining the limit's JSON made once
    and the other members' strings (escaped as ``json.dumps`` escapes them), about ten times
    cheaper (a period's details are about 600 characters, most of them the limit's)."""

    value: str
    measured: str | None
    converted: str | None
    limit: LimitDetails
    coverage: str

    def fields(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "measured": self.measured,
            "converted": self.converted,
            **self.limit.fields,
            "coverage": self.coverage,
        }

    def text(self) -> str:
        measured, converted, members = self.measured, self.converted, self.limit.members
        return "".join(
            (
                '{"value": ',
                encode_basestring_ascii(self.value),
                ', "measured": ',
                "null" if measured is None else encode_basestring_ascii(measured),
                ', "converted": ',
                "null" if converted is None else encode_basestring_ascii(converted),
                ", " if members else "",
                members,
                ', "coverage": ',
                encode_basestring_ascii(self.coverage),
                "}",
            )
        )


_OUTLET_LOCK = 0x5357  # the advisory lock class of outlets' cases


def lock_outlet(conn: psycopg.Connection, outlet_id: int) -> None:
    """Serialise case changes per outlet until the transaction ends."""
    conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (_OUTLET_LOCK, outlet_id))


def try_lock_outlet(conn: psycopg.Connection, outlet_id: int) -> bool:
    """:func:`lock_outlet` without waiting: whether this transaction now holds the lock."""
    row = conn.execute(
        "SELECT pg_try_advisory_xact_lock(%s, %s)", (_OUTLET_LOCK, outlet_id)
    ).fetchone()
    return bool(row and row[0])


def try_lock_outlets(conn: psycopg.Connection, outlet_ids: Sequence[int]) -> list[int]:
    """:func:`try_lock_outlet` of each of ``outlet_ids`` in one statement: those whose locks
    this transaction now holds, in the given order."""
    rows = conn.execute(
        "SELECT u.outlet_id FROM unnest(%s::int[]) WITH ORDINALITY AS u(outlet_id, n) "
        "WHERE pg_try_advisory_xact_lock(%s, u.outlet_id) ORDER BY u.n",
        (list(outlet_ids), _OUTLET_LOCK),
    ).fetchall()
    return [int(outlet_id) for (outlet_id,) in rows]


@dataclass(frozen=True, slots=True)
class FreeQueue:
    """The evaluation queue as an evaluator about to take a batch sees it
    (:func:`free_queued_outlets`)."""

    outlets: list[tuple[int, int]]  # free outlets and their queued hours, longest queued first
    hours: int  # every queued hour, those of outlets other sessions hold included
    # Each other session holding queued outlets: their queued hours, and the seconds its
    # transaction has run (None where pg_stat_activity does not show it, another role's).
    held: list[tuple[int, float | None]] = field(default_factory=list)


# The queued outlets whose lock (lock_outlet) no other session holds, in the order queued, with
# their queued hours, and the queued hours of every outlet (summed before the WHERE and the
# LIMIT; an outlet being judged keeps its hours queued until its batch commits); then a row per
# other session holding queued outlets (outlet_id NULL): their hours and how long its
# transaction has run. One scan of the queue and one read of pg_locks.
_FREE_QUEUED = """
WITH held AS MATERIALIZED (
    SELECT l.objid::bigint AS outlet_id, l.pid FROM pg_locks l
    WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %(lock)s AND l.objsubid = 2
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND l.pid <> pg_backend_pid()
), queued AS MATERIALIZED (
    SELECT q.outlet_id, count(*) AS hours, min(q.queued_at) AS first_queued,
           sum(count(*)) OVER () AS every_hour
    FROM evaluation_queue q GROUP BY q.outlet_id
)
(SELECT q.outlet_id, q.hours, q.every_hour, NULL::float8 AS running_s FROM queued q
 WHERE q.outlet_id NOT IN (SELECT h.outlet_id FROM held h)
 ORDER BY q.first_queued, q.outlet_id LIMIT %(limit)s)
UNION ALL
SELECT NULL, sum(q.hours), max(q.every_hour),
       extract(epoch FROM clock_timestamp() - a.xact_start)::float8
FROM held h JOIN queued q ON q.outlet_id = h.outlet_id
LEFT JOIN pg_stat_activity a ON a.pid = h.pid
GROUP BY h.pid, a.xact_start
"""


def free_queued_outlets(conn: psycopg.Connection, limit: int) -> FreeQueue:
    """Up to ``limit`` outlets with hours in the evaluation queue whose lock
    (:func:`lock_outlet`) no other session holds (those an evaluator could take now), queued
    longest first, with their queued hours; the hours queued in all (the held outlets'
    included); and, per other session holding queued outlets, their hours and how long its
    transaction has run. One statement (the queue scanned once)."""
    rows = conn.execute(_FREE_QUEUED, {"lock": _OUTLET_LOCK, "limit": limit}).fetchall()
    if not rows:
        return FreeQueue([], 0)
    return FreeQueue(
        [(int(o), int(h)) for o, h, _, _ in rows if o is not None],
        int(rows[0][2]),
        [(int(h), running) for o, h, _, running in rows if o is None],
    )


def _event(
    conn: psycopg.Connection,
    case_id: int | OpenedCase,
    action: str,
    severity: str,
    detail: dict[str, Any] | PeriodDetails,
    pending: PendingPeriods | None = None,
) -> Transition:
    """The transition with its event appended, or kept in ``pending`` (appended by its
    flush)."""
    if pending is not None:
        return Transition(
            case_id, pending.event(case_id, action, severity, detail), action, severity
        )
    case_id = _case_id(case_id)
    if isinstance(detail, PeriodDetails):
        detail = detail.fields()
    return Transition(
        case_id, append_machine_event(conn, case_id, action, detail, severity), action, severity
    )


def judge_period(
    conn: psycopg.Connection,
    *,
    outlet_id: int,
    pollutant: str,
    period: str,
    limit_id: int,
    limit_source: str,
    limit_value: Decimal,
    period_start: datetime,
    verdict: Judgement,
    policy: CasePolicy,
    details: dict[str, Any] | PeriodDetails,
    no_case_has_period: bool = False,
    open_cases: dict[tuple[Any, ...], dict[str, Any]] | None = None,
    no_open_case: bool = False,
    pending: PendingPeriods | None = None,
    no_closed_case: bool = False,
) -> list[Transition]:
    """Record the verdict on one valid mean against one limit; returns the transitions it caused.

    A compliant period is stored with multiple 0, an exceeding one with the verdict's multiple
    (None where none is defined: a range limit such as pH, a zero limit). ``limit_source`` ('standard' or 'outlet') says which table ``limit_id`` is from; it is part
    of the case key (stored as the case's subject). ``no_case_has_period``: the caller knows
    that no case of this key has a period at ``period_start`` (the lookup is skipped).
    ``open_cases``: the caller's cache of open case rows by key, read and locked earlier in
    this transaction (the outlet lock held since); used instead of reading the open case
    again, and kept current (a key missing from it is read). ``no_open_case``: the caller
    knows that no case of this key is open (under the same lock; the lookup is skipped).
    ``pending``: where a period appended to an open case in ``open_cases`` that neither
    escalates nor closes it is kept (with the case's new aggregates) instead of written; see
    :class:`PendingPeriods`. ``no_closed_case``: the caller knows that no case of this key
    closed by the evaluator spans ``period_start`` (the lookup before opening one is skipped).
    ``details``: what the period records (the case it opens and the event, too), as a dict or
    as :class:`PeriodDetails`, whose JSON text is made cheaper (the same text)."""
    key = (outlet_id, pollutant, period, limit_id, limit_source)
    exceeding = verdict.exceeds
    # A new case opened without a lookup (the caller knows there is none to find): nothing
    # of the database is read but the new case, which nothing pending changes, so what is
    # pending (other cases', maybe other outlets' in a batch) stays pending, and the new
    # case's first period and event join it.
    opens = (
        exceeding
        and no_case_has_period
        and no_open_case
        and no_closed_case
        and open_cases is not None
        and key not in open_cases
    )
    if pending is not None:
        if no_case_has_period and open_cases is not None:
            case = open_cases.get(key)
            if case is not None:
                kept = _append_pending(
                    conn, pending, case, period_start, verdict, limit_value, policy, details
                )
                if kept is not None:
                    open_cases[key] = case | pending.cases[case["id"]]
                    return kept
        if not opens:
            pending.flush(conn)
    cur = conn.cursor(row_factory=dict_row)
    case = None
    if not no_case_has_period:
        case = cur.execute(
            "SELECT c.* FROM cases c JOIN case_periods p ON p.case_id = c.id "
            "WHERE c.kind = 'exceedance' AND c.outlet_id = %s AND c.pollutant = %s "
            "AND c.period = %s AND c.limit_id = %s AND c.subject = %s AND p.period_start = %s "
            "FOR UPDATE OF c",
            (*key, period_start),
        ).fetchone()
    if case is None:
        case = None if open_cases is None else open_cases.get(key)
        if case is not None and not isinstance(case["id"], int):  # opened in this pipeline
            case = {**case, "id": _case_id(case["id"])}
            assert open_cases is not None
            open_cases[key] = case
        if case is None and not no_open_case:
            case = cur.execute(
                "SELECT * FROM cases WHERE kind = 'exceedance' AND outlet_id = %s "
                "AND pollutant = %s AND period = %s AND limit_id = %s AND subject = %s "
                "AND state = 'open' FOR UPDATE",
                key,
            ).fetchone()
        if case is not None and not exceeding and period_start < case["last_at"]:
            case = None  # a late compliant mean from before the case's latest exceedance
    transitions: list[Transition] = []
    if case is None:
        if not exceeding:
            return []
        case = None if no_closed_case else _closed_case_spanning(cur, key, period_start)
        if case is not None and not _closed_by_evaluator(conn, case["id"], pending):
            case = None  # staff closed it: late data starts a new case instead
        if case is not None:
            cur.execute(
                "UPDATE cases SET state = 'open', closed_at = NULL, close_reason = NULL "
                "WHERE id = %s",
                (case["id"],),
            )
            transitions.append(
                _event(conn, case["id"], "reopened", case["severity"], details, pending)
            )
        else:
            severity = severity_for(1, verdict.multiple, policy)
            if opens and pending is not None:
                case = _open_unread(conn, key, period_start, severity, details)
            else:
                case = _insert_case(cur, key, period_start, severity, details)
            transitions.append(_event(conn, case["id"], "opened", severity, details, pending))
            if pending is not None:  # its first period, kept like the later ones
                kept = _append_pending(
                    conn, pending, case, period_start, verdict, limit_value, policy, details
                )
                if kept is not None:
                    if open_cases is not None:
                        open_cases[key] = case | pending.cases[case["id"]]
                    return transitions + kept
                pending.flush(conn)  # written before this period, in the order they happened
                case = {**case, "id": _case_id(case["id"])}
    row = {
        "case": case["id"],
        "start": period_start,
        "value": verdict.value,
        "limit": limit_value,
        "multiple": verdict.multiple if exceeding else _ZERO,
        "compliant": not exceeding,
        "details": _details_text(details),
    }
    known = case.get(_PERIODS)  # rows kept in open_cases and new cases carry the aggregates
    stats: tuple[Any, ...] | None
    if known is not None and (known[5] is None or period_start > known[5]):
        # A period after all of the case's: insert it without waiting (in a pipeline) and
        # update the aggregates we read with it, as _RECORD_PERIOD would have computed them.
        conn.execute(_APPEND_PERIOD, row)
        stats = _appended(known, period_start, verdict.multiple if exceeding else None, exceeding)
    else:
        stats = conn.execute(_RECORD_PERIOD, row).fetchone()
    assert stats is not None
    settled, still_open = _settle(conn, case, policy, stats, pending)
    if open_cases is not None:
        if still_open is None:
            if open_cases.get(key, {}).get("id") == case["id"]:  # not a later open case's
                open_cases.pop(key)
        else:
            open_cases[key] = {**still_open, _PERIODS: tuple(stats)}
    return transitions + settled


_PERIODS = "_periods"  # key of the aggregates kept with an open case row (see judge_period)
_NO_PERIODS = (0, None, None, None, 0, None)  # _RECORD_PERIOD's aggregates of no period
_ZERO = Decimal(0)  # a compliant period's multiple

_APPEND_PERIOD = """
INSERT INTO case_periods (case_id, period_start, value, limit_value, multiple, compliant, details)
VALUES (%(case)s, %(start)s, %(value)s, %(limit)s, %(multiple)s, %(compliant)s, %(details)s)
"""


def _append_pending(
    conn: psycopg.Connection,
    pending: PendingPeriods,
    case: dict[str, Any],
    start: datetime,
    verdict: Judgement,
    limit_value: Decimal,
    policy: CasePolicy,
    details: dict[str, Any] | PeriodDetails,
) -> list[Transition] | None:
    """What :func:`judge_period` does for a period after all of an open case's, with the period
    and the case's new aggregates kept in ``pending``, when it does not close the case: its
    transitions (an escalation's event, which is appended at once), or None when it closes it
    (nothing kept). The changes are those ``_settle`` writes."""
    known = case.get(_PERIODS)
    if case["state"] != "open" or known is None or (known[5] is not None and start <= known[5]):
        return None
    exceeding = verdict.exceeds
    stats = _appended(known, start, verdict.multiple if exceeding else None, exceeding)
    bad, max_multiple, first_at, last_at, run = stats[:5]
    if not bad or int(run) >= policy.close_after:
        return None  # it closes
    severity = severity_for(int(bad), max_multiple, policy)
    case_id = case["id"]
    pending.periods.append(  # a row of _PERIOD_COLUMNS
        (
            case_id,
            start,
            verdict.value,
            limit_value,
            verdict.multiple if exceeding else _ZERO,
            not exceeding,
            _details_text(details),
        )
    )
    # higher_severity(case's, severity), its ranks compared once
    escalates = SEVERITIES.index(severity) > SEVERITIES.index(case["severity"])
    pending.cases[case_id] = {
        "first_at": first_at,
        "last_at": last_at,
        "max_multiple": max_multiple,
        "compliant_run": int(run),
        "severity": severity if escalates else case["severity"],
        _PERIODS: stats,
    }
    if escalates:
        return [_escalated(conn, case_id, severity, bad, max_multiple, pending)]
    return []


def _escalated(
    conn: psycopg.Connection,
    case_id: int,
    severity: str,
    bad: Any,
    max_multiple: Any,
    pending: PendingPeriods | None = None,
) -> Transition:
    detail = {
        "exceeding_periods": int(bad),
        "max_multiple": None if max_multiple is None else str(max_multiple),
    }
    return _event(conn, case_id, "escalated", severity, detail, pending)


def _appended(
    stats: tuple[Any, ...], start: datetime, multiple: Decimal | None, exceeding: bool
) -> tuple[Any, ...]:
    """The aggregates of ``_RECORD_PERIOD`` after a period later than all the others."""
    bad, max_multiple, first_at, last_at, run, _ = stats
    if not exceeding:
        return bad, max_multiple, first_at, last_at, run + 1, start
    if multiple is not None and (max_multiple is None or multiple > max_multiple):
        max_multiple = multiple
    return bad + 1, max_multiple, first_at or start, start, 0, start


# Upsert the period and read the case's aggregates in one statement. The statement's snapshot
# does not see its own upsert, so the aggregates are over the other periods plus the period as
# given: the periods as they are after it. ``run`` is the number of compliant periods after the
# latest exceeding one. A period judged again whose stored columns would not change by a byte
# (a replay; record_image_eq, so 1.5 and 1.50 differ as their text does) is not rewritten: no
# new row version, index entries or WAL (the row is locked all the same).
_RECORD_PERIOD = """
WITH up AS (
    INSERT INTO case_periods (case_id, period_start, value, limit_value, multiple, compliant,
                              details)
    VALUES (%(case)s, %(start)s, %(value)s, %(limit)s, %(multiple)s, %(compliant)s, %(details)s)
    ON CONFLICT (case_id, period_start) DO UPDATE SET value = EXCLUDED.value,
        limit_value = EXCLUDED.limit_value, multiple = EXCLUDED.multiple,
        compliant = EXCLUDED.compliant, details = EXCLUDED.details
    WHERE NOT record_image_eq(
        ROW(case_periods.value, case_periods.limit_value, case_periods.multiple,
            case_periods.compliant, case_periods.details),
        ROW(EXCLUDED.value, EXCLUDED.limit_value, EXCLUDED.multiple, EXCLUDED.compliant,
            EXCLUDED.details))
), p AS (
    SELECT period_start, multiple, compliant FROM case_periods
    WHERE case_id = %(case)s AND period_start <> %(start)s
    UNION ALL
    SELECT %(start)s::timestamptz, %(multiple)s::numeric, %(compliant)s::bool
), s AS (
    SELECT count(*) FILTER (WHERE NOT compliant) AS bad,
           max(multiple) FILTER (WHERE NOT compliant) AS max_multiple,
           min(period_start) FILTER (WHERE NOT compliant) AS first_at,
           max(period_start) FILTER (WHERE NOT compliant) AS last_at
    FROM p
)
SELECT s.bad, s.max_multiple, s.first_at, s.last_at,
       (SELECT count(*) FROM p WHERE p.compliant AND p.period_start > s.last_at) AS run,
       (SELECT max(period_start) FROM p) AS latest
FROM s
"""


Key = tuple[int, str, str, int, str]  # outlet, pollutant, period, limit id, limit source

# The open exceedance cases of some outlets, each row locked as judge_period's lookup locks it,
# with the aggregates of its periods as _RECORD_PERIOD computes them (those judge_period keeps
# with an open case in its cache).
_OPEN_EXCEEDANCES = """
SELECT c.*, s.bad AS _bad, s.max_multiple AS _max_multiple, s.first_at AS _first_at,
    s.last_at AS _last_at,
    (SELECT count(*) FROM case_periods p WHERE p.case_id = c.id AND p.compliant
        AND p.period_start > s.last_at) AS _run,
    s.latest AS _latest
FROM cases c CROSS JOIN LATERAL (
    SELECT count(*) FILTER (WHERE NOT compliant) AS bad,
        max(multiple) FILTER (WHERE NOT compliant) AS max_multiple,
        min(period_start) FILTER (WHERE NOT compliant) AS first_at,
        max(period_start) FILTER (WHERE NOT compliant) AS last_at,
        max(period_start) AS latest
    FROM case_periods p WHERE p.case_id = c.id
) s
WHERE c.outlet_id = ANY(%s) AND c.kind = 'exceedance' AND c.state = 'open'
FOR UPDATE OF c
"""
_AGGREGATES = ("_bad", "_max_multiple", "_first_at", "_last_at", "_run", "_latest")


def open_exceedances(
    conn: psycopg.Connection, outlet_ids: Sequence[int]
) -> dict[int, dict[Key, dict[str, Any]]]:
    """Per outlet, its open exceedance cases by key, locked until the transaction ends, each as
    :func:`judge_period` keeps it in ``open_cases`` (the row and its periods' aggregates), in
    one statement: with them in its cache, a period later than all of a case's that does not
    close it is kept in ``pending`` (written with the others by one flush) instead of the case
    being read, the period written and the aggregates read back, and the case updated, one
    statement each. The caller holds the outlets' locks (only judge_period changes their
    exceedance cases' periods)."""
    out: dict[int, dict[Key, dict[str, Any]]] = {o: {} for o in outlet_ids}
    rows = conn.cursor(row_factory=dict_row).execute(
        _OPEN_EXCEEDANCES, (list(outlet_ids),), prepare=True
    )
    for row in rows:
        stats = tuple(row.pop(name) for name in _AGGREGATES)
        key = (row["outlet_id"], row["pollutant"], row["period"], row["limit_id"], row["subject"])
        out[row["outlet_id"]][key] = {**row, _PERIODS: stats}
    return out


def _closed_case_spanning(
    cur: psycopg.Cursor[dict[str, Any]], key: Key, at: datetime
) -> dict[str, Any] | None:
    return cur.execute(
        "SELECT * FROM cases WHERE kind = 'exceedance' AND outlet_id = %s AND pollutant = %s "
        "AND period = %s AND limit_id = %s AND subject = %s AND state = 'closed' "
        "AND first_at <= %s AND %s <= last_at ORDER BY id DESC LIMIT 1 FOR UPDATE",
        (*key, at, at),
    ).fetchone()


# An exceedance case opened (nothing when one of its key is open); what it returns follows
# (_open_unread: its id; _insert_case: its row).
_INSERT_CASE = """
INSERT INTO cases (kind, outlet_id, pollutant, period, limit_id, subject, severity, first_at,
    last_at, details)
VALUES ('exceedance', %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (kind, outlet_id, pollutant, period, limit_id, subject) WHERE state = 'open'
DO NOTHING RETURNING """


def _open_unread(
    conn: psycopg.Connection,
    key: Key,
    at: datetime,
    severity: str,
    details: dict[str, Any] | PeriodDetails,
) -> dict[str, Any]:
    """:func:`_insert_case` of a case :func:`judge_period` opens without a lookup (no case of
    its key open, none closed spanning ``at``, none with a period there: all known under the
    outlet's lock, which only judge_period's openings of exceedance cases take), without
    waiting for the statement (in a pipeline): its id is read when first needed, by the flush
    of the pending periods (:class:`OpenedCase`), so a batch opening twenty cases waits once,
    not twenty times. The row as judge_period uses it (id, state, severity, times, its
    periods' aggregates: none yet). Should a case of the key be open after all (the partial
    unique index), no id comes back and reading it raises: the batch is judged again, one
    outlet at a time, each reading its open cases anew."""
    cursor = conn.execute(
        _INSERT_CASE + "id", (*key, severity, at, at, _details_text(details)), prepare=True
    )
    return {
        "id": OpenedCase(cursor),
        "kind": "exceedance",
        "state": "open",
        "severity": severity,
        "first_at": at,
        "last_at": at,
        "max_multiple": None,
        "compliant_run": 0,
        _PERIODS: _NO_PERIODS,
    }


def _insert_case(
    cur: psycopg.Cursor[dict[str, Any]],
    key: Key,
    at: datetime,
    severity: str,
    details: dict[str, Any] | PeriodDetails,
) -> dict[str, Any]:
    created = cur.execute(
        _INSERT_CASE + "*", (*key, severity, at, at, _details_text(details))
    ).fetchone()
    if created is not None:  # a new case has no periods: their aggregates are empty
        return {**created, _PERIODS: _NO_PERIODS}
    created = cur.execute(  # another transaction opened it first
        "SELECT * FROM cases WHERE kind = 'exceedance' AND outlet_id = %s AND pollutant = %s "
        "AND period = %s AND limit_id = %s AND subject = %s AND state = 'open' FOR UPDATE",
        key,
    ).fetchone()
    assert created is not None
    return created


def _settle(
    conn: psycopg.Connection,
    case: dict[str, Any],
    policy: CasePolicy,
    stats: tuple[Any, ...],
    pending: PendingPeriods | None = None,
) -> tuple[list[Transition], dict[str, Any] | None]:
    """Escalate or close a case as its aggregates (see ``_RECORD_PERIOD``) say; returns the
    transitions (their events kept in ``pending`` if given) and the case's row as it now is if
    it is open (else None)."""
    bad, max_multiple, first_at, last_at, run = stats[:5]
    if not bad:
        reason = "the exceeding means were revised to compliant"
        return close_case(conn, case["id"], reason, pending), None
    compliant_run = int(run)
    severity = severity_for(int(bad), max_multiple, policy)
    changes = {
        "first_at": first_at,
        "last_at": last_at,
        "max_multiple": max_multiple,
        "compliant_run": compliant_run,
        "severity": higher_severity(case["severity"], severity),
    }
    update = (
        "UPDATE cases SET first_at = %(first_at)s, last_at = %(last_at)s, "
        "max_multiple = %(max_multiple)s, compliant_run = %(compliant_run)s, "
        "severity = %(severity)s WHERE id = %(id)s"
    )
    if case["state"] == "open":
        # The row as it will be, without reading it back: in a pipeline, nothing waits for
        # this update (the row is the caller's, locked since it was read, and what judge_period
        # holds of it is as stored). Not sent when it would store the same bytes (a replay).
        if not _same_columns(case, changes):
            conn.execute(update, {**changes, "id": case["id"]})
        updated: dict[str, Any] | None = {**case, **changes}
    else:
        updated = (
            conn.cursor(row_factory=dict_row)
            .execute(update + " RETURNING *", {**changes, "id": case["id"]})
            .fetchone()
        )
    assert updated is not None
    out = []
    if (
        case["state"] == "closed"
        and compliant_run < policy.close_after
        and _closed_by_evaluator(conn, case["id"], pending)
    ) and _reopen_unless_superseded(conn, case["id"]):
        # revised or late data undid the run of compliant means that closed it
        detail = {"compliant_run": compliant_run}
        out.append(_event(conn, case["id"], "reopened", severity, detail, pending))
        case = {**case, "state": "open"}
        updated |= {"state": "open", "closed_at": None, "close_reason": None}
    if SEVERITIES.index(severity) > SEVERITIES.index(case["severity"]):
        out.append(_escalated(conn, case["id"], severity, bad, max_multiple, pending))
    if case["state"] == "open" and compliant_run >= policy.close_after:
        reason = f"{compliant_run} consecutive compliant means"
        out += close_case(conn, case["id"], reason, pending)
        return out, None
    return out, updated if case["state"] == "open" else None


def _same_columns(row: Mapping[str, Any], changes: Mapping[str, Any]) -> bool:
    """Whether writing ``changes`` over ``row`` (a case as stored) would store the same bytes:
    each value equal and of the same type, a Decimal with the same digits and exponent (the
    same text, so the same numeric; 1.5 and 1.50 are not the same)."""
    for name, value in changes.items():
        old = row.get(name, _MISSING)
        if type(old) is not type(value):
            return False
        if isinstance(value, Decimal):
            if value.as_tuple() != old.as_tuple():
                return False
        elif value != old:
            return False
    return True


_MISSING = object()


def _reopen_unless_superseded(conn: psycopg.Connection, case_id: int) -> bool:
    """Reopen a closed exceedance case, unless a later case of its key is open: that one
    carries the exceedance on, and a key has at most one open case (cases_one_open_per_key),
    so the closed one stays closed with its aggregates updated. Whether it was reopened."""
    row = conn.execute(
        "UPDATE cases c SET state = 'open', closed_at = NULL, close_reason = NULL "
        "WHERE c.id = %s AND NOT EXISTS (SELECT 1 FROM cases o WHERE o.state = 'open' "
        "AND o.kind = c.kind AND o.outlet_id = c.outlet_id AND o.pollutant = c.pollutant "
        "AND o.period = c.period AND o.limit_id = c.limit_id AND o.subject = c.subject) "
        "RETURNING c.id",
        (case_id,),
    ).fetchone()
    return row is not None


def _closed_by_evaluator(
    conn: psycopg.Connection, case_id: int, pending: PendingPeriods | None = None
) -> bool:
    if pending is not None:
        pending.flush(conn)  # the case's events as they are
    row = conn.execute(
        "SELECT actor FROM case_events WHERE case_id = %s AND action = 'closed' "
        "ORDER BY id DESC LIMIT 1",
        (case_id,),
    ).fetchone()
    return row is not None and row[0] == MACHINE


_CLOSE_CASE = (
    "UPDATE cases SET state = 'closed', closed_at = now(), close_reason = %s "
    "WHERE id = %s AND state = 'open'"
)


def close_case(
    conn: psycopg.Connection, case_id: int, reason: str, pending: PendingPeriods | None = None
) -> list[Transition]:
    """Close the case if it is open; its event kept in ``pending`` if given."""
    row = conn.execute(_CLOSE_CASE + " RETURNING severity", (reason, case_id)).fetchone()
    if row is None:
        return []
    return [_event(conn, case_id, "closed", row[0], {"reason": reason}, pending)]


def close_read_case(
    conn: psycopg.Connection, case_id: int, reason: str, severity: str
) -> list[Transition]:
    """:func:`close_case` without waiting for its statement (in a pipeline), for a caller that
    read under the outlet's lock, with the row locked (``FOR UPDATE``), that the case is open
    and of this severity (see :func:`open_read_case`)."""
    conn.execute(_CLOSE_CASE, (reason, case_id))
    return [_event(conn, case_id, "closed", severity, {"reason": reason}, None)]


# A case of another kind opened and its "opened" event appended in one statement (the event's
# detail is the case's details, as append_machine_event of the same dict stored it); nothing
# when one is open already.
_OPEN_CASE = """
WITH c AS (
    INSERT INTO cases (kind, outlet_id, pollutant, subject, severity, first_at, last_at, details)
    VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
    ON CONFLICT (kind, outlet_id, pollutant, period, limit_id, subject) WHERE state = 'open'
    DO NOTHING RETURNING id, severity, details
), e AS (
    INSERT INTO case_events (case_id, actor, action, severity, detail)
    SELECT id, %s, 'opened', severity, details FROM c RETURNING id, case_id
)
SELECT e.case_id, e.id FROM e
"""


_EXTEND_CASE = (
    "UPDATE cases SET last_at = greatest(last_at, %s), details = details || %s "
    "WHERE kind = %s AND outlet_id = %s AND pollutant = %s AND subject = %s "
    "AND state = 'open' RETURNING id"
)


def open_case(
    conn: psycopg.Connection,
    *,
    kind: str,
    outlet_id: int,
    subject: str,
    severity: str,
    first_at: datetime,
    last_at: datetime,
    details: dict[str, Any],
    pollutant: str = "",
) -> tuple[int, list[Transition]]:
    """Open a case of another kind (outage, fault, pattern), or update the open one (the
    pattern screening, which reads its cases first, uses :func:`open_read_case`)."""
    detail_json = json.dumps(details, default=str)
    key = (kind, outlet_id, pollutant, subject)
    created = conn.execute(
        _OPEN_CASE,
        (kind, outlet_id, pollutant, subject, severity, first_at, last_at, detail_json, MACHINE),
    ).fetchone()
    if created is not None:
        case_id = int(created[0])
        return case_id, [Transition(case_id, EventId.known(created[1]), "opened", severity)]
    row = conn.execute(_EXTEND_CASE, (last_at, detail_json, *key)).fetchone()
    assert row is not None
    return int(row[0]), []


def open_read_case(
    conn: psycopg.Connection,
    *,
    kind: str,
    outlet_id: int,
    subject: str,
    severity: str,
    first_at: datetime,
    last_at: datetime,
    details: dict[str, Any],
    pollutant: str = "",
    is_open: bool,
) -> list[Transition]:
    """:func:`open_case` without waiting for its statement (in a pipeline): for a caller that
    holds the outlet's lock and read under it whether a case of this key is open, that open
    case's row locked (``FOR UPDATE``) so that nobody closes it meanwhile. Then the update
    finds the open case, or the insert opens one (cases of other kinds are opened only under
    the outlet's lock), and the transition is known before the statement's result."""
    detail_json = json.dumps(details, default=str)
    key = (kind, outlet_id, pollutant, subject)
    if is_open:
        conn.execute(_EXTEND_CASE, (last_at, detail_json, *key))
        return []
    cursor = conn.execute(
        _OPEN_CASE,
        (kind, outlet_id, pollutant, subject, severity, first_at, last_at, detail_json, MACHINE),
    )
    opened = OpenedCase(cursor)
    return [Transition(opened, EventId(opened), "opened", severity)]


def unacknowledged(conn: psycopg.Connection, opened_before: datetime) -> list[tuple[int, int]]:
    """(case id, outlet id) of the open cases opened before ``opened_before`` that nobody has
    acknowledged and that were not escalated for it yet."""
    rows = conn.execute(
        "SELECT id, outlet_id FROM cases WHERE state = 'open' AND acknowledged_at IS NULL "
        "AND escalated_at IS NULL AND opened_at <= %s",
        (opened_before,),
    ).fetchall()
    return [(int(case_id), int(outlet_id)) for case_id, outlet_id in rows]


def escalate_unacknowledged(
    conn: psycopg.Connection, case_id: int, at: datetime
) -> list[Transition]:
    """Raise an unacknowledged open case one severity (critical stays critical), once: nothing
    when it was acknowledged or escalated meanwhile."""
    row = conn.execute(
        "UPDATE cases SET escalated_at = %s, severity = CASE severity "
        "WHEN 'info' THEN 'warning' WHEN 'warning' THEN 'major' ELSE 'critical' END "
        "WHERE id = %s AND acknowledged_at IS NULL AND escalated_at IS NULL "
        "RETURNING severity",
        (at, case_id),
    ).fetchone()
    if row is None:
        return []
    severity = str(row[0])
    assert severity in SEVERITIES
    return [_event(conn, case_id, "unack-escalated", severity, {})]
