"""Where a drain ends: after a batch that took every outlet queued when it looked (none held by
another session), without another look that would find the queue empty; hours queued after
that look still wake the evaluator (their writer's NOTIFY) and are judged by the next drain."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import psycopg
import pytest

from alerts.evaluator import Evaluator, EvaluatorOptions
from alerts.settings import AlertsSettings
from schemas.cases.transitions import try_lock_outlets
from schemas.core import channels
from schemas.core.listen import listen_statement
from schemas.limits.rules import bind_outlet
from tests.alerts.test_evaluator import H0, SERIES, ULTRA_LOW, minute_rows, store
from tests.alerts.test_evaluator_processes import _cases, _outlets
from tests.fixtures.registry import add_outlet

pytestmark = pytest.mark.integration

NOW = H0 + timedelta(hours=8)


class Counting(psycopg.Connection[Any]):
    """A connection that keeps the text of the statements executed on it."""

    sent: list[str]

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        self.__dict__.setdefault("sent", []).append(str(query))
        return super().execute(query, params, **kwargs)

    def looks(self) -> int:
        """The statements that read which outlets are queued (one process's or several's)."""
        return sum(
            "FROM evaluation_queue" in q and "GROUP BY" in q and "DELETE" not in q
            for q in self.__dict__.get("sent", [])
        )


def _evaluator(database_url: str, processes: int) -> Evaluator:
    settings = AlertsSettings(database_url=database_url, evaluator_processes=processes)
    return Evaluator(EvaluatorOptions.from_settings(settings), clock=lambda: NOW)


def _judged_once(db: psycopg.Connection, oids: list[int]) -> None:
    assert db.execute("SELECT count(*) FROM evaluation_queue").fetchone() == (0,)
    assert _cases(db) == [(o, ["opened", "escalated", "closed"]) for o in oids]


@pytest.mark.parametrize(
    ("processes", "looks"),
    [(1, 1), (2, 3)],
    ids=["one evaluator: one batch", "one of two, alone: shares of 2, 1 and 1 outlets"],
)
def test_a_batch_that_took_the_whole_queue_ends_the_drain(
    db: psycopg.Connection, database_url: str, processes: int, looks: int
) -> None:
    """4 outlets queued: one evaluator takes them in one batch and ends without looking at the
    queue again (before: a second look, which found it empty); one of 2 evaluators, alone,
    takes its share of the hours left each time (2 outlets, then 1, then the last one with
    every hour left) and ends there (before: a fourth look)."""
    oids = _outlets(db, 4)
    with Counting.connect(database_url, autocommit=True) as conn:
        assert _evaluator(database_url, processes).drain(conn) == 4
        assert conn.looks() == looks
    _judged_once(db, oids)


@pytest.mark.parametrize("processes", [1, 2])
def test_a_batch_beside_an_outlet_held_by_another_looks_again(
    db: psycopg.Connection, database_url: str, processes: int
) -> None:
    """An outlet queued but held by another session (its batch, or a sweep) is not the batch's:
    the drain looks again after it (finding it still held, it ends), and the holder's outlet
    is judged by the next drain once it is free."""
    oids = _outlets(db, 3)
    with (
        psycopg.connect(database_url, autocommit=True) as holder,
        holder.transaction(),
        Counting.connect(database_url, autocommit=True) as conn,
    ):
        assert try_lock_outlets(holder, oids[:1]) == oids[:1]
        assert _evaluator(database_url, processes).drain(conn) == 2
        assert conn.looks() == 2
    assert _evaluator(database_url, processes).drain(db) == 1
    _judged_once(db, oids)


def test_hours_queued_after_the_look_wake_the_evaluator(
    db: psycopg.Connection, database_url: str
) -> None:
    """An outlet queued while the drain's only batch is being judged (after its look) is left
    queued by that drain, which ends without looking again; its writer's NOTIFY, sent on
    commit, is waiting on the evaluator's listening connection, and the next drain, which it
    wakes, judges it. Nothing lost, nothing judged twice."""
    (first,) = _outlets(db, 1)
    mn = "0100000000000000000000L0"
    late = add_outlet(db, mn, uscc="91330000000000020X")
    bind_outlet(db, mn, ULTRA_LOW, "ultra-low-coal", date(2020, 1, 1), "p")

    class QueuedMeanwhile(Evaluator):
        def _at_once(self, conn: psycopg.Connection, outlets: Any, *rest: Any) -> Any:
            if late not in outlets:  # written and committed by ingest's writer meanwhile
                store(db, late, {h: minute_rows(h, v) for h, v in SERIES.items() if h != 2})
            return super()._at_once(conn, outlets, *rest)

    settings = AlertsSettings(database_url=database_url, evaluator_processes=1)
    evaluator = QueuedMeanwhile(EvaluatorOptions.from_settings(settings), clock=lambda: NOW)
    with (
        psycopg.connect(database_url, autocommit=True) as listening,
        Counting.connect(database_url, autocommit=True) as conn,
    ):
        listening.execute(listen_statement([channels.MEASUREMENTS]))
        assert evaluator.drain(conn) == 1
        assert conn.looks() == 1
        queued = db.execute("SELECT DISTINCT outlet_id FROM evaluation_queue").fetchall()
        assert queued == [(late,)]
        woken = list(listening.notifies(timeout=5, stop_after=1))
        assert [json.loads(n.payload)["outlet_id"] for n in woken] == [late]
        assert evaluator.drain(conn) == 1
    _judged_once(db, [first, late])
