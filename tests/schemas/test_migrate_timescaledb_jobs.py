"""On TimescaleDB no background job runs while migrations apply (schemas.core.migrate): 0013
adds the aggregate's refresh policy, due at once, and a refresh running while 0024 dropped the
aggregate made the migration fail (`tuple concurrently deleted`, bench/README.md "Nineteenth
round"). The jobs are scheduled again afterwards."""

from __future__ import annotations

import re
import threading
import time

import psycopg
import pytest

from schemas.core.migrate import hold_jobs, migrate, release_jobs
from tests.fixtures.services import fresh_database

pytestmark = pytest.mark.integration


def _workers(conn: psycopg.Connection, name: str) -> set[str]:
    rows = conn.execute(
        "SELECT backend_type FROM pg_stat_activity WHERE datname = %s "
        "AND backend_type <> 'client backend'",
        (name,),
    ).fetchall()
    return {r[0] for r in rows}


def _jobs(workers: set[str]) -> set[str]:
    """The workers of policy jobs (ids from 1000; TimescaleDB's own are below)."""
    return {w for w in workers if (m := re.search(r"\[(\d+)\]$", w)) and int(m[1]) >= 1000}


@pytest.fixture
def timescaledb(pg_admin_dsn: str) -> str:
    with psycopg.connect(pg_admin_dsn) as conn:
        row = conn.execute("SHOW shared_preload_libraries").fetchone()
        if row is None or "timescaledb" not in str(row[0]):
            pytest.skip("TimescaleDB only (plain PostgreSQL has no background jobs)")
    return pg_admin_dsn


def test_no_job_runs_while_a_new_database_is_migrated(timescaledb: str) -> None:
    """A watcher lists the new database's background workers while it is migrated: no job that
    the migrations add ever runs (before the fix the aggregate's refresh and the compression
    jobs did, 3 runs of 3), and all of them are scheduled again afterwards."""
    with fresh_database(timescaledb) as url:
        name = url.rsplit("/", 1)[1]
        seen: set[str] = set()
        done = threading.Event()

        def watch() -> None:
            with psycopg.connect(timescaledb, autocommit=True) as conn:
                while not done.is_set():
                    seen.update(_workers(conn, name))

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                assert migrate(conn)
        finally:
            done.set()
            watcher.join()
        assert _jobs(seen) == set(), seen
        with psycopg.connect(url, autocommit=True) as conn:
            jobs = conn.execute(
                "SELECT proc_name, scheduled FROM timescaledb_information.jobs WHERE job_id >= 1000"
            ).fetchall()
            assert {"policy_refresh_continuous_aggregate", "policy_compression"} <= {
                proc for proc, _ in jobs
            }
            assert all(scheduled for _, scheduled in jobs), jobs
            held = conn.execute("SELECT count(*) FROM schema_migrations_held_jobs").fetchone()
            assert held == (0,)


def test_held_jobs_wait_for_a_running_job_and_come_back(timescaledb: str) -> None:
    """hold_jobs() returns only once a job already running has ended, and none starts while
    they are held; release_jobs() schedules them again, even from another session (a migrate()
    that died before it could)."""
    with fresh_database(timescaledb) as url, psycopg.connect(url, autocommit=True) as conn:
        migrate(conn)
        conn.execute(
            "CREATE PROCEDURE slow_job(job_id integer, config jsonb) LANGUAGE sql"
            " AS $$ SELECT pg_sleep(2) $$"
        )
        row = conn.execute(
            "SELECT add_job('slow_job', interval '1 second', initial_start => now())"
        ).fetchone()
        assert row is not None
        name = url.rsplit("/", 1)[1]
        for _ in range(300):  # the scheduler starts it within a few seconds
            if _jobs(_workers(conn, name)):
                break
            time.sleep(0.05)
        assert _jobs(_workers(conn, name)), "the job never started"
        hold_jobs(conn)
        assert _jobs(_workers(conn, name)) == set()
        for _ in range(20):  # due every second: it would run again within 2 s
            time.sleep(0.1)
            assert _jobs(_workers(conn, name)) == set()
        with psycopg.connect(url, autocommit=True) as other:
            release_jobs(other)
        paused = conn.execute(
            "SELECT job_id FROM timescaledb_information.jobs WHERE job_id >= 1000 AND NOT scheduled"
        ).fetchall()
        assert paused == []
