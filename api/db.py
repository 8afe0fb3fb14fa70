"""The API's one door to PostgreSQL, and the one place where psycopg errors become the API's own.

Routes never touch psycopg: they get a :class:`Database` (the pool opened in the app's
lifespan) with :func:`get_database` (the dependency; :func:`database_of` outside one) and run
:class:`Statement` objects built by :mod:`api.queries`. Every transaction carries a statement
time limit, so no public query runs away; a query can still stream any number of rows
(:meth:`Database.stream`: a server-side cursor fetches in batches, and the limit applies to each
fetch; :meth:`Database.stream_tuples`, for statements of bounded size, streams them as one
statement).

Errors (mapped to HTTP statuses by :mod:`api.errors`, the only module that knows them)::

    DatabaseError            a query failed: a bug or a schema mismatch (500)
    ├── DatabaseUnavailable  no connection within the wait, or the server went away (503)
    └── QueryTimeout         a statement ran past the time limit (503)
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import psycopg
from psycopg import sql
from psycopg.rows import dict_row, tuple_row
from psycopg_pool import ConnectionPool, PoolTimeout
from starlette.requests import Request

__all__ = [
    "CONNECTION_WAIT_S",
    "QUERY_TIMEOUT_S",
    "Database",
    "DatabaseError",
    "DatabaseUnavailable",
    "QueryTimeout",
    "Row",
    "Statement",
    "database_of",
    "fetch_rows",
    "get_database",
]

QUERY_TIMEOUT_S = 10.0  # statement_timeout of every API transaction
CONNECTION_WAIT_S = 5.0  # longest wait for a free pooled connection

Row = dict[str, Any]
T = TypeVar("T")

# Every transaction's settings, in one statement (no round trip more): the time limit, and the
# text output of dates, timestamps and intervals that queries cut their texts from
# (api.queries.measurements), fixed here whatever the server's; optionally the session's
# TimeZone (the zone timestamptz values are written and read in).
_SETTINGS = (
    "SELECT set_config('statement_timeout', %s, true),"
    " set_config('DateStyle', 'ISO, MDY', true),"
    " set_config('IntervalStyle', 'postgres', true)"
)
_SETTINGS_IN_ZONE = _SETTINGS + ", set_config('TimeZone', %s, true)"


class DatabaseError(Exception):
    """A query failed for a reason the client cannot fix."""


class DatabaseUnavailable(DatabaseError):
    """No connection could be had, or the server went away."""


class QueryTimeout(DatabaseError):
    """A statement was cancelled by the time limit."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"statement cancelled after {seconds:g} s")
        self.seconds = seconds


@dataclass(frozen=True, slots=True)
class Statement:
    """One parameterised query: values as placeholders, identifiers through ``psycopg.sql``."""

    query: sql.Composed | sql.SQL
    params: Mapping[str, Any] = field(default_factory=dict)


class Database:
    """The pool behind the queries the API runs; psycopg errors leave it as :class:`DatabaseError`."""

    def __init__(
        self,
        pool: ConnectionPool,
        *,
        query_timeout_s: float = QUERY_TIMEOUT_S,
        wait_s: float = CONNECTION_WAIT_S,
    ) -> None:
        self.pool = pool
        self.query_timeout_s = query_timeout_s
        self.wait_s = wait_s

    @contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except PoolTimeout as exc:
            raise DatabaseUnavailable(f"no connection within {self.wait_s:g} s") from exc
        except psycopg.errors.QueryCanceled as exc:
            raise QueryTimeout(self.query_timeout_s) from exc
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            raise DatabaseUnavailable(str(exc)) from exc
        except psycopg.Error as exc:
            raise DatabaseError(f"{type(exc).__name__}: {exc}") from exc

    @contextmanager
    def connection(
        self, *, snapshot: bool = False, timezone: str | None = None
    ) -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection in one transaction (committed at the end, rolled back on an
        error) with the time limit set, DateStyle ISO and IntervalStyle postgres; rows are
        tuples (for :mod:`schemas` functions). With ``snapshot`` the transaction is REPEATABLE
        READ, READ ONLY: every query sees the same data (e.g. an evidence bundle whose files
        must agree). With ``timezone`` the transaction's TimeZone is that zone (the hourly
        series' texts: :func:`api.queries.measurements.hour_json_rows`); timestamptz values
        then come back as datetimes in it (the same instants)."""
        with self._translated(), self.pool.connection(timeout=self.wait_s) as conn:
            previous = conn.row_factory
            conn.row_factory = tuple_row
            try:
                if snapshot:
                    conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                timeout = f"{int(self.query_timeout_s * 1000)}"
                if timezone is None:
                    conn.execute(_SETTINGS, (timeout,))
                else:
                    conn.execute(_SETTINGS_IN_ZONE, (timeout, timezone))
                yield conn
            finally:
                conn.row_factory = previous

    def call(self, function: Callable[[psycopg.Connection[Any]], T]) -> T:
        """Run ``function(conn)`` in one transaction (e.g. a :mod:`schemas` helper)."""
        with self.connection() as conn:
            return function(conn)

    def run(self, *statements: Statement) -> list[list[Row]]:
        """All rows of each statement, in one transaction (one snapshot for counts and pages)."""
        with self.connection() as conn:
            return [fetch_rows(conn, s) for s in statements]

    def fetch_all(self, statement: Statement) -> list[Row]:
        return self.run(statement)[0]

    def fetch_one(self, statement: Statement) -> Row | None:
        rows = self.fetch_all(statement)
        return rows[0] if rows else None

    def stream(
        self, statement: Statement, *, batch: int = 1000, timezone: str | None = None
    ) -> Generator[Row, None, None]:
        """Every row, fetched ``batch`` at a time through a server-side cursor, in a
        transaction of :meth:`connection` (with ``timezone``)."""
        yield from self._stream(statement, batch, dict_row, timezone)

    def stream_tuples(
        self, statement: Statement, *, batch: int = 1000, timezone: str | None = None
    ) -> Generator[tuple[Any, ...], None, None]:
        """:meth:`stream` with rows as tuples (a writer that knows the statement's columns),
        sent by the server without waiting for the next fetch: it writes the next rows while
        the caller writes these (libpq's chunked rows, ``batch`` at a time; the socket's
        buffers bound what is in flight). The time limit applies to the whole statement, the
        caller's time between rows included: for statements of bounded size (an hourly series
        of at most 366 days)."""
        with self.connection(timezone=timezone) as conn, conn.cursor(row_factory=tuple_row) as cur:
            yield from cur.stream(statement.query, statement.params, size=batch)

    def _stream(
        self, statement: Statement, batch: int, row_factory: Any, timezone: str | None
    ) -> Generator[Any, None, None]:
        with (
            self.connection(timezone=timezone) as conn,
            conn.cursor(name="sourcewatch_api_stream", row_factory=row_factory) as cur,
        ):
            cur.itersize = batch
            cur.execute(statement.query, statement.params)
            yield from cur

    def ping(self, timeout_s: float = 2.0) -> None:
        """Raise :class:`DatabaseUnavailable` unless the server answers within ``timeout_s``."""
        with self._translated(), self.pool.connection(timeout=timeout_s) as conn:
            conn.execute("SELECT 1")


def fetch_rows(conn: psycopg.Connection[Any], statement: Statement) -> list[Row]:
    """Rows as dicts, on a connection from :meth:`Database.connection`."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(statement.query, statement.params)
        return cur.fetchall()


def database_of(request: Request) -> Database:
    """The app's :class:`Database` (set in the lifespan)."""
    database = request.app.state.database
    assert isinstance(database, Database), "the app's lifespan has not run"
    return database


async def get_database(request: Request) -> Database:
    """FastAPI dependency: :func:`database_of`. Async because it does not block: FastAPI runs a
    sync dependency in the thread pool, a hop there and back for every request."""
    return database_of(request)
