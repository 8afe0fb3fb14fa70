"""The evaluator process: drains the evaluation queue as new data arrives (woken by ingest's
NOTIFY), and sweeps periodically for outages, days that ended and unacknowledged cases, and
expires old dead letters (:mod:`alerts.retention`).

Safe to run twice at once and after a crash: an evaluator first takes the case locks of a
batch of outlets without waiting (skipping outlets someone else holds), then all of those
outlets' queued hours, deleting them in the transaction that stores their results; so two
evaluators never judge one outlet at the same time, nor split one outlet's queued hours
between them. ``sourcewatch alerts`` runs several (``evaluator_processes``, one per core by
default, :mod:`alerts.evaluator_processes`); a batch is then at most an evaluator's share of
the hours left (in outlets whose locks are free; another's held batch counted by what is left
of it), so that a few outlets are spread over them in one batch each and they end together.
The batch's minutes are read in one statement (a long batch's outlet by outlet, each outlet's
statement sent ahead and its rows taken when it is judged, see :data:`READ_AHEAD_HOURS`).
The batch is judged in one savepoint and one pipeline; if anything in it fails, that
savepoint is rolled back and each outlet is judged again in savepoints of its own, so a
failure in one does not undo the others.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import islice
from typing import Any

import psycopg
from psycopg import Notify

from alerts import metrics
from alerts.announce import announce
from alerts.evaluation import (
    BatchWrites,
    Evaluation,
    MinutesRead,
    NoPeriodsRead,
    OutletContext,
    ReferenceCache,
    load_outlet,
    load_outlets,
    read_days,
    read_open_cases,
)
from alerts.outages import detect_outages
from alerts.retention import expire_dead_letters
from alerts.settings import AlertsSettings
from schemas.cases.policy import CasePolicy
from schemas.cases.transitions import (
    FreeQueue,
    Transition,
    escalate_unacknowledged,
    free_queued_outlets,
    lock_outlet,
    try_lock_outlets,
    unacknowledged,
)
from schemas.core import channels
from schemas.core.listen import Flag, Listener

__all__ = ["READ_AHEAD_HOURS", "Evaluator", "EvaluatorOptions"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class EvaluatorOptions:
    """The evaluator's view of :class:`~alerts.settings.AlertsSettings`."""

    database_url: str
    policy: CasePolicy
    sweep_s: float
    day_grace: timedelta
    outage_after_minutes: int
    fault_after_hours: int
    unacknowledged_after: timedelta
    dead_letter_retention: timedelta = timedelta(days=90)
    processes: int = 1  # evaluators draining the queue together (a batch's share, see below)

    @classmethod
    def from_settings(cls, s: AlertsSettings) -> EvaluatorOptions:
        return cls(
            database_url=s.database,
            policy=CasePolicy(
                close_after=s.case_close_after,
                major_multiple=Decimal(str(s.case_major_multiple)),
                critical_multiple=Decimal(str(s.case_critical_multiple)),
                major_periods=s.case_major_periods,
                critical_periods=s.case_critical_periods,
            ),
            sweep_s=s.evaluation_sweep_s,
            day_grace=timedelta(minutes=s.day_grace_minutes),
            outage_after_minutes=s.outage_after_minutes,
            fault_after_hours=s.fault_after_hours,
            unacknowledged_after=timedelta(minutes=s.unacknowledged_escalation_minutes),
            dead_letter_retention=timedelta(days=s.dead_letter_retention_days),
            processes=s.evaluator_count(),
        )


# A batch with at least these many queued hours reads its minutes outlet by outlet: each outlet's
# statement is sent at the start of the batch's pipeline (nothing waits for it) and its rows are
# taken when that outlet is judged, so the database reads the next outlets' minutes while this
# process judges the first ones. Below it (the live path: an hour of each of up to 16 outlets)
# one statement reads them all. (Until the tenth round a thread read them on a second
# connection; its GIL hand-offs with this one's every pipelined statement cost more than the
# overlap gave, and it could not see a caller's open transaction.)
READ_AHEAD_HOURS = 48
READ_AHEAD_OUTLETS = 2  # outlets whose minutes are being read while one is judged, at most

# For the rest of a batch's transaction (a caller's, if the drain runs inside one), its prepared
# statements run their generic plans, each planned once per connection. psycopg prepares a
# statement executed five times on a connection; the server then plans it again with the values
# of each execution while the generic plan's estimate is well above those plans' (so for good
# when its array parameters are shorter than the 10 elements an unnest of a parameter is
# estimated at: one outlet's read has one range), and with the pattern cases' query always:
# 0.1-0.5 ms of planning an execution, a fifth of its statements' time on the server at the
# quick size. The generic plans have the same shapes (each array unnested and joined by key
# along an index; bench/README.md, twelfth round). Results never depend on the plans.
_GENERIC_PLANS = "SET LOCAL plan_cache_mode = force_generic_plan"

# psycopg gives a timestamptz in the session's zone: datetime.UTC when the zone is named "UTC",
# else a ZoneInfo of its name. A server whose zone is UTC under its tz database name (initdb
# takes the system's: "Etc/UTC" on Debian) made every time the evaluator reads (the queued
# hours, the cases' and means' times) a ZoneInfo("Etc/UTC") datetime beside its own UTC ones:
# the same instants, but hashing or comparing aware datetimes of two tzinfos asks each for its
# offset, ~3 µs a key on the bench machine against 0.2 with one tzinfo, and the evaluator's
# dictionaries and sorted lists hold hours of both. Such a session is named "UTC" once (for
# the session: a SET in a transaction that rolls back is made again by the next batch). It is
# the same zone by another name, so no statement gives anything else (every offset and
# abbreviation alike: the text of a timestamptz, a date in the session's zone), and the times
# read are the same in Python but for their tzinfo (isoformat "+00:00", tzname "UTC" both).
# A server in another zone is left as it is.
_UTC_NAMED_OTHERWISE = b"Etc/UTC"


def utc_named(conn: psycopg.Connection) -> None:
    """Names the session's zone "UTC" if it is "Etc/UTC" (see _UTC_NAMED_OTHERWISE)."""
    if conn.pgconn.parameter_status(b"TimeZone") == _UTC_NAMED_OTHERWISE:
        conn.execute("SET TIME ZONE 'UTC'")


class Evaluator:
    def __init__(
        self,
        options: EvaluatorOptions,
        *,
        clock: Callable[[], datetime] | None = None,
        batch_outlets: int = 16,
        connected: Flag | None = None,
    ) -> None:
        self.options = options
        self.clock = clock or (lambda: datetime.now(UTC))
        self.outlets_evaluated = 0
        self.transitions = 0
        self._listener = Listener.for_database(
            options.database_url,
            [channels.MEASUREMENTS],
            application_name="sourcewatch.alerts",
            wait_s=min(options.sweep_s, 1.0),
            name="evaluator",
            connected=connected,
        )
        self._cache: ReferenceCache | None = None  # code tables, kept for one drain
        self.batch_outlets = batch_outlets
        # Wall seconds per queued hour of this evaluator's last batch that judged any: how far
        # another evaluator's batch has got is estimated by it (see _lock_share).
        self.hour_s: float | None = None

    @property
    def connected(self) -> bool:
        """The loop holds its database connections (readiness)."""
        return self._listener.connected

    # --- the queue -----------------------------------------------------------------------

    def drain(self, conn: psycopg.Connection, max_outlets: int = 1000) -> int:
        """Evaluate queued hours, up to ``batch_outlets`` outlets per transaction; returns
        outlets evaluated. Code tables (valid flags, validity and pattern rules, limits per
        outlet and day) are read once per drain.

        It ends when a batch finds no queued outlet whose lock is free (every queued hour
        judged, or in another evaluator's batch), or after a batch that took every outlet
        queued when it looked, none held by anyone else: then all the hours queued then are
        judged, and the queue holds only hours queued since, whose writers' NOTIFY (sent on
        commit, with the queue's rows, see ingest/writer.py) wakes the evaluator again, as
        an hour queued after the empty look always did. That look, a scan of the queue (with
        several evaluators, and of pg_locks), is not sent again to find it empty."""
        done = 0
        self._cache = ReferenceCache()
        try:
            while done < max_outlets:
                locked, judged, last = self._evaluate_batch(
                    conn, min(self.batch_outlets, max_outlets - done)
                )
                done += judged
                if not locked or last:
                    break
        finally:
            self._cache = None
        self.outlets_evaluated += done
        metrics.OUTLETS.inc(done)
        return done

    def _evaluate_batch(self, conn: psycopg.Connection, limit: int) -> tuple[int, int, bool]:
        """Take up to ``limit`` outlets whose locks are free and ALL of their queued hours, in
        one transaction; returns how many outlets it locked (0: none was free), how many of
        them still had hours to judge, and whether they were every outlet queued when it looked
        (none held by another session: see :meth:`drain`).

        The outlet locks come first and the queue rows after them: an evaluator that took a
        queue row first and then waited for the outlet lock (as this once did) held back that
        hour from the evaluator holding the outlet, which judged the later hours without it
        (and closed the case), so the held-back exceeding hour opened a second case. The
        outlets are judged together (:meth:`_at_once`), or, if that fails, each in its own
        savepoints (:meth:`_one_by_one`), so a failure in one leaves the others' results."""
        started = time.monotonic()
        with conn.transaction():
            utc_named(conn)
            outlet_ids, everything = self._lock_next_outlets(conn, limit)
            if not outlet_ids:
                return 0, 0, everything
            # The queued hours of the locked outlets, deleted as they are taken (the deletion
            # locks their rows as FOR UPDATE did; an hour queued again meanwhile waits for this
            # transaction and is queued anew once it commits, see ingest/writer.py; a rollback
            # leaves them queued): one statement, sent with the SET and the outlets' read in
            # one round trip.
            hours: dict[int, list[datetime]] = {}
            with conn.pipeline():
                conn.execute(_GENERIC_PLANS)
                queued = conn.execute(
                    "DELETE FROM evaluation_queue WHERE outlet_id = ANY(%s) "
                    "RETURNING outlet_id, hour_start",
                    (outlet_ids,),
                )
                outlets = load_outlets(conn, outlet_ids)
                for outlet_id, hour in queued:
                    hours.setdefault(outlet_id, []).append(hour)
            # Outlets whose hours someone else judged since the candidates were read: nothing
            # left to do under their lock.
            taken = [o for o in outlet_ids if o in hours]
            cache = self._cache if self._cache is not None else ReferenceCache()
            to_judge = {o: hours[o] for o in taken if o in outlets}
            transitions = self._at_once(conn, outlets, to_judge, cache)
            if transitions is None:  # something failed: each outlet in its own savepoints
                transitions = self._one_by_one(conn, outlets, to_judge, cache)
            self._announce(conn, transitions)  # the cases' contexts read once for the batch
        if to_judge:
            self.hour_s = (time.monotonic() - started) / sum(map(len, to_judge.values()))
        return len(outlet_ids), len(taken), everything

    def _at_once(
        self,
        conn: psycopg.Connection,
        outlets: dict[int, OutletContext],
        hours: dict[int, list[datetime]],
        cache: ReferenceCache,
    ) -> list[Transition] | None:
        """Judge the batch's outlets in one savepoint and one pipeline: their hours, then the
        days they are in, as :meth:`_one_by_one` does, but without a savepoint and a sync per
        outlet and step; returns the transitions, or None if anything failed (then nothing of
        it stays, and the caller judges the outlets one by one, each step in its savepoint,
        so that only the bad step is recorded as an error). The outlets' means, daily means
        and case periods are written in one statement each for all of them (``BatchWrites``)."""
        batch = BatchWrites()
        evaluations = {
            o: self._evaluation(conn, o, outlet=outlets[o], cache=cache, batch=batch) for o in hours
        }
        outlet_by_outlet = sum(map(len, hours.values())) >= READ_AHEAD_HOURS
        try:  # pipelined: a statement whose result is not read does not wait for it
            with conn.transaction(), conn.pipeline():
                self._read_ahead(
                    conn, evaluations, hours, cache, minutes=not outlet_by_outlet, guarded=False
                )
                # Sent after what the read ahead waited for, and after the code tables the
                # steps read when first needed, so that the first outlet waits for its own
                # minutes only (see READ_AHEAD_HOURS); a missing rule raises here, and the
                # batch is judged one by one, each step raising it as before.
                if outlet_by_outlet:
                    for o, ev in evaluations.items():
                        ev.read_code_tables(ev.outlet.local_day(h) for h in hours[o])
                reads: dict[int, MinutesRead] = {}
                ahead = iter(list(hours) if outlet_by_outlet else [])
                for o in islice(ahead, READ_AHEAD_OUTLETS):
                    reads[o] = MinutesRead(conn, {o: hours[o]})
                # Every outlet's means first, written in one statement, then every outlet's
                # judgement (the means of one outlet are not what another's judgement reads),
                # their periods written in one statement. The same for the days.
                means = {}
                for o, ev in evaluations.items():
                    if o in reads:
                        for later in islice(ahead, 1):  # the server reads it meanwhile
                            reads[later] = MinutesRead(conn, {later: hours[later]})
                        ev.use_prefetched_minutes(reads.pop(o).result().get(o, {}))
                    means[o] = ev.hour_means(hours[o])
                batch.write_hours(conn)
                for o, ev in evaluations.items():
                    ev.judge_hours(means[o])
                batch.pending.flush(conn)
                days = {
                    o: (ev, {ev.outlet.local_day(h) for h in hours[o]})
                    for o, ev in evaluations.items()
                }
                self._read_days(conn, days, guarded=False)
                day_means = [
                    (ev, ev.day_means(day))
                    for ev, outlet_days in days.values()
                    for day in sorted(outlet_days)
                ]
                batch.write_days(conn)
                for ev, day in day_means:
                    ev.judge_day(day)
                batch.pending.flush(conn)
        except psycopg.OperationalError:
            raise
        except Exception:
            log.info("outlets %s: judged one by one", sorted(hours), exc_info=True)
            return None
        return [t for ev in evaluations.values() for t in ev.transitions]

    def _one_by_one(
        self,
        conn: psycopg.Connection,
        outlets: dict[int, OutletContext],
        hours: dict[int, list[datetime]],
        cache: ReferenceCache,
    ) -> list[Transition]:
        """Judge the batch's outlets one by one, each one's hours and then its days in
        savepoints of their own (see :meth:`_judge_hours` and :meth:`_guarded`): a failure
        is recorded in evaluation_errors and leaves the other steps' results."""
        evaluations = {o: self._evaluation(conn, o, outlet=outlets[o], cache=cache) for o in hours}
        self._read_ahead(conn, evaluations, hours, cache, minutes=True, guarded=True)
        # Each outlet's hours, then what the days they are in read, for all at once (no
        # outlet's hours step changes what another's day step reads), then each one's days.
        judged = {o: self._judge_hours(conn, ev, hours[o]) for o, ev in evaluations.items()}
        days = {
            o: (ev, {ev.outlet.local_day(h) for h in judged[o]}) for o, ev in evaluations.items()
        }
        self._read_days(conn, days)
        transitions: list[Transition] = []
        for outlet_id, (ev, outlet_days) in days.items():
            self._guarded(
                conn, ev, outlet_id, judged[outlet_id], ev.days, outlet_days, pipelined=True
            )
            transitions += ev.transitions
        return transitions

    def _read_ahead(
        self,
        conn: psycopg.Connection,
        evaluations: dict[int, Evaluation],
        hours: dict[int, list[datetime]],
        cache: ReferenceCache,
        *,
        minutes: bool,
        guarded: bool,
    ) -> None:
        """Read for the batch what its outlets' hours steps would read one by one: the samples
        (unless not ``minutes``: the caller reads them outlet by outlet), the hours without case
        periods, the limits, the open cases."""
        # For one outlet and one hour as for many: the hours without periods (with the open
        # cases read below, what lets a period of an open case be kept pending, see
        # judge_period) and the open cases with their periods' aggregates cost a statement
        # each, against two to three per case and period when each is read when first needed.
        # One hour alone reads its minutes when judged, as before: for one hour's rows the
        # batch's read was not cheaper (bench/README.md, sixteenth round).
        if hours:
            minutes = minutes and sum(map(len, hours.values())) > 1
            self._prefetch(conn, evaluations, hours, cache, minutes=minutes, guarded=guarded)
            since = {  # the start of the earliest period judged: its local day's
                o: ev.outlet.day_bounds(ev.outlet.local_day(min(hours[o])))[0]
                for o, ev in evaluations.items()
            }
            for outlet_id, cases in read_open_cases(conn, since).items():
                evaluations[outlet_id].use_open_cases(cases)

    def _judge_hours(
        self, conn: psycopg.Connection, ev: Evaluation, hours: list[datetime]
    ) -> list[datetime]:
        """Judge one outlet's queued hours: all in one savepoint if they can be, else hour by
        hour, each in its own; returns the hours judged (the days they are in are judged
        next)."""
        judged = sorted(hours)
        if len(hours) == 1 or not self._together(conn, ev, judged):
            judged = [h for h in judged if self._guarded(conn, ev, ev.outlet.id, [h], ev.hour, h)]
        return judged

    @staticmethod
    def _read_days(
        conn: psycopg.Connection,
        days: dict[int, tuple[Evaluation, set[date]]],
        *,
        guarded: bool = True,
    ) -> None:
        """Read what the outlets' day steps read at once (one outlet's days too: two statements
        for all of them); if that fails, each day reads its own (in its savepoint, as it always
        could); not ``guarded``, a failure propagates."""
        if not days:
            return
        try:
            with conn.transaction() if guarded else nullcontext():
                reads = read_days(conn, days)
        except psycopg.OperationalError:
            raise
        except Exception:
            if not guarded:
                raise
            log.warning("reading ahead the days of outlets %s failed", sorted(days), exc_info=True)
            return
        for outlet_id, (ev, _) in days.items():
            ev.use_day_reads(reads[outlet_id])

    def _lock_next_outlets(
        self, conn: psycopg.Connection, limit: int, candidates: int = 32
    ) -> tuple[list[int], bool]:
        """Up to ``limit`` outlets, queued longest first, whose locks this transaction got
        without waiting; none when the queue is empty or every queued outlet is being evaluated
        (or swept) by someone else, who will see what was queued meanwhile or leave it
        queued. With them, whether they are every outlet the queue held when read (fewer than
        the candidates read, each locked here: none held by another session).

        With several evaluators (``options.processes``) the batch is also this evaluator's
        share of the work left, ``ceil(hours left / processes)``, in outlets whose locks no one
        else holds, taken in the order queued until their hours reach it. The hours left are
        the free outlets' queued hours and what is left of each batch another evaluator holds
        (its hours queued until it commits): those hours less what its time so far would have
        judged at this evaluator's own last rate (:attr:`hour_s`), all of them while this one
        has no rate yet or cannot see how long the other has run. So evaluators woken together
        split a few outlets in one batch each rather than all going to the first that wakes;
        one that finds the others holding their share takes what is left beside them in one
        batch; and one that finishes first beside another's batch nearly done takes half of
        what is left, not a whole batch that the other, done a moment later, would wait
        beside. An outlet with many hours counts for them. One evaluator alone sends what it
        always did."""
        processes = self.options.processes
        if processes > 1:
            return self._lock_share(conn, limit, max(candidates, limit * processes))
        candidates = max(candidates, limit)
        rows = conn.execute(
            "SELECT outlet_id FROM evaluation_queue GROUP BY outlet_id "
            "ORDER BY min(queued_at), outlet_id LIMIT %s",
            (candidates,),
        ).fetchall()
        # As many at once as are still wanted, in the order queued: the outlets tried one by
        # one until ``limit`` were locked, in one statement per round instead of one each.
        queued = [int(outlet_id) for (outlet_id,) in rows]
        locked: list[int] = []
        while queued and len(locked) < limit:
            wanted = limit - len(locked)
            locked += try_lock_outlets(conn, queued[:wanted])
            del queued[:wanted]
        return locked, len(rows) < candidates and len(locked) == len(rows)

    def _lock_share(
        self, conn: psycopg.Connection, limit: int, candidates: int
    ) -> tuple[list[int], bool]:
        """:meth:`_lock_next_outlets` with several evaluators: this one's share of the hours
        left, in at most ``limit`` free outlets (of the first ``candidates`` free)."""
        free = free_queued_outlets(conn, candidates)
        # Every queued outlet was free and is to be locked here (``queued`` is emptied below).
        everything = not free.held and len(free.outlets) < candidates
        free_outlets = len(free.outlets)
        share = math.ceil(self._hours_left(free) / self.options.processes)
        queued = free.outlets
        locked: list[int] = []
        taken = 0  # queued hours of the outlets locked
        while queued and len(locked) < limit and taken < share:
            # The next outlets until the share's hours (or the limit) would be reached, tried
            # at once; those someone took meanwhile are made up for by the next round.
            wanted, hours = 0, taken
            while wanted < len(queued) and len(locked) + wanted < limit and hours < share:
                hours += queued[wanted][1]
                wanted += 1
            got = set(try_lock_outlets(conn, [o for o, _ in queued[:wanted]]))
            for outlet_id, outlet_hours in queued[:wanted]:
                if outlet_id in got:
                    locked.append(outlet_id)
                    taken += outlet_hours
            del queued[:wanted]
        return locked, everything and len(locked) == free_outlets

    def _hours_left(self, free: FreeQueue) -> float:
        """The queued hours no evaluator has judged yet, as far as this one can tell: the free
        outlets' and, of each batch another session holds, its hours less what it has judged
        by now at this evaluator's last rate (all of them if either is unknown)."""
        left = float(free.hours)
        if self.hour_s:
            for hours, running_s in free.held:
                if running_s is not None:
                    left -= min(hours, max(running_s, 0.0) / self.hour_s)
        return left

    @staticmethod
    def _prefetch(
        conn: psycopg.Connection,
        evaluations: dict[int, Evaluation],
        hours: dict[int, list[datetime]],
        cache: ReferenceCache,
        *,
        minutes: bool = True,
        guarded: bool = True,
    ) -> None:
        """Read the samples of the outlets' queued hours (unless ``minutes`` is false: they
        are read outlet by outlet, see READ_AHEAD_HOURS), the hours at which they have no case period, and
        the limits of the days they are in, at once; if that fails, each hour reads its own (in
        its savepoint, as it always could); not ``guarded``, a failure propagates."""
        try:
            with conn.transaction() if guarded else nullcontext():
                # Sent before the limits' read, their rows taken after it: in a pipeline the
                # three come in one round trip.
                series_read = MinutesRead(conn, hours) if minutes else None
                no_periods_read = NoPeriodsRead(conn, hours)
                cache.read_limits(
                    conn,
                    {
                        (o, ev.outlet.local_day(h))
                        for o, ev in evaluations.items()
                        for h in hours[o]
                    },
                )
                series = series_read.result() if series_read is not None else {}
                no_periods = no_periods_read.result()
        except psycopg.OperationalError:
            raise
        except Exception:
            if not guarded:
                raise
            log.warning(
                "reading ahead the hours of outlets %s failed", sorted(hours), exc_info=True
            )
            return
        for outlet_id, ev in evaluations.items():
            ev.use_prefetched(series.get(outlet_id, {}), no_periods.get(outlet_id, set()))

    @staticmethod
    def _together(conn: psycopg.Connection, ev: Evaluation, hours: list[datetime]) -> bool:
        """Judge all the hours in one savepoint (their means written at once); if anything
        fails, nothing of it stays and the caller judges hour by hour, each in its own
        savepoint, so that only the bad hour is recorded as an error."""
        mark = len(ev.transitions)
        try:  # pipelined: a statement whose result is not read does not wait for it
            with conn.transaction(), conn.pipeline():
                ev.hours_together(hours)
        except psycopg.OperationalError:
            raise
        except Exception:
            log.info("outlet %s: judged hour by hour", ev.outlet.id, exc_info=True)
            del ev.transitions[mark:]
            ev.forget_cases()
            return False
        return True

    def _guarded(
        self,
        conn: psycopg.Connection,
        ev: Evaluation,
        outlet_id: int,
        hours: list[datetime],
        step: Callable[[Any], None],
        arg: Any,
        *,
        pipelined: bool = False,
    ) -> bool:
        """Run one evaluation step in a savepoint (``pipelined``: in a pipeline, where a
        statement whose result is not read does not wait for it; the savepoint is taken and
        released outside it, which psycopg does in one round trip each, where a savepoint
        inside a pipeline costs a sync before and after it). Bad data or a bug is recorded
        in evaluation_errors (its transitions dropped with it) and the loop goes on; a lost
        database connection propagates, so the whole transaction is retried later."""
        mark = len(ev.transitions)
        try:
            with conn.transaction(), conn.pipeline() if pipelined else nullcontext():
                step(arg)
        except psycopg.OperationalError:
            raise
        except Exception as exc:
            del ev.transitions[mark:]
            ev.forget_cases()
            metrics.EVALUATION_ERRORS.inc()
            log.exception("evaluation of outlet %s failed", outlet_id)
            conn.execute(
                "INSERT INTO evaluation_errors (outlet_id, hours, error) VALUES (%s, %s, %s)",
                (outlet_id, hours, f"{type(exc).__name__}: {exc}"),
            )
            return False
        return True

    def _evaluation(
        self,
        conn: psycopg.Connection,
        outlet_id: int,
        now: datetime | None = None,
        *,
        outlet: OutletContext | None = None,
        cache: ReferenceCache | None = None,
        batch: BatchWrites | None = None,
    ) -> Evaluation:
        if outlet is None:
            outlet = load_outlet(conn, outlet_id)
        assert outlet is not None
        return Evaluation(
            conn,
            outlet,
            self.options.policy,
            now or self.clock(),
            self.options.day_grace,
            fault_after_hours=self.options.fault_after_hours,
            cache=cache,
            batch=batch,
        )

    def _announce(self, conn: psycopg.Connection, transitions: list[Transition]) -> None:
        if transitions:
            announce(conn, transitions)
            self.transitions += len(transitions)
            for t in transitions:
                metrics.TRANSITIONS.labels(t.action).inc()

    # --- the sweep -------------------------------------------------------------------------

    def sweep(self, conn: psycopg.Connection) -> None:
        now = self.clock()
        detect_outages(
            conn, now=now, after_minutes=self.options.outage_after_minutes, announce=announce
        )
        self.finish_days(conn, now)
        self.escalate_unacknowledged(conn, now)
        expired = expire_dead_letters(conn, now, self.options.dead_letter_retention)
        if expired:
            log.info("expired %d dead letters", expired)
        depth = conn.execute("SELECT count(*) FROM evaluation_queue").fetchone()
        metrics.QUEUE_DEPTH.set(depth[0] if depth else 0)

    def finish_days(self, conn: psycopg.Connection, now: datetime) -> int:
        """Judge the daily means of local days that ended (plus the grace) and were not judged
        since: daily limits are only judged on complete days."""
        grace = self.options.day_grace
        candidates = conn.execute(
            "SELECT DISTINCT h.outlet_id, (h.hour_start AT TIME ZONE o.timezone)::date "
            "FROM hourly_means h JOIN outlets o ON o.id = h.outlet_id "
            "WHERE h.hour_start >= %s AND h.hour_start < %s ORDER BY 1, 2",
            (now - grace - timedelta(days=3), now - grace),
        ).fetchall()
        finished = 0
        for outlet_id, day in candidates:
            with conn.transaction():
                lock_outlet(conn, outlet_id)
                ev = self._evaluation(conn, outlet_id, now)
                final_at = ev.outlet.day_bounds(day)[1] + grace
                judged = conn.execute(
                    "SELECT min(computed_at) FROM daily_means WHERE outlet_id = %s AND day = %s",
                    (outlet_id, day),
                ).fetchone()
                if final_at > now or (judged and judged[0] and judged[0] >= final_at):
                    continue
                ev.day(day)
                self._announce(conn, ev.transitions)
                finished += 1
        return finished

    def escalate_unacknowledged(self, conn: psycopg.Connection, now: datetime) -> int:
        cases = unacknowledged(conn, now - self.options.unacknowledged_after)
        for case_id, outlet_id in cases:
            with conn.transaction():
                lock_outlet(conn, outlet_id)
                self._announce(conn, escalate_unacknowledged(conn, case_id, now))
        return len(cases)

    # --- the loop --------------------------------------------------------------------------

    def run(self, stop: threading.Event, *, sweeps: bool = True) -> None:
        """Drain on every NOTIFY from ingest (and at least every second), sweep every
        ``sweep_s`` (unless not ``sweeps``: another evaluator sweeps), until ``stop`` is set; a
        lost database connection is reopened."""
        next_sweep = 0.0

        def wake(conn: psycopg.Connection, _: Sequence[Notify]) -> None:
            nonlocal next_sweep
            self.drain(conn)
            if sweeps and time.monotonic() >= next_sweep:
                self.sweep(conn)
                next_sweep = time.monotonic() + self.options.sweep_s

        self._listener.run(stop, wake)
