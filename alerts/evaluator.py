"""The evaluator process: drains the evaluation queue as new data arrives (woken by ingest's
NOTIFY), and sweeps periodically for outages, days that ended and unacknowledged cases.

Safe to run twice at once and after a crash: an evaluator first takes an outlet's case lock
without waiting (skipping outlets someone else holds), then all of that outlet's queued hours,
and deletes them in the transaction that stores their results; so two evaluators never judge
one outlet at the same time, nor split one outlet's queued hours between them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import Notify

from alerts import metrics
from alerts.announce import announce
from alerts.evaluation import Evaluation, OutletContext, ReferenceCache, load_outlet
from alerts.outages import detect_outages
from alerts.settings import AlertsSettings
from schemas.cases.policy import CasePolicy
from schemas.cases.transitions import (
    Transition,
    escalate_unacknowledged,
    lock_outlet,
    try_lock_outlet,
    unacknowledged,
)
from schemas.core import channels
from schemas.core.listen import Listener

__all__ = ["Evaluator", "EvaluatorOptions"]

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
        )


class Evaluator:
    def __init__(
        self, options: EvaluatorOptions, *, clock: Callable[[], datetime] | None = None
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
        )
        self._cache: ReferenceCache | None = None  # code tables, kept for one drain

    @property
    def connected(self) -> bool:
        """The loop holds its database connections (readiness)."""
        return self._listener.connected

    # --- the queue -----------------------------------------------------------------------

    def drain(self, conn: psycopg.Connection, max_outlets: int = 1000) -> int:
        """Evaluate queued hours, one outlet per transaction; returns outlets evaluated.
        Code tables (valid flags, validity and pattern rules, limits per outlet and day) are
        read once per drain."""
        done = 0
        self._cache = ReferenceCache()
        try:
            while done < max_outlets and self._evaluate_next(conn):
                done += 1
        finally:
            self._cache = None
        self.outlets_evaluated += done
        metrics.OUTLETS.inc(done)
        return done

    def _evaluate_next(self, conn: psycopg.Connection) -> bool:
        """Take ONE outlet whose lock is free and ALL of its queued hours, in one transaction.

        The outlet lock comes first and the queue rows after it: an evaluator that took a
        queue row first and then waited for the outlet lock (as this once did) held back that
        hour from the evaluator holding the outlet, which judged the later hours without it
        (and closed the case), so the held-back exceeding hour opened a second case."""
        with conn.transaction():
            outlet_id = self._lock_next_outlet(conn)
            if outlet_id is None:
                return False
            hours = [
                h
                for (h,) in conn.execute(
                    "SELECT hour_start FROM evaluation_queue WHERE outlet_id = %s FOR UPDATE",
                    (outlet_id,),
                )
            ]
            outlet = load_outlet(conn, outlet_id)
            if outlet is not None:
                ev = self._evaluation(conn, outlet_id, outlet=outlet, cache=self._cache)
                if len(hours) > 2:  # else reading ahead saves no round trip
                    self._prefetch(conn, ev, hours)
                judged = [
                    h for h in sorted(hours) if self._guarded(conn, ev, outlet_id, [h], ev.hour, h)
                ]
                days = {ev.outlet.local_day(h) for h in judged}
                self._guarded(conn, ev, outlet_id, judged, ev.days, days)
                self._announce(conn, ev.transitions)
            conn.execute(
                "DELETE FROM evaluation_queue WHERE outlet_id = %s AND hour_start = ANY(%s)",
                (outlet_id, hours),
            )
        return True

    def _lock_next_outlet(self, conn: psycopg.Connection, candidates: int = 32) -> int | None:
        """The outlet queued longest whose lock this transaction got without waiting; None
        when the queue is empty or every queued outlet is being evaluated (or swept) by
        someone else, who will see what was queued meanwhile or leave it queued."""
        rows = conn.execute(
            "SELECT outlet_id FROM evaluation_queue GROUP BY outlet_id "
            "ORDER BY min(queued_at), outlet_id LIMIT %s",
            (candidates,),
        ).fetchall()
        for (outlet_id,) in rows:
            if try_lock_outlet(conn, int(outlet_id)):
                return int(outlet_id)
        return None

    @staticmethod
    def _prefetch(conn: psycopg.Connection, ev: Evaluation, hours: list[datetime]) -> None:
        """Read the samples of all the queued hours at once; if that fails, each hour reads
        its own (in its savepoint, as it always could)."""
        try:
            with conn.transaction():
                ev.prefetch(hours)
        except psycopg.OperationalError:
            raise
        except Exception:
            log.warning("reading ahead the hours of outlet %s failed", ev.outlet.id, exc_info=True)

    def _guarded(
        self,
        conn: psycopg.Connection,
        ev: Evaluation,
        outlet_id: int,
        hours: list[datetime],
        step: Callable[[Any], None],
        arg: Any,
    ) -> bool:
        """Run one evaluation step in a savepoint. Bad data or a bug is recorded in
        evaluation_errors (its transitions dropped with it) and the loop goes on; a lost
        database connection propagates, so the whole transaction is retried later."""
        mark = len(ev.transitions)
        try:
            with conn.transaction():
                step(arg)
        except psycopg.OperationalError:
            raise
        except Exception as exc:
            del ev.transitions[mark:]
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

    def run(self, stop: threading.Event) -> None:
        """Drain on every NOTIFY from ingest (and at least every second), sweep every
        ``sweep_s``, until ``stop`` is set; a lost database connection is reopened."""
        next_sweep = 0.0

        def wake(conn: psycopg.Connection, _: Sequence[Notify]) -> None:
            nonlocal next_sweep
            self.drain(conn)
            if time.monotonic() >= next_sweep:
                self.sweep(conn)
                next_sweep = time.monotonic() + self.options.sweep_s

        self._listener.run(stop, wake)
