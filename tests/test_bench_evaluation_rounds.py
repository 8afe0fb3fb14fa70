"""The evaluator benchmark's rounds (``bench.alerts.bench_evaluation``): each judges a copy of
the loaded database, so every round starts from the full queue and no output, and the loaded
database stays as it was. On the real server; no timing asserted."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql

from alerts.evaluator import Evaluator, EvaluatorOptions
from alerts.settings import AlertsSettings
from bench.alerts import GROUP_BY, _warm_up, bench_evaluation, load_minutes
from bench.ingest import database_copy, fresh_database
from schemas.core.migrate import timescaledb_enabled


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


def test_copies_of_a_timescaledb_database_are_made_without_its_job_scheduler(
    pg_admin_dsn: str,
) -> None:
    """TimescaleDB restarts a template's background-job scheduler, which connected again while
    the copy was made and made CREATE DATABASE … TEMPLATE refuse (often, after 5 s): it is
    stopped, and stays so, so that every copy is made."""
    with fresh_database(pg_admin_dsn, outlets=2) as url:
        with psycopg.connect(url) as conn:
            if not timescaledb_enabled(conn):
                pytest.skip("TimescaleDB only (plain PostgreSQL has no scheduler in a database)")
        template = url.rsplit("/", 1)[1]
        for _ in range(3):
            with database_copy(pg_admin_dsn, url) as copy:
                assert _count(copy, "outlets") == 2
            with psycopg.connect(pg_admin_dsn) as conn:
                # an autovacuum worker may be there: CREATE DATABASE stops it itself
                others = conn.execute(
                    "SELECT backend_type FROM pg_stat_activity WHERE datname = %s "
                    "AND backend_type <> 'autovacuum worker'",
                    (template,),
                ).fetchall()
            assert others == []
        assert _count(url, "outlets") == 2  # and connections to it are allowed again


def test_every_round_judges_the_whole_queue_and_the_loaded_database_is_untouched(
    pg_admin_dsn: str,
) -> None:
    """Each round's sides: one evaluator, two evaluator processes (each asserted to leave the
    measured outlets queued after its warm-up, and all of them judged after its drain), the
    ceiling."""
    with fresh_database(pg_admin_dsn, outlets=2) as url:
        evaluation = bench_evaluation(
            pg_admin_dsn, url, outlets=1, hours=2, repeats=3, warm_outlets=1, processes=2
        )
        assert evaluation.outlet_hours == 2
        assert evaluation.ceiling_outlet_hours == 4  # the warm-up outlet's minutes are in it
        runs = (evaluation.evaluator, evaluation.evaluators, evaluation.baseline)
        assert [len(r) for r in runs] == [3, 3, 3]
        assert evaluation.processes == 2
        assert [len(c) for c in evaluation.cpu.values()] == [3, 3, 3]  # the GROUP BY's too
        for side in ("GROUP BY", "evaluator", "evaluators"):
            per_cpu = evaluation.per_cpu_s(side)  # the backends are on this machine
            assert per_cpu is not None and len(per_cpu) == 3 and per_cpu.low > 0
        assert _count(url, "evaluation_queue") == 4  # the rounds drained copies
        assert _count(url, "hourly_means") == 0
        with psycopg.connect(url) as conn:
            analysed = conn.execute(
                "SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables "
                "WHERE relname = 'measurement_rows'"
            ).fetchone()
        assert analysed == (True,)


def test_the_warm_up_drains_only_its_outlets_and_leaves_both_sides_prepared(
    pg_admin_dsn: str,
) -> None:
    with fresh_database(pg_admin_dsn, outlets=3) as url:
        load_minutes(url, 2, 2, first=1)  # the warm-up's, queued first
        load_minutes(url, 1, 2)
        with psycopg.connect(url, autocommit=True) as conn:
            evaluator = Evaluator(EvaluatorOptions.from_settings(AlertsSettings(database_url=url)))
            _warm_up(conn, evaluator, warm_outlets=2, outlet_hours=2)
            left = conn.execute(
                "SELECT DISTINCT o.mn FROM evaluation_queue q JOIN outlets o ON o.id = q.outlet_id"
            ).fetchall()
            prepared = [s for (s,) in conn.execute("SELECT statement FROM pg_prepared_statements")]
        assert left == [("BENCH0000000000000000000",)]
        assert GROUP_BY in prepared
        assert any("measurement" in s and s != GROUP_BY for s in prepared)  # the evaluator's
        assert _count(url, "hourly_means") == 8  # SO₂ and O₂ of the warm-up outlets' 4 hours
