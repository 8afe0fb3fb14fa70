"""The HJ 212 TCP gateway: a real socket client, the real database."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest
from prometheus_client import REGISTRY

from ingest.hj212 import build_packet, build_segment, encode_cp
from ingest.settings import IngestSettings
from ingest.tcp import Gateway, GatewayOptions
from tests.fixtures.proxy import database_proxy
from tests.fixtures.registry import add_outlet

pytestmark = pytest.mark.integration

MN = "010000A8900016F000169DC1"
T0 = datetime(2026, 11, 28, 0, 0, 0)


def frame(i: int, *, mn: str = MN, flag: int = 5, pw: str = "123456", cn: str = "2011") -> bytes:
    when = T0 + timedelta(seconds=30 * i)
    cp = encode_cp(
        {"DataTime": when.strftime("%Y%m%d%H%M%S")},
        {"a21026": {"Rtd": f"{i}.5", "Flag": "N"}, "a21002": {"Rtd": "40.1", "Flag": "N"}},
    )
    seg = build_segment(
        qn=when.strftime("%Y%m%d%H%M%S000"), st="31", cn=cn, pw=pw, mn=mn, flag=flag, cp=cp
    )
    return build_packet(seg)


def qn(i: int) -> str:
    return (T0 + timedelta(seconds=30 * i)).strftime("%Y%m%d%H%M%S000")


def reply_of(i: int) -> bytes:
    seg = f"QN={qn(i)};ST=91;CN=9014;PW=123456;MN={MN};Flag=4;CP=&&&&"
    return build_packet(seg)


@contextmanager
def gateway(database_url: str, **options: float | timedelta) -> Iterator[tuple[str, int]]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    base = GatewayOptions.from_settings(IngestSettings(database_url=database_url))
    gw = Gateway(replace(base, batch_max_delay_s=0.02, **options))  # type: ignore[arg-type]
    try:
        yield asyncio.run_coroutine_threadsafe(gw.start("127.0.0.1", 0), loop).result(5)
    finally:
        asyncio.run_coroutine_threadsafe(gw.close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


@contextmanager
def client(address: tuple[str, int]) -> Iterator[socket.socket]:
    with socket.create_connection(address, timeout=5) as s:
        yield s


def receive(s: socket.socket, n: int, timeout: float = 5.0) -> bytes:
    """Exactly the replies of ``n`` frames (each ends in CR LF)."""
    s.settimeout(timeout)
    data = b""
    while data.count(b"\r\n") < n:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def silent(s: socket.socket, wait: float = 0.5) -> bool:
    s.settimeout(wait)
    try:
        return s.recv(4096) == b""  # closed is not silent, but also no reply
    except TimeoutError:
        return True


def counts(conn: psycopg.Connection) -> tuple[int, int, int]:
    row = conn.execute(
        "SELECT (SELECT count(*) FROM frames), (SELECT count(*) FROM measurements), "
        "(SELECT count(*) FROM dead_letters)"
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])


def wait_until(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def test_one_frame_is_stored_then_answered_with_9014(
    role_urls: dict[str, str], db: psycopg.Connection
) -> None:
    """The gateway as deployed: connected with the ingest processes' own database role."""
    add_outlet(db, MN)
    with gateway(role_urls["ingest"]) as addr, client(addr) as s:
        s.sendall(frame(1))
        assert receive(s, 1) == reply_of(1)
        assert counts(db) == (1, 2, 0)  # the reply came after the commit
    row = db.execute("SELECT transport, topic, qn, crc_ok FROM frames").fetchone()
    assert row == ("tcp", None, qn(1), True)


def test_glued_frames_in_one_send(database_url: str, db: psycopg.Connection) -> None:
    add_outlet(db, MN)
    with gateway(database_url) as addr, client(addr) as s:
        s.sendall(frame(1) + frame(2).rstrip(b"\r\n") + frame(3))  # [70]: no CR LF between
        assert receive(s, 3) == reply_of(1) + reply_of(2) + reply_of(3)
    assert counts(db) == (3, 6, 0)


def test_one_frame_cut_across_three_sends(database_url: str, db: psycopg.Connection) -> None:
    add_outlet(db, MN)
    data = frame(1)
    with gateway(database_url) as addr, client(addr) as s:
        for part in (data[:5], data[5:60], data[60:]):
            s.sendall(part)
            time.sleep(0.15)
        assert receive(s, 1) == reply_of(1)
    assert counts(db) == (1, 2, 0)


def test_corrupt_frame_between_good_ones_is_a_dead_letter(
    database_url: str, db: psycopg.Connection
) -> None:
    add_outlet(db, MN)
    bad = bytearray(frame(2))
    bad[40] = ord("X") if bad[40] != ord("X") else ord("Y")  # CRC no longer matches
    with gateway(database_url) as addr, client(addr) as s:
        s.sendall(frame(1) + bytes(bad) + b"garbage\r\n" + frame(3))
        assert receive(s, 2) == reply_of(1) + reply_of(3)
        s.sendall(frame(4))  # the connection is still alive
        assert receive(s, 1) == reply_of(4)
    assert counts(db)[:2] == (3, 6)
    letters = db.execute(
        "SELECT reason, transport, topic, raw FROM dead_letters ORDER BY id"
    ).fetchall()
    assert [(r, t, p) for r, t, p, _ in letters] == [("crc", "tcp", None), ("format", "tcp", None)]
    assert bytes(letters[0][3]) == bytes(bad).rstrip(b"\r\n")
    assert bytes(letters[1][3]) == b"garbage"


def test_unknown_mn_and_wrong_pw_are_dead_letters(
    database_url: str, db: psycopg.Connection
) -> None:
    add_outlet(db, MN)
    with gateway(database_url) as addr, client(addr) as s:
        s.sendall(frame(1, mn="99999999999999") + frame(2, pw="000000"))
        assert silent(s)
        assert wait_until(lambda: counts(db)[2] == 2)
        s.sendall(frame(3))
        assert receive(s, 1) == reply_of(3)
    reasons = db.execute("SELECT reason, mn FROM dead_letters ORDER BY id").fetchall()
    assert reasons == [("unknown-mn", "99999999999999"), ("wrong-pw", MN)]
    assert counts(db)[:2] == (1, 2)


def test_no_reply_without_the_a_bit_and_9013_for_1013(
    database_url: str, db: psycopg.Connection
) -> None:
    add_outlet(db, MN)
    with gateway(database_url) as addr, client(addr) as s:
        s.sendall(frame(1, flag=4) + frame(2, flag=0))
        assert silent(s)
        assert wait_until(lambda: counts(db)[0] == 2)
        s.sendall(frame(3, cn="1013"))
        answer = receive(s, 1)
    assert f"QN={qn(3)};ST=91;CN=9013;PW=123456;MN={MN};Flag=4".encode() in answer


def test_a_resent_frame_is_a_no_op_but_answered_again(
    database_url: str, db: psycopg.Connection
) -> None:
    add_outlet(db, MN)
    with gateway(database_url) as addr, client(addr) as s:
        s.sendall(frame(1))
        assert receive(s, 1) == reply_of(1)
        before = db.execute("SELECT count(*), max(revision) FROM measurements").fetchone()
        s.sendall(frame(1))
        assert receive(s, 1) == reply_of(1)
    assert counts(db) == (1, 2, 0)
    assert db.execute("SELECT count(*), max(revision) FROM measurements").fetchone() == before


def test_an_idle_connection_is_closed(database_url: str, db: psycopg.Connection) -> None:
    with gateway(database_url, idle_timeout_s=0.3) as addr, client(addr) as s:
        s.settimeout(3)
        started = time.monotonic()
        assert s.recv(10) == b""
        assert 0.2 < time.monotonic() - started < 2.5


def test_too_many_buffered_bytes_close_the_connection(
    database_url: str, db: psycopg.Connection
) -> None:
    with gateway(database_url, max_buffered_bytes=4096) as addr, client(addr) as s:
        s.sendall(b"##9999QN=" + b"1" * 6000)  # a frame that never ends
        s.settimeout(3)
        assert s.recv(10) == b""


def test_no_9014_until_the_data_is_committed(database_url: str, db: psycopg.Connection) -> None:
    add_outlet(db, MN)
    with (
        database_proxy(database_url) as (proxy, url),
        gateway(url, retry_max_delay_s=0.3) as addr,
        client(addr) as s,
    ):
        s.sendall(frame(1))
        assert receive(s, 1) == reply_of(1)  # the connection to the database is open
        proxy.cut()
        s.sendall(frame(2) + frame(3))
        assert silent(s, 1.5)  # database down: nothing acknowledged
        assert counts(db) == (1, 2, 0)
        proxy.restore()
        assert receive(s, 2, timeout=10) == reply_of(2) + reply_of(3)
        assert counts(db) == (3, 6, 0)  # answered only once durable


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_metrics_count_connections_frames_bytes_and_replies(
    database_url: str, db: psycopg.Connection
) -> None:
    add_outlet(db, MN)
    names = (
        "sourcewatch_gateway_frames_total",
        "sourcewatch_gateway_received_bytes_total",
        "sourcewatch_gateway_replies_total",
    )
    outcomes = ("closed", "idle_timeout", "limit_exceeded", "error")
    before = {n: metric(n) for n in names}
    ended = {o: metric("sourcewatch_gateway_connections_total", outcome=o) for o in outcomes}
    opened = metric("sourcewatch_gateway_connections_open")
    sent = frame(1) + frame(2) + b"garbage\r\n"
    with gateway(database_url, idle_timeout_s=0.5, max_buffered_bytes=4096) as addr:
        with client(addr) as s:
            s.sendall(sent)
            assert receive(s, 2) == reply_of(1) + reply_of(2)
            assert metric("sourcewatch_gateway_connections_open") == opened + 1
        with client(addr) as idle:  # says nothing: closed after the idle time-out
            idle.settimeout(3)
            assert idle.recv(10) == b""
        with client(addr) as greedy:  # a frame that never ends
            greedy.sendall(b"##9999QN=" + b"1" * 6000)
            greedy.settimeout(3)
            assert greedy.recv(10) == b""
        closed = ended["closed"] + 1
        assert wait_until(
            lambda: metric("sourcewatch_gateway_connections_total", outcome="closed") == closed
        )
    assert metric("sourcewatch_gateway_connections_open") == opened
    assert metric("sourcewatch_gateway_frames_total") - before[names[0]] == 3  # garbage too
    received = metric("sourcewatch_gateway_received_bytes_total") - before[names[1]]
    assert len(sent) + 4096 < received <= len(sent) + 6009  # the greedy one is cut off early
    assert metric("sourcewatch_gateway_replies_total") - before[names[2]] == 2
    for outcome, more in (("closed", 1), ("idle_timeout", 1), ("limit_exceeded", 1), ("error", 0)):
        now = metric("sourcewatch_gateway_connections_total", outcome=outcome)
        assert now - ended[outcome] == more, outcome


def test_the_gateway_takes_the_future_tolerance_from_the_settings(
    database_url: str, db: psycopg.Connection
) -> None:
    """Issue 15: DataTime more than SOURCEWATCH_FUTURE_TOLERANCE_S ahead of arrival is a dead
    letter on TCP as on MQTT; the gateway reads the setting (it once kept the default)."""
    add_outlet(db, MN)
    ahead = datetime.now(ZoneInfo("Asia/Shanghai")).replace(tzinfo=None) + timedelta(hours=1)

    def dated(when: datetime) -> bytes:
        cp = encode_cp({"DataTime": when.strftime("%Y%m%d%H%M%S")}, {"a21026": {"Rtd": "1"}})
        seg = build_segment(
            qn=when.strftime("%Y%m%d%H%M%S000"), st="31", cn="2011", pw="123456", mn=MN, cp=cp
        )
        return build_packet(seg)

    with gateway(database_url) as addr, client(addr) as s:  # the default: 15 minutes
        s.sendall(dated(ahead))
        assert wait_until(lambda: counts(db)[2] == 1)
    assert db.execute("SELECT reason FROM dead_letters").fetchone() == ("future",)
    lenient = GatewayOptions.from_settings(
        IngestSettings(database_url=database_url, future_tolerance_s=2 * 3600)
    )
    assert lenient.future_tolerance == timedelta(hours=2)
    tolerance = lenient.future_tolerance
    with gateway(database_url, future_tolerance=tolerance) as addr, client(addr) as s:
        s.sendall(dated(ahead + timedelta(seconds=1)))
        assert wait_until(lambda: counts(db)[0] == 1)
    assert counts(db)[2] == 1
