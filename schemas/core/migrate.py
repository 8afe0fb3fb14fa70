"""Apply ``schemas/core/migrations/NNNN_*.sql`` in order, each once, recorded in ``schema_migrations``.

Each migration runs in its own transaction. A PostgreSQL advisory lock keeps two processes
from migrating at once. When the ``timescaledb`` extension is available on the server it is
created first, so migrations can create hypertables; otherwise the same tables are created on
plain PostgreSQL.

On TimescaleDB no background job of the database runs while migrations apply. Before the first
pending migration the scheduled jobs are unscheduled (remembered in
``schema_migrations_held_jobs``) and their running workers waited for (TimescaleDB's scheduler
cancels the worker of a job that is no longer scheduled); a job a migration adds is unscheduled
in that migration's own transaction, so the scheduler never sees it scheduled; all are scheduled
again when ``migrate()`` ends (after a crash, when it next runs). Why: 0013 adds the aggregate's
refresh policy and 0016 its compression policy, due at once, and 0024's drop of the aggregate
deletes those jobs from TimescaleDB's catalog while the scheduler and the jobs' workers write
there (the server's log: the failure within milliseconds of a job worker's exit): in about
one fresh TimescaleDB database in 30, 0024 failed with ``tuple concurrently updated`` (or
``deleted``) (bench/README.md, "Nineteenth round").
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from importlib import resources

import psycopg

__all__ = ["Migration", "MigrationError", "applied", "available", "migrate", "timescaledb_enabled"]

log = logging.getLogger(__name__)

_LOCK_KEY = 0x5357_4D49_4752  # "SWMIGR"

# The jobs the migrations hold: scheduled, added by policies (TimescaleDB's own are below 1000)
# and the migrating role's to alter; remembered, then unscheduled.
_HOLD = (
    "WITH held AS (SELECT job_id FROM timescaledb_information.jobs WHERE scheduled"
    "              AND job_id >= 1000 AND pg_has_role(current_user, owner, 'MEMBER')),"
    "     kept AS (INSERT INTO schema_migrations_held_jobs (job_id) SELECT job_id FROM held"
    "              ON CONFLICT DO NOTHING)"
    " SELECT alter_job(job_id, scheduled => false) FROM held"
)
# A job's background worker has the job id last in its backend_type ("… [1000]").
_RUNNING = (
    "SELECT backend_type FROM pg_stat_activity WHERE datname = current_database()"
    r" AND substring(backend_type FROM '\[([0-9]+)\]$')::integer >= 1000"
)
_JOB_WAIT_S = 0.1


class MigrationError(Exception):
    """A migration could not be applied, or the recorded history does not match the files."""


@dataclass(frozen=True, slots=True)
class Migration:
    version: str
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def available() -> list[Migration]:
    """The migrations shipped with the package, in order."""
    folder = resources.files("schemas.core") / "migrations"
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            version, _, rest = entry.name.partition("_")
            found.append(Migration(version, rest.removesuffix(".sql"), entry.read_text("utf-8")))
    return sorted(found, key=lambda m: m.version)


def applied(conn: psycopg.Connection) -> dict[str, str]:
    """Version → checksum of the migrations recorded in the database."""
    rows = conn.execute("SELECT version, checksum FROM schema_migrations ORDER BY version")
    return {version: checksum for version, checksum in rows}


def timescaledb_enabled(conn: psycopg.Connection) -> bool:
    row = conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
    return row is not None


def _enable_timescaledb(conn: psycopg.Connection) -> None:
    offered = conn.execute(
        "SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'"
    ).fetchone()
    if offered is None:
        log.info("timescaledb is not installed on the server: using plain PostgreSQL tables")
        return
    # Installed but not preloaded: CREATE EXTENSION would end the session (FATAL), not fail.
    preload = conn.execute("SELECT current_setting('shared_preload_libraries')").fetchone()
    if preload is None or "timescaledb" not in str(preload[0]):
        log.warning(
            "timescaledb is installed but not in shared_preload_libraries: plain tables "
            "(add it there and restart the server to use hypertables)"
        )
        return
    try:
        with conn.transaction():
            conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    except psycopg.Error as exc:
        log.warning("timescaledb is available but could not be enabled (%s): plain tables", exc)


def hold_jobs(conn: psycopg.Connection) -> None:
    """Unschedule the database's scheduled jobs, remembered for :func:`release_jobs`, and wait
    until no job's worker runs (the scheduler cancels those of unscheduled jobs). TimescaleDB
    only; ``conn`` in autocommit."""
    with conn.transaction():
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations_held_jobs (job_id integer PRIMARY KEY)"
        )
        _hold_scheduled(conn)
    logged = False
    while running := conn.execute(_RUNNING).fetchall():
        if not logged:
            log.info("waiting for running TimescaleDB jobs: %s", ", ".join(r[0] for r in running))
            logged = True
        time.sleep(_JOB_WAIT_S)


def _hold_scheduled(conn: psycopg.Connection) -> None:
    """In the current transaction: unschedule the scheduled jobs, remembering them."""
    conn.execute(_HOLD)


def release_jobs(conn: psycopg.Connection) -> None:
    """Schedule again the jobs :func:`hold_jobs` held (those still there); ``conn`` in autocommit."""
    with conn.transaction():
        if conn.execute("SELECT to_regclass('schema_migrations_held_jobs')").fetchone() == (None,):
            return
        conn.execute(
            "SELECT alter_job(job_id, scheduled => true) FROM schema_migrations_held_jobs"
            " WHERE job_id IN (SELECT job_id FROM timescaledb_information.jobs)"
        )
        conn.execute("DELETE FROM schema_migrations_held_jobs")


def migrate(conn: psycopg.Connection) -> list[str]:
    """Apply pending migrations; return the versions applied. ``conn`` must be in autocommit."""
    if not conn.autocommit:
        raise MigrationError("migrate() needs an autocommit connection")
    conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
    try:
        conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version    text PRIMARY KEY,
                   name       text NOT NULL,
                   checksum   text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        done = applied(conn)
        pending = [m for m in available() if m.version not in done]
        for m in available():
            if m.version in done and done[m.version] != m.checksum:
                raise MigrationError(
                    f"migration {m.version}_{m.name} was changed after it was applied"
                )
        if pending and not done:
            _enable_timescaledb(conn)
        timescaledb = timescaledb_enabled(conn)
        try:
            if pending and timescaledb:
                hold_jobs(conn)
            for m in pending:
                _apply(conn, m, timescaledb)
        finally:
            if timescaledb:
                release_jobs(conn)
        return [m.version for m in pending]
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))


def _apply(conn: psycopg.Connection, m: Migration, timescaledb: bool) -> None:
    log.info("applying migration %s_%s", m.version, m.name)
    try:
        with conn.transaction():
            conn.execute(m.sql.encode())
            if timescaledb:  # the jobs it added: never scheduled while migrations apply
                _hold_scheduled(conn)
            conn.execute(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                (m.version, m.name, m.checksum),
            )
    except psycopg.Error as exc:
        raise MigrationError(f"migration {m.version}_{m.name} failed: {exc}") from exc
