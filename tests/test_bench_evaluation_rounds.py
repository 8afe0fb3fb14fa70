"""The evaluator benchmark's rounds (``bench.alerts.bench_evaluation``): each judges a copy of
the loaded database, so every round starts from the full queue and no output, and the loaded
database stays as it was. On the real server; no timing asserted."""

from __future__ import annotations

import psycopg
from psycopg import sql

from bench.alerts import bench_evaluation
from bench.ingest import database_copy, fresh_database


def _count(url: str, table: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_a_copy_holds_the_rows_and_writing_it_leaves_the_original(pg_admin_dsn: str) -> None:
    with fresh_database(pg_admin_dsn, outlets=2) as url:
        with database_copy(pg_admin_dsn, url) as copy:
            assert _count(copy, "outlets") == 2
            with psycopg.connect(copy, autocommit=True) as conn:
                conn.execute("DELETE FROM outlets")
            assert _count(copy, "outlets") == 0
        assert _count(url, "outlets") == 2


def test_every_round_judges_the_whole_queue_and_the_loaded_database_is_untouched(
    pg_admin_dsn: str,
) -> None:
    with fresh_database(pg_admin_dsn, outlets=1) as url:
        evaluation = bench_evaluation(pg_admin_dsn, url, outlets=1, hours=2, repeats=3)
        assert evaluation.outlet_hours == 2
        assert len(evaluation.evaluator) == len(evaluation.baseline) == 3
        assert _count(url, "evaluation_queue") == 2  # the rounds drained copies
        assert _count(url, "hourly_means") == 0
        with psycopg.connect(url) as conn:
            analysed = conn.execute(
                "SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables "
                "WHERE relname = 'measurement_rows'"
            ).fetchone()
        assert analysed == (True,)
