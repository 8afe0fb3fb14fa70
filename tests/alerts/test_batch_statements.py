"""The statements a batch of outlets sends once (its reads of the days, the flat-line spreads,
the limits, the open cases and the hours without case periods) are prepared at their first
execution: the evaluator's long-lived connection then plans each once, not at each of its
first five batches. On the real server."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from alerts.evaluator import Evaluator, EvaluatorOptions
from alerts.settings import AlertsSettings
from bench.alerts import DAY, load_minutes
from bench.ingest import fresh_database
from tests.fixtures.statements import CountingCursor

pytestmark = pytest.mark.integration

# A fragment of each statement's text, as pg_prepared_statements shows it
BATCH_STATEMENTS = {
    "read_days": "WHERE h.outlet_id = q.outlet_id AND h.pollutant = p.pollutant",
    "read_spreads": "date_bin('1 hour', m.ts, q.lo)",
    "limits_for_outlets": "AS q(outlet_id, on_day)",
    "read_open_cases": "d.state = 'closed' AND d.outlet_id",
    "read_no_periods": "WHERE q.outlet_id IN (SELECT o.outlet_id FROM o)",
}


def test_a_batch_prepares_its_statements_at_their_first_execution(pg_admin_dsn: str) -> None:
    with fresh_database(pg_admin_dsn, outlets=2) as url:
        load_minutes(url, 2, 2)  # two outlets' two hours of a day that is over: one batch
        with psycopg.connect(url, autocommit=True) as conn:
            settings = AlertsSettings(database_url=url, evaluator_processes=1)  # one batch of both
            evaluator = Evaluator(EvaluatorOptions.from_settings(settings))
            assert evaluator.drain(conn) == 2
            prepared = [s for (s,) in conn.execute("SELECT statement FROM pg_prepared_statements")]
            queued = conn.execute("SELECT count(*) FROM evaluation_queue").fetchone()
    assert queued == (0,)
    missing = [
        name
        for name, fragment in BATCH_STATEMENTS.items()
        if not any(fragment in statement for statement in prepared)
    ]
    assert missing == []


def _statements_of_a_drain(
    conn: psycopg.Connection, evaluator: Evaluator, outlets: int = 2
) -> list[str]:
    """What a drain of ``outlets`` outlets on ``conn`` (with a CountingCursor) sent."""
    CountingCursor.sent = []
    assert evaluator.drain(conn) == outlets
    return CountingCursor.sent


def test_a_batch_writes_its_outlets_means_and_periods_in_one_statement_each(
    pg_admin_dsn: str,
) -> None:
    """Two outlets judged together, each opening a case (the benchmark's minutes exceed the
    limit): their hourly means, their daily means and their cases' periods and events are
    written in one statement each for the batch, not one per outlet; the case of the second
    outlet is opened without writing the first one's periods first."""
    with fresh_database(pg_admin_dsn, outlets=2) as url:
        load_minutes(url, 2, 3)  # two outlets' three hours of a day that is over: one batch
        with psycopg.connect(url, autocommit=True, cursor_factory=CountingCursor) as conn:
            settings = AlertsSettings(database_url=url, evaluator_processes=1)
            evaluator = Evaluator(EvaluatorOptions.from_settings(settings))
            sent = _statements_of_a_drain(conn, evaluator)
            cases = conn.execute(
                "SELECT outlet_id, count(*) FROM cases WHERE kind = 'exceedance' "
                "GROUP BY 1 ORDER BY 1"
            ).fetchall()
            periods = conn.execute("SELECT count(*) FROM case_periods").fetchone()
            means = conn.execute("SELECT count(*) FROM hourly_means").fetchone()
    assert [n for _, n in cases] == [1, 1]
    assert periods == (6,) and means == (12,)  # three hours each, of SO2 and of O2
    writes = {
        table: sum(f"INSERT INTO {table} " in s for s in sent)
        for table in ("hourly_means", "daily_means", "case_periods")
    }
    assert writes == {"hourly_means": 1, "daily_means": 1, "case_periods": 1}


@pytest.mark.parametrize("outlets", [2, 1])
def test_a_batch_appends_periods_to_cases_open_before_it_in_one_statement(
    pg_admin_dsn: str, outlets: int
) -> None:
    """Outlets whose exceedance cases a first batch opened, each with a later hour judged
    together (the product's steady state, an hour of each outlet): the open cases are read
    with their periods' aggregates for the batch, so their new periods, aggregates and
    events are written by one statement, with no case read and no period written one by
    one; the cases end as they would have. A batch of one outlet and one hour (the live
    queue's last outlet, or its only one) as well as a batch of two."""
    first = DAY + timedelta(days=2)
    live = first + timedelta(hours=12)  # the local day not over: no day judged, no pattern
    with fresh_database(pg_admin_dsn, outlets=outlets) as url:
        load_minutes(url, outlets, 2)  # each outlet's two hours
        with psycopg.connect(url, autocommit=True, cursor_factory=CountingCursor) as conn:
            held = conn.execute(
                "DELETE FROM evaluation_queue WHERE hour_start > %s RETURNING outlet_id, "
                "hour_start",
                (first,),
            ).fetchall()
            settings = AlertsSettings(database_url=url, evaluator_processes=1)
            evaluator = Evaluator(EvaluatorOptions.from_settings(settings), clock=lambda: live)
            assert evaluator.drain(conn) == outlets  # the first hour: a case opened for each
            conn.cursor().executemany(
                "INSERT INTO evaluation_queue (outlet_id, hour_start) VALUES (%s, %s)", held
            )
            sent = _statements_of_a_drain(conn, evaluator, outlets)
            cases = conn.execute(
                "SELECT c.outlet_id, c.state, c.first_at, c.last_at, count(p.*) "
                "FROM cases c JOIN case_periods p ON p.case_id = c.id "
                "WHERE c.kind = 'exceedance' GROUP BY c.id ORDER BY 1"
            ).fetchall()
    second = first + timedelta(hours=1)
    assert [row[1:] for row in cases] == [("open", first, second, 2)] * outlets
    assert sum("INSERT INTO case_periods" in s for s in sent) == 1
    assert not [s for s in sent if s.startswith(("SELECT * FROM cases", "UPDATE cases SET"))]


def test_one_outlets_days_are_read_in_one_statement_and_its_hours_taken_in_one(
    pg_admin_dsn: str,
) -> None:
    """A batch of one outlet whose hours span three local days (a backfill's last outlet)
    reads the days' hourly means in one statement, as a batch of several outlets does, not
    one per day; and its queued hours are taken (locked and deleted) by one statement, not a
    read FOR UPDATE and a deletion at the end."""
    with fresh_database(pg_admin_dsn, outlets=1) as url:
        load_minutes(url, 1, 48)  # 08:00 local on a day, 48 hours on: three local days
        with psycopg.connect(url, autocommit=True, cursor_factory=CountingCursor) as conn:
            settings = AlertsSettings(database_url=url, evaluator_processes=1)
            evaluator = Evaluator(EvaluatorOptions.from_settings(settings))
            sent = _statements_of_a_drain(conn, evaluator, 1)
            days = conn.execute("SELECT count(DISTINCT day) FROM daily_means").fetchone()
            queued = conn.execute("SELECT count(*) FROM evaluation_queue").fetchone()
    assert days == (3,) and queued == (0,)
    day_reads = [s for s in sent if "hourly_means" in s and not s.lstrip().startswith("INSERT")]
    assert len(day_reads) == 1 and BATCH_STATEMENTS["read_days"] in day_reads[0]
    queue = [s for s in sent if "evaluation_queue WHERE outlet_id" in s]
    assert len(queue) == 1 and queue[0].startswith("DELETE")


def test_a_batch_waits_once_for_the_ids_of_the_cases_it_opens(
    pg_admin_dsn: str, tmp_path: Path
) -> None:
    """Three outlets judged together, each opening an exceedance case: the openings are sent
    without waiting for their ids, which the statement writing the cases' periods and events
    reads, all of them at once (the client asks the server for results once between the first
    opening and that statement), and each outlet's case ends with its periods and its "opened"
    event, as before. (Until the nineteenth round each opening waited for its id: a round trip
    per case, three here.)"""
    trace = tmp_path / "trace"
    with fresh_database(pg_admin_dsn, outlets=3) as url:
        load_minutes(url, 3, 2)  # three outlets' two hours of a day that is over: one batch
        with psycopg.connect(url, autocommit=True) as conn, trace.open("wb") as out:
            settings = AlertsSettings(database_url=url, evaluator_processes=1)
            evaluator = Evaluator(EvaluatorOptions.from_settings(settings))
            conn.pgconn.trace(out.fileno())
            assert evaluator.drain(conn) == 3
            conn.pgconn.untrace()
            cases = conn.execute(
                "SELECT c.outlet_id, count(DISTINCT p.period_start), count(DISTINCT e.id) "
                "FILTER (WHERE e.action = 'opened') FROM cases c "
                "JOIN case_periods p ON p.case_id = c.id JOIN case_events e ON e.case_id = c.id "
                "WHERE c.kind = 'exceedance' GROUP BY c.outlet_id ORDER BY 1"
            ).fetchall()
    assert [n for _, *n in cases] == [[2, 1]] * 3
    sent = trace.read_text(errors="replace")  # libpq's trace: a line a message (and the
    first = sent.index("INSERT INTO cases (kind, outlet_id")  # lines of a statement's text)
    flush = sent.index("WITH p AS (", first)
    asked = [m for m in sent[first:flush].split("\n") if m.endswith(("\tFlush", "\tSync"))]
    assert len(asked) == 1
