"""Apply ``schemas/core/migrations/NNNN_*.sql`` in order, each once, recorded in ``schema_migrations``.

Each migration runs in its own transaction. A PostgreSQL advisory lock keeps two processes
from migrating at once. When the ``timescaledb`` extension is available on the server it is
created first, so migrations can create hypertables; otherwise the same tables are created on
plain PostgreSQL.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from importlib import resources

import psycopg

__all__ = ["Migration", "MigrationError", "applied", "available", "migrate", "timescaledb_enabled"]

log = logging.getLogger(__name__)

_LOCK_KEY = 0x5357_4D49_4752  # "SWMIGR"


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
        for m in pending:
            log.info("applying migration %s_%s", m.version, m.name)
            try:
                with conn.transaction():
                    conn.execute(m.sql.encode())
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name, checksum) "
                        "VALUES (%s, %s, %s)",
                        (m.version, m.name, m.checksum),
                    )
            except psycopg.Error as exc:
                raise MigrationError(f"migration {m.version}_{m.name} failed: {exc}") from exc
        return [m.version for m in pending]
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
