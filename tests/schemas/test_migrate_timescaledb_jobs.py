"""On TimescaleDB the migrations of a new database run with its background jobs paused
(schemas.core.migrate._jobs_paused): the jobs the migrations add start at once, and a refresh of
the aggregate that ran while migration 0024 dropped it made the migration fail (`tuple
concurrently deleted`)."""

from __future__ import annotations

import re
import threading
import time

import psycopg
import pytest

from schemas.core.migrate import migrate
from tests.fixtures.services import fresh_database

_SCHEDULER = "TimescaleDB Background Worker Scheduler"


def _workers(conn: psycopg.Connection, name: str) -> set[str]:
    rows = conn.execute(
        "SELECT backend_type FROM pg_stat_activity WHERE datname = %s "
        "AND backend_type <> 'client backend'",
        (name,),
    ).fetchall()
    return {r[0] for r in rows}


def test_no_job_of_the_migrations_runs_while_they_are_applied(pg_admin_dsn: str) -> None:
    """A watcher lists the new database's background workers while it is migrated: no job that
    the migrations add (ids from 1000; TimescaleDB's own, such as its job log's retention, may
    run before the pause) ever runs during migrate(), and the scheduler is back afterwards."""
    with psycopg.connect(pg_admin_dsn) as conn:
        row = conn.execute("SHOW shared_preload_libraries").fetchone()
        if row is None or "timescaledb" not in str(row[0]):
            pytest.skip("TimescaleDB only (plain PostgreSQL has no background jobs)")
    with fresh_database(pg_admin_dsn) as url:
        name = url.rsplit("/", 1)[1]
        seen: set[str] = set()
        done = threading.Event()

        def watch() -> None:
            with psycopg.connect(pg_admin_dsn, autocommit=True) as conn:
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
        jobs = {w for w in seen if (m := re.search(r"\[(\d+)\]$", w)) and int(m[1]) >= 1000}
        assert jobs == set(), seen
        with psycopg.connect(pg_admin_dsn, autocommit=True) as conn:
            for _ in range(200):  # the launcher starts the scheduler again: wait for it
                if _SCHEDULER in _workers(conn, name):
                    break
                time.sleep(0.05)
            assert _SCHEDULER in _workers(conn, name)
