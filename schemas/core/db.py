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
    conninfo: str, *, application_name: str, min_size: int = 1, max_size: int = 4
) -> ConnectionPool:
    """A connection pool; the caller opens it (``pool.open()``) and closes it."""
    return ConnectionPool(
        conninfo,
        min_size=min_size,
        max_size=max_size,
        open=False,
        kwargs={"application_name": application_name, "row_factory": dict_row},
        name=application_name,
    )
