"""Several evaluators on one queue (``SOURCEWATCH_EVALUATOR_PROCESSES``): the setting, the
batch as an evaluator's share of the queued outlets, several processes giving one evaluator's
outputs, and ``sourcewatch alerts`` starting, restarting and stopping its evaluator
processes."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from functools import partial
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import psycopg
import pytest
from prometheus_client import REGISTRY

from alerts.evaluator import Evaluator, EvaluatorOptions
from alerts.evaluator_processes import EvaluatorProcesses
from alerts.settings import AlertsSettings
from schemas.limits.rules import bind_outlet
from tests.alerts.test_evaluation_identity import EXPECTED, outputs, run_scenarios
from tests.alerts.test_evaluator import H0, SERIES, ULTRA_LOW, minute_rows, store
from tests.fixtures.processes import sourcewatch, spawned_children, wait_ready
from tests.fixtures.registry import add_outlet

pytestmark = pytest.mark.integration

PROCESSES = 3


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def _options(database_url: str, processes: int) -> EvaluatorOptions:
    settings = AlertsSettings(database_url=database_url, evaluator_processes=processes)
    return EvaluatorOptions.from_settings(settings)


def test_the_setting_is_a_count_or_the_cores() -> None:
    cores = len(os.sched_getaffinity(0))
    assert AlertsSettings().evaluator_count() == cores
    assert AlertsSettings(evaluator_processes=3).evaluator_count() == 3
    env = {"SOURCEWATCH_EVALUATOR_PROCESSES": "2"}
    assert AlertsSettings.from_environ(env).evaluator_count() == 2
    assert EvaluatorOptions.from_settings(AlertsSettings()).processes == cores
    with pytest.raises(ValueError):
        AlertsSettings(evaluator_processes=-1)


def _outlets(db: psycopg.Connection, n: int) -> list[int]:
    """``n`` outlets, each with the same hours queued, in this order."""
    series = {h: minute_rows(h, v) for h, v in SERIES.items() if h != 2}
    oids = []
    for k in range(n):
        mn = f"0100000000000000000000S{k}"
        oids.append(add_outlet(db, mn, uscc=f"9133000000000000{k}X"))
        bind_outlet(db, mn, ULTRA_LOW, "ultra-low-coal", date(2020, 1, 1), "p")
        store(db, oids[-1], series)
    return oids


@pytest.mark.parametrize(("processes", "share"), [(2, 2), (3, 2), (1, 4)])
def test_a_batch_is_the_evaluators_share_of_the_queued_outlets(
    db: psycopg.Connection, database_url: str, processes: int, share: int
) -> None:
    """With 4 outlets queued and a batch of up to 16, the first evaluator takes ceil(4 /
    processes) of them (all 4 alone, as before); a second one, draining while the first
    holds its batch, takes the others (with the fixed 16 it found none free)."""
    oids = _outlets(db, 4)
    now = H0 + timedelta(hours=8)
    first = Evaluator(_options(database_url, processes), clock=lambda: now)
    with psycopg.connect(database_url, autocommit=True) as conn, conn.transaction():
        held = first._lock_next_outlets(conn, first.batch_outlets)[0]
        assert held == oids[:share]
        other = Evaluator(_options(database_url, processes), clock=lambda: now)
        assert other.drain(db) == 4 - share  # the rest, never waiting for the first
    assert first.drain(db) == share
    assert db.execute("SELECT count(*) FROM evaluation_queue").fetchone() == (0,)
    assert _cases(db) == [(o, ["opened", "escalated", "closed"]) for o in oids]


def _cases(db: psycopg.Connection) -> list[tuple[int, list[str]]]:
    return db.execute(
        "SELECT c.outlet_id, array_agg(e.action ORDER BY e.id) FROM case_events e "
        "JOIN cases c ON c.id = e.case_id GROUP BY c.id ORDER BY c.outlet_id"
    ).fetchall()


def test_an_evaluator_that_finds_the_others_busy_takes_what_is_left(
    db: psycopg.Connection, database_url: str
) -> None:
    """With 2 evaluators and 4 outlets queued, the first takes 2; the second, draining while
    the first holds them, takes the other 2 in one batch (its share: half the queued hours,
    the held outlets' included) instead of 1 and then the last in a second batch."""
    oids = _outlets(db, 4)
    now = H0 + timedelta(hours=8)
    first = Evaluator(_options(database_url, 2), clock=lambda: now)
    other = Evaluator(_options(database_url, 2), clock=lambda: now)
    with psycopg.connect(database_url, autocommit=True) as conn, conn.transaction():
        assert first._lock_next_outlets(conn, first.batch_outlets)[0] == oids[:2]
        with db.transaction():
            assert other._lock_next_outlets(db, other.batch_outlets)[0] == oids[2:]
        assert other.drain(db) == 2
    assert first.drain(db) == 2
    assert db.execute("SELECT count(*) FROM evaluation_queue").fetchone() == (0,)
    assert _cases(db) == [(o, ["opened", "escalated", "closed"]) for o in oids]


def test_a_batch_is_the_evaluators_share_of_the_queued_hours(
    db: psycopg.Connection, database_url: str
) -> None:
    """The share counts queued hours, not outlets: an outlet with 6 hours queued first, then 3
    with one hour each (9 hours, 2 evaluators: 5 each) — the first evaluator takes the long
    outlet alone, the second the 3 short ones (by outlets it was 2 and 2)."""
    long = _outlets(db, 1)[0]
    short = []
    for k in range(3):
        mn = f"0100000000000000000000T{k}"
        short.append(add_outlet(db, mn, uscc=f"9133000000000001{k}X"))
        bind_outlet(db, mn, ULTRA_LOW, "ultra-low-coal", date(2020, 1, 1), "p")
        store(db, short[-1], {0: minute_rows(0, SERIES[0])})
    now = H0 + timedelta(hours=8)
    first = Evaluator(_options(database_url, 2), clock=lambda: now)
    other = Evaluator(_options(database_url, 2), clock=lambda: now)
    with psycopg.connect(database_url, autocommit=True) as conn, conn.transaction():
        assert first._lock_next_outlets(conn, first.batch_outlets)[0] == [long]
        assert other.drain(db) == 3
    assert first.drain(db) == 1
    assert db.execute("SELECT count(*) FROM evaluation_queue").fetchone() == (0,)
    assert _cases(db) == [(long, ["opened", "escalated", "closed"])]
    hours = db.execute("SELECT outlet_id, count(*) FROM hourly_means GROUP BY 1").fetchall()
    assert dict(hours) == {long: 6 * 2, **{o: 2 for o in short}}  # SO₂ and O₂ each hour


@pytest.mark.parametrize(
    ("hour_s", "takes"),
    [(1e-9, 2), (None, 3), (1e6, 3)],
    ids=["the other's batch done by now", "no rate yet", "the other's batch just started"],
)
def test_an_evaluator_beside_a_batch_nearly_done_leaves_it_a_share(
    db: psycopg.Connection, database_url: str, hour_s: float | None, takes: int
) -> None:
    """With 2 evaluators and 6 outlets of equal hours queued, the first holds 3. The second,
    taking its batch while the first still holds them, counts what is left of the first's
    batch by how long it has run at its own last rate (``hour_s``, wall seconds per queued
    hour): by that rate done already, its share is half of the 3 free outlets (2), so the
    first, done a moment later, finds the last one instead of idling while the second judges
    all 3; just started (or no rate yet), the held hours count in full, as before, and it
    takes the 3. Nothing is judged twice or lost either way."""
    oids = _outlets(db, 6)
    now = H0 + timedelta(hours=8)
    first = Evaluator(_options(database_url, 2), clock=lambda: now)
    other = Evaluator(_options(database_url, 2), clock=lambda: now)
    other.hour_s = hour_s
    with psycopg.connect(database_url, autocommit=True) as conn, conn.transaction():
        assert first._lock_next_outlets(conn, first.batch_outlets)[0] == oids[:3]
        with db.transaction():
            assert other._lock_next_outlets(db, other.batch_outlets)[0] == oids[3 : 3 + takes]
        assert other.drain(db) == 3  # the rest, in one batch or two, never waiting
    assert first.drain(db) == 3
    assert db.execute("SELECT count(*) FROM evaluation_queue").fetchone() == (0,)
    assert _cases(db) == [(o, ["opened", "escalated", "closed"]) for o in oids]


def _at(now: datetime) -> datetime:
    return now


def _drainer(
    database_url: str,
    processes: int,
    orders: Any,
    results: Any,
    together: Barrier,
) -> None:
    """One evaluator process of :func:`drain_in_processes`: for each ``now`` ordered, drain
    the queue (released with the others) and tell how many outlets it judged."""
    options = _options(database_url, processes)
    with psycopg.connect(database_url, autocommit=True) as conn:
        while (now := orders.get()) is not None:
            evaluator = Evaluator(options, clock=partial(_at, now))
            together.wait()
            judged = 0
            while n := evaluator.drain(conn):
                judged += n
            results.put(judged)


def test_several_processes_give_one_evaluators_outputs(
    db: psycopg.Connection, database_url: str
) -> None:
    """The identity test's scenarios, every step's queue drained by 3 evaluator processes at
    once (each on its own connection, their batches their share of the queue): the outputs
    are those stored (no case, event or notification twice or missing), and every queued
    outlet was judged by one of them exactly once (all its hours in that transaction)."""
    ctx = multiprocessing.get_context("spawn")
    orders, results = ctx.Queue(), ctx.Queue()
    together = ctx.Barrier(PROCESSES)
    children = [
        ctx.Process(target=_drainer, args=(database_url, PROCESSES, orders, results, together))
        for _ in range(PROCESSES)
    ]
    for p in children:
        p.start()
    judged_per_step: list[list[int]] = []

    def drain(now: datetime) -> None:
        queued = db.execute("SELECT count(DISTINCT outlet_id) FROM evaluation_queue").fetchone()
        for _ in children:
            orders.put(now)
        judged = [results.get(timeout=120) for _ in children]
        judged_per_step.append(judged)
        assert sum(judged) == (queued[0] if queued else 0)
        assert db.execute("SELECT count(*) FROM evaluation_queue").fetchone() == (0,)

    try:
        run_scenarios(db, database_url, drain=drain)
    finally:
        for _ in children:
            orders.put(None)
        for p in children:
            p.join(60)
    assert [p.exitcode for p in children] == [0] * PROCESSES
    assert len(judged_per_step) == 4 and sum(map(sum, judged_per_step)) > 0
    expected = json.loads(EXPECTED.read_text(encoding="utf-8"))
    got = outputs(db)
    for table in expected:
        assert got[table] == expected[table], table


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"


def test_a_killed_evaluator_process_is_restarted_and_all_stop(
    db: psycopg.Connection, database_url: str
) -> None:
    """Two child evaluators start and connect; one killed is restarted (a new pid that
    connects) and judges what is queued; on stop both end."""
    children = EvaluatorProcesses(_options(database_url, 3), 2)
    stop = threading.Event()
    runner = threading.Thread(target=children.run, args=(stop,))
    runner.start()
    try:
        _wait_for(lambda: children.ready, "the evaluator processes did not connect")
        first = children.pids
        assert all(pid is not None and _alive(pid) for pid in first)
        killed = first[0]
        assert killed is not None
        os.kill(killed, signal.SIGKILL)
        _wait_for(
            lambda: children.pids[0] not in (None, killed) and children.ready,
            "the killed evaluator process was not restarted",
        )
        assert children.restarts == 1 and children.pids[1] == first[1]
        # The children drain (no evaluator of this process runs): data stored now is judged.
        oids = _outlets(db, 2)
        _wait_for(
            lambda: db.execute("SELECT count(*) FROM evaluation_queue").fetchone() == (0,),
            "the evaluator processes did not drain the queue",
        )
        assert db.execute("SELECT count(DISTINCT outlet_id) FROM cases").fetchone() == (len(oids),)
        pids = children.pids
    finally:
        stop.set()
        runner.join(60)
    assert not runner.is_alive()
    assert not any(pid is not None and _alive(pid) for pid in [*first, *pids])


def _counted(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_childs_counters_are_added_to_this_processs_metrics(
    db: psycopg.Connection, database_url: str
) -> None:
    """What a child evaluator counts (the outlets it judged, the transitions it announced) is
    added to this process's counters, the ones ``/metrics`` serves, as it goes and as it
    stops."""
    outlets = "sourcewatch_evaluator_outlets_total"
    transitions = "sourcewatch_evaluator_transitions_total"
    oids = _outlets(db, 2)  # queued before the child starts: each outlet judged once
    events = dict(
        db.execute(
            "SELECT action, count(*) FROM case_events WHERE actor = 'evaluator' GROUP BY action"
        ).fetchall()
    )
    assert events == {}  # nothing judged yet
    before = {"outlets": _counted(outlets), "opened": _counted(transitions, action="opened")}
    children = EvaluatorProcesses(_options(database_url, 2), 1)
    stop = threading.Event()
    runner = threading.Thread(target=children.run, args=(stop,))
    runner.start()
    try:
        _wait_for(
            lambda: _counted(outlets) - before["outlets"] == len(oids),
            "the child's outlets were not counted here",
        )
    finally:
        stop.set()
        runner.join(60)
    assert db.execute("SELECT count(*) FROM evaluation_queue").fetchone() == (0,)
    opened = db.execute(
        "SELECT count(*) FROM case_events WHERE actor = 'evaluator' AND action = 'opened'"
    ).fetchone()
    assert opened is not None and opened[0] > 0
    assert _counted(outlets) - before["outlets"] == len(oids)
    assert _counted(transitions, action="opened") - before["opened"] == opened[0]


def _listening(db: psycopg.Connection) -> int:
    row = db.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND application_name = 'sourcewatch.alerts.listen'"
    ).fetchone()
    return int(row[0]) if row else 0


def test_sourcewatch_alerts_runs_that_many_evaluators(
    db: psycopg.Connection, database_url: str, mqtt_url: str
) -> None:
    """``sourcewatch alerts`` with 3 evaluator processes: its own evaluator and 2 children,
    each listening on its own connection; ready once all are; SIGTERM ends them all."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    env = {
        **os.environ,
        "SOURCEWATCH_DATABASE_URL": database_url,
        "SOURCEWATCH_MQTT_URL": mqtt_url,
        "SOURCEWATCH_METRICS_PORT": str(port),
        "SOURCEWATCH_EVALUATOR_PROCESSES": str(PROCESSES),
    }
    proc = sourcewatch("alerts", env=env)
    try:
        wait_ready(proc, port, "sourcewatch alerts")
        assert _listening(db) == PROCESSES
        evaluators = spawned_children(proc.pid)
        assert len(evaluators) == PROCESSES - 1
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr[-2000:]
    assert not any(_alive(pid) for pid in evaluators)
    _wait_for(lambda: _listening(db) == 0, "an evaluator's connection stayed open")
