"""Connection factories. Generic: they take arguments and never read settings."""

from __future__ import annotations

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

__all__ = ["connect", "open_pool"]


def connect(
    conninfo: str, *, application_name: str, autocommit: bool = False
) -> psycopg.Connection:
    """One connection, for CLI tools and the LISTEN side of long-running workers."""
    return psycopg.connect(
        conninfo, application_name=application_name, autocommit=autocommit, connect_timeout=10
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
