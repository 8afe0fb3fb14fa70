"""Issue 15, slow clients: a download of every row used to hold a pooled connection and its
transaction while the client read, so 8 slow clients (the pool's size) made every endpoint 503.
Real uvicorn, real PostgreSQL, real sockets that stop reading."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from contextlib import AbstractContextManager, ExitStack
from urllib.parse import urlsplit

import psycopg
import pytest

from api.app import POOL_MAX_SIZE
from api.exports import IDLE_IN_TRANSACTION_S
from api.settings import ApiSettings
from schemas.core.db import open_pool
from tests.api.conftest import World, _free_port, running_api
from tests.fixtures.mqtt import wait_until

ROWS = 4_000
# Long (made-up) flags make the CSV about 10 MB, more than the socket buffers can take on the way
# to a client that stops reading, with few rows to convert.
FLAG = "N" * 2_500
QUERY = "resolution=raw&format=csv&start=2026-11-27T00:00:00Z&end=2026-11-28T00:00:00Z"


@pytest.fixture
def many_values(db: psycopg.Connection, world: World) -> str:
    """The gas outlet's dust every 2 s for most of a day; the path of its raw CSV."""
    db.execute(
        "INSERT INTO measurements (outlet_id, pollutant, kind, ts, value, flag, received_at)"
        " SELECT %s, 'a34013', 'rtd', '2026-11-27T00:00:00Z'::timestamptz + i * interval '2 s',"
        " 10 + i %% 7, %s, now() FROM generate_series(0, %s) AS i",
        (world.gas, FLAG, ROWS - 1),
    )
    return f"/v1/outlets/{world.gas}/measurements?{QUERY}"


def _api(role_urls: dict[str, str], **settings: object) -> AbstractContextManager[str]:
    return running_api(
        ApiSettings(
            database_url=role_urls["api"],
            api_host="127.0.0.1",
            api_port=_free_port(),
            api_rate_limit_per_minute=0,
            **settings,  # type: ignore[arg-type]
        )
    )


def _slow_reader(base: str, path: str) -> socket.socket:
    """A client that asks for ``path``, reads the start of the answer, then stops reading."""
    url = urlsplit(base)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(30)
    sock.connect((url.hostname or "127.0.0.1", url.port or 80))
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
    start = sock.recv(1024)
    assert start.startswith(b"HTTP/1.1 "), start
    return sock


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return int(r.status), r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _idle_in_transaction(db: psycopg.Connection) -> list[str]:
    """The last statement of every API connection left idle in a transaction. Not the pool's
    set-up of a new connection (schemas.core.db's configure: a statement, then a commit), which
    may be under way when a request that waited made the pool grow."""
    rows = db.execute(
        "SELECT query FROM pg_stat_activity WHERE application_name = 'sourcewatch.api'"
        " AND datname = current_database() AND state LIKE 'idle in transaction%'"
        " AND query NOT LIKE 'SELECT set_config(''idle_in_transaction_session_timeout''%'"
    ).fetchall()
    return [r[0] for r in rows]


def test_slow_readers_do_not_hold_the_pool(
    role_urls: dict[str, str], db: psycopg.Connection, many_values: str
) -> None:
    with _api(role_urls, api_streams_per_client=POOL_MAX_SIZE + 2) as base, ExitStack() as stack:
        stalled = [
            stack.enter_context(_slow_reader(base, many_values)) for _ in range(POOL_MAX_SIZE + 1)
        ]
        assert len(stalled) == POOL_MAX_SIZE + 1
        # every one of them is being sent, and none holds a transaction
        assert _idle_in_transaction(db) == []
        status, body = _get(f"{base}/v1/outlets")
        assert status == 200, body
        assert json.loads(body)["meta"]["found"] == 2


def test_downloads_per_client_are_bounded_and_given_back(
    role_urls: dict[str, str], many_values: str
) -> None:
    with _api(role_urls, api_streams_per_client=2) as base:
        with _slow_reader(base, many_values), _slow_reader(base, many_values):
            status, body = _get(f"{base}{many_values}")
            assert status == 429, body
            error = json.loads(body)["error"]
            assert error["code"] == "too_many_streams" and "at most 2" in error["message"]
            assert _get(f"{base}/v1/outlets")[0] == 200  # other requests are not affected
        # the two readers went away: their slots are given back
        wait_until(lambda: _get(f"{base}{many_values}")[0] == 200, what="a free download slot")


def test_a_download_is_cut_off_after_its_time(role_urls: dict[str, str], many_values: str) -> None:
    """A client that stalls past ``api_stream_max_seconds`` gets the connection closed before
    the end of the body (a chunked body without its last, empty chunk)."""
    with _api(role_urls, api_stream_max_seconds=1) as base:
        sock = _slow_reader(base, many_values)
        with sock:
            time.sleep(3)  # stalled past the limit: the server gives up on this client
            tail = b""
            try:
                while chunk := sock.recv(1 << 20):
                    tail = (tail + chunk)[-16:]
            except ConnectionResetError:
                pass
        assert not tail.endswith(b"\r\n0\r\n\r\n")
        _, complete = _get_raw(base, many_values)
        assert complete.endswith(b"\r\n0\r\n\r\n")  # a reader that keeps reading gets it all


def _get_raw(base: str, path: str) -> tuple[bytes, bytes]:
    """Status line and the last bytes of a whole response, read as fast as it comes."""
    url = urlsplit(base)
    with socket.create_connection((url.hostname or "127.0.0.1", url.port or 80), timeout=30) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n".encode())
        first = s.recv(64)
        tail = first
        while chunk := s.recv(1 << 20):
            tail = (tail + chunk)[-16:]
    return first.split(b"\r\n", 1)[0], tail


def test_the_api_pool_ends_idle_transactions(database_url: str) -> None:
    pool = open_pool(
        database_url,
        application_name="sourcewatch.test",
        idle_in_transaction_s=IDLE_IN_TRANSACTION_S,
    )
    pool.open(wait=True)
    try:
        with pool.connection() as conn:
            row = conn.execute("SHOW idle_in_transaction_session_timeout").fetchone()
    finally:
        pool.close()
    assert row is not None and row["idle_in_transaction_session_timeout"] == "30s"
