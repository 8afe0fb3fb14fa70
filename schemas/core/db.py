"""Connection factories. Generic: they take arguments and never read settings."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

__all__ = ["connect", "open_pool"]


def connect(
    conninfo: str, *, application_name: str, autocommit: bool = False, **params: Any
) -> psycopg.Connection:
    """One connection, for CLI tools and long-running workers; ``params`` are more libpq
    connection parameters (e.g. keepalives)."""
    return psycopg.connect(
        conninfo,
        application_name=application_name,
        autocommit=autocommit,
        connect_timeout=10,
        **params,
    )


def open_pool(
    conninfo: str,
    *,
    application_name: str,
    min_size: int = 1,
    max_size: int = 4,
    idle_in_transaction_s: int | None = None,
) -> ConnectionPool:
    """A connection pool; the caller opens it (``pool.open()``) and closes it. With
    ``idle_in_transaction_s`` the server ends a session whose transaction stays idle longer
    (``idle_in_transaction_session_timeout``), so no transaction is held open for long."""

    def configure(conn: psycopg.Connection[Any]) -> None:
        conn.execute(
            "SELECT set_config('idle_in_transaction_session_timeout', %s, false)",
            (f"{idle_in_transaction_s}s",),
        )
        conn.commit()

    return ConnectionPool(
        conninfo,
        min_size=min_size,
        max_size=max_size,
        open=False,
        kwargs={"application_name": application_name, "row_factory": dict_row},
        configure=configure if idle_in_transaction_s else None,
        name=application_name,
    )
