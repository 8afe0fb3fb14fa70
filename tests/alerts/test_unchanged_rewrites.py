"""A row judged again whose stored columns would not change is not rewritten: a replay of hours
already judged leaves the hourly means, the case periods and the cases' rows as they were (the
same row versions; the means' computed_at too), and a mean that differs from what the
evaluation computes, if only in the text of a number (12.3 against 12.300000), is rewritten.
Daily means are rewritten (their computed_at says when the day was judged). On the real
server."""

from __future__ import annotations

from datetime import datetime, timedelta

import psycopg
import pytest

from alerts.evaluator import Evaluator, EvaluatorOptions
from alerts.settings import AlertsSettings
from bench.alerts import DAY, load_minutes
from bench.ingest import fresh_database

pytestmark = pytest.mark.integration

_ROWS = {
    "hourly_means": "SELECT outlet_id, pollutant, hour_start, xmin::text, computed_at, mean::text"
    " FROM hourly_means ORDER BY 1, 2, 3",
    "daily_means": "SELECT outlet_id, pollutant, day, xmin::text, computed_at, mean::text"
    " FROM daily_means ORDER BY 1, 2, 3",
    "case_periods": "SELECT case_id, period_start, xmin::text, multiple::text, details::text"
    " FROM case_periods ORDER BY 1, 2",
    "cases": "SELECT id, xmin::text, state, first_at, last_at, max_multiple::text,"
    " compliant_run, severity FROM cases ORDER BY 1",
    "case_events": "SELECT id, case_id, action FROM case_events ORDER BY 1",
}


def _rows(conn: psycopg.Connection) -> dict[str, list[tuple[object, ...]]]:
    return {table: conn.execute(q).fetchall() for table, q in _ROWS.items()}


def _requeue(conn: psycopg.Connection) -> None:
    conn.execute(
        "INSERT INTO evaluation_queue (outlet_id, hour_start) "
        "SELECT DISTINCT outlet_id, hour_start FROM hourly_means"
    )


def test_a_replay_rewrites_only_the_means_that_differ(pg_admin_dsn: str) -> None:
    now = [DAY + timedelta(days=5)]  # the days judged are over

    def clock() -> datetime:
        return now[0]

    with fresh_database(pg_admin_dsn, outlets=2) as url:
        load_minutes(url, 2, 3)
        with psycopg.connect(url, autocommit=True) as conn:
            settings = AlertsSettings(database_url=url, evaluator_processes=1)
            evaluator = Evaluator(EvaluatorOptions.from_settings(settings), clock=clock)
            assert evaluator.drain(conn) == 2
            first = _rows(conn)
            assert len(first["hourly_means"]) == 12 and len(first["daily_means"]) == 4
            assert len(first["case_periods"]) == 6 and len(first["cases"]) == 2  # SO2 exceeds
            now[0] += timedelta(hours=1)
            _requeue(conn)
            assert evaluator.drain(conn) == 2
            second = _rows(conn)
            for table in ("hourly_means", "case_periods", "cases", "case_events"):
                assert second[table] == first[table], table  # nothing rewritten, no event
            assert [r[:3] + r[5:] for r in second["daily_means"]] == [
                r[:3] + r[5:] for r in first["daily_means"]
            ]
            assert all(r[4] == now[0] for r in second["daily_means"])  # the days judged again
            # one hourly mean stored with other text (and so other bytes) for the same
            # number, as an earlier version might have written it
            hour = first["hourly_means"][0][:3]
            conn.execute(
                "UPDATE hourly_means SET mean = round(mean, 6) WHERE outlet_id = %s "
                "AND pollutant = %s AND hour_start = %s",
                hour,
            )
            now[0] += timedelta(hours=1)
            _requeue(conn)
            assert evaluator.drain(conn) == 2
            third = _rows(conn)
    for table in ("case_periods", "cases", "case_events"):
        assert third[table] == first[table], table
    hours = third["hourly_means"]
    changed = [(a, b) for a, b in zip(first["hourly_means"], hours, strict=True) if a != b]
    assert len(changed) == 1
    ((old, new),) = changed
    assert new[:3] == old[:3] and new[5] == old[5]  # the same mean's text as first written
    assert new[3] != old[3] and new[4] == now[0] > old[4]  # a new row version, computed now
