"""Issue 15, the TCP gateway: each attack against a real gateway (real sockets, the real
database), then its refusal."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from datetime import timedelta

import psycopg
import pytest

from ingest.hj212 import build_packet, build_segment, encode_cp
from ingest.tcp_peers import PeerLimits, Peers
from ingest.writer import DEAD_LETTER_MAX_BYTES
from tests.fixtures.registry import add_outlet
from tests.ingest.test_tcp_gateway import (
    MN,
    T0,
    counts,
    frame,
    gateway,
    metric,
    receive,
    reply_of,
    silent,
    wait_until,
)

pytestmark = pytest.mark.integration

OTHER_MN = "010000A8900016F000169DC2"


def dataless(i: int, *, pw: str, mn: str = MN) -> bytes:
    """A frame that carries no value: what a PW guesser sends (it leaves no data behind)."""
    when = T0 + timedelta(seconds=30 * i)
    cp = encode_cp({"DataTime": when.strftime("%Y%m%d%H%M%S")}, {})
    seg = build_segment(
        qn=when.strftime("%Y%m%d%H%M%S000"), st="31", cn="2011", pw=pw, mn=mn, flag=5, cp=cp
    )
    return build_packet(seg)


@contextlib.contextmanager
def connect(address: tuple[str, int], source: str = "127.0.0.1") -> Iterator[socket.socket]:
    with socket.create_connection(address, timeout=5, source_address=(source, 0)) as s:
        yield s


def closed_without_answer(s: socket.socket, timeout: float = 10.0) -> bool:
    """The gateway closes ``s`` having sent nothing on it."""
    s.settimeout(timeout)
    data = b""
    try:
        while chunk := s.recv(4096):
            data += chunk
    except ConnectionResetError:
        pass
    return data == b""


def test_the_right_pw_is_not_confirmed_after_wrong_guesses(
    database_url: str, db: psycopg.Connection
) -> None:
    """The oracle: wrong PWs were silent and the right one got a 9014, so a guesser could try
    PWs until one was answered. Now an IP past ``max_rejections`` rejected frames is answered
    nothing, not even for the right PW, and its connections are closed after a delay."""
    add_outlet(db, MN)
    with gateway(database_url, max_rejections=3, throttle_delay_s=0.2) as addr:
        with connect(addr) as s:
            for i, guess in enumerate(("000000", "111111", "222222")):
                s.sendall(dataless(i, pw=guess))
                assert silent(s, 0.3)
            assert wait_until(lambda: counts(db)[2] == 3)
            s.sendall(dataless(3, pw="333333") + dataless(4, pw="123456"))
            assert closed_without_answer(s)
        with connect(addr) as again:  # a new connection from the same IP: nothing either
            again.sendall(dataless(5, pw="123456"))
            assert closed_without_answer(again)
        with connect(addr, "127.0.0.2") as logger:  # another IP is not punished
            logger.sendall(frame(6))
            assert receive(logger, 1) == reply_of(6)
    reasons = [r for (r,) in db.execute("SELECT reason FROM dead_letters ORDER BY id")]
    assert reasons == ["wrong-pw"] * 4


def test_wrong_pw_unknown_mn_and_bad_crc_are_answered_alike(
    database_url: str, db: psycopg.Connection
) -> None:
    """Every rejected frame counts the same toward the throttle: a wrong PW cannot be told
    from an unknown MN or a bad CRC by how the gateway answers."""
    add_outlet(db, MN)
    bad_crc = bytearray(dataless(2, pw="123456"))
    bad_crc[-4] = ord("0") if bad_crc[-4] != ord("0") else ord("1")
    with (
        gateway(database_url, max_rejections=2, throttle_delay_s=0.2) as addr,
        connect(addr) as s,
    ):
        s.sendall(dataless(0, pw="000000"))
        assert silent(s, 0.3)
        s.sendall(dataless(1, pw="123456", mn=OTHER_MN))
        assert silent(s, 0.3)
        s.sendall(bytes(bad_crc) + dataless(3, pw="123456"))
        assert closed_without_answer(s)
    reasons = sorted(r for (r,) in db.execute("SELECT reason FROM dead_letters"))
    assert reasons == ["crc", "unknown-mn", "wrong-pw"]


def test_an_outlet_without_a_pw_is_refused_on_tcp(
    database_url: str, db: psycopg.Connection
) -> None:
    """An outlet registered without a PW accepted anything with its MN on TCP."""
    add_outlet(db, MN, password=None)
    with gateway(database_url) as addr, connect(addr) as s:
        s.sendall(frame(1, pw="anything"))
        assert silent(s)
        assert wait_until(lambda: counts(db)[2] == 1)
    assert counts(db) == (0, 0, 1)
    assert db.execute("SELECT reason, mn FROM dead_letters").fetchall() == [("no-pw", MN)]


def open_idle(address: tuple[str, int], sources: list[str], per_source: int) -> list[socket.socket]:
    sockets = []
    for source in sources:
        for _ in range(per_source):
            sockets.append(socket.create_connection(address, timeout=5, source_address=(source, 0)))
    return sockets


def test_a_thousand_idle_sockets_from_one_ip_do_not_lock_out_loggers(
    database_url: str, db: psycopg.Connection
) -> None:
    """1,000 idle sockets took every one of the 1,000 connections: real loggers were refused."""
    add_outlet(db, MN)
    with gateway(database_url, max_connections=1000, max_connections_per_ip=20) as addr:
        idle = open_idle(addr, ["127.0.0.1"], 1000)
        try:
            with connect(addr, "127.0.0.2") as logger:
                logger.sendall(frame(1))
                assert receive(logger, 1) == reply_of(1)
        finally:
            for s in idle:
                s.close()
    assert counts(db)[:2] == (1, 2)


def test_a_thousand_idle_sockets_from_many_ips_make_room_for_a_logger(
    database_url: str, db: psycopg.Connection
) -> None:
    """Every connection taken by sockets that never sent a valid frame: the oldest of them
    makes room for the newcomer."""
    add_outlet(db, MN)
    sources = [f"127.0.1.{n}" for n in range(1, 51)]
    with gateway(database_url, max_connections=1000, max_connections_per_ip=20) as addr:
        idle = open_idle(addr, sources, 20)
        try:
            with connect(addr, "127.0.0.2") as logger:
                logger.sendall(frame(1))
                assert receive(logger, 1) == reply_of(1)
            assert closed_without_answer(idle[0])  # the oldest was evicted
        finally:
            for s in idle:
                s.close()
    assert metric("sourcewatch_gateway_connections_total", outcome="evicted") >= 1


def test_a_connection_without_a_valid_frame_is_closed_at_the_deadline(
    database_url: str, db: psycopg.Connection
) -> None:
    add_outlet(db, MN)
    with gateway(database_url, idle_timeout_s=300, first_frame_timeout_s=0.3) as addr:
        with connect(addr) as silent_one:
            assert closed_without_answer(silent_one)
        with connect(addr) as trickle:  # bytes, but never a frame
            trickle.sendall(b"##0")
            assert closed_without_answer(trickle)
        with connect(addr) as logger:  # a valid frame: the deadline no longer applies
            logger.sendall(frame(1))
            assert receive(logger, 1) == reply_of(1)
            assert silent(logger, 0.6)
            logger.sendall(frame(2))
            assert receive(logger, 1) == reply_of(2)


def test_dead_letters_are_capped_in_size(database_url: str, db: psycopg.Connection) -> None:
    """A garbage stream left up to 64 KiB per read in dead_letters."""
    garbage = b"x" * 60000
    with gateway(database_url) as addr, connect(addr) as s:
        s.sendall(garbage + b"\r\n")
        s.shutdown(socket.SHUT_WR)
        assert wait_until(lambda: counts(db)[2] == 1)
    raw, length = db.execute("SELECT raw, raw_length FROM dead_letters").fetchone() or (b"", 0)
    assert bytes(raw) == garbage[:DEAD_LETTER_MAX_BYTES]
    assert length == len(garbage)


def test_dead_letters_are_capped_in_rate_per_ip(database_url: str, db: psycopg.Connection) -> None:
    """Garbage between '##' became one dead letter each, without end."""
    dropped = metric("sourcewatch_gateway_dead_letters_dropped_total")
    garbage = b"".join(b"##%04dgarbage\r\n" % i for i in range(30))
    with (
        gateway(database_url, max_rejections=1000, dead_letters_per_minute=2) as addr,
        connect(addr) as s,
    ):
        s.sendall(garbage)
        s.shutdown(socket.SHUT_WR)
        assert wait_until(
            lambda: (
                counts(db)[2] + metric("sourcewatch_gateway_dead_letters_dropped_total")
                >= 30 + dropped
            )
        )
    # a burst of 2, then 1 per 30 s (a slow run may see one more)
    assert 2 <= counts(db)[2] <= 3
    assert metric("sourcewatch_gateway_dead_letters_dropped_total") - dropped >= 27


def test_dead_letters_are_capped_in_all_whatever_the_number_of_ips(
    database_url: str, db: psycopg.Connection
) -> None:
    """Each IP had its own dead-letter budget: from an address block (an IPv6 /64 is 2^64
    addresses) garbage left a burst per address. Now all IPs together leave at most
    dead_letters_per_minute_total."""
    dropped = metric("sourcewatch_gateway_dead_letters_dropped_total")
    ips = [f"127.0.0.{i}" for i in range(2, 8)]
    started = time.monotonic()
    with gateway(
        database_url,
        max_rejections=1000,
        dead_letters_per_minute=5,
        dead_letters_per_minute_total=8,
    ) as addr:
        for n, ip in enumerate(ips):
            with connect(addr, source=ip) as s:
                s.sendall(b"".join(b"##%02d%02dgarbage\r\n" % (n, i) for i in range(5)))
                s.shutdown(socket.SHUT_WR)
                assert closed_without_answer(s)
        assert wait_until(
            lambda: (
                counts(db)[2] + metric("sourcewatch_gateway_dead_letters_dropped_total")
                >= 30 + dropped
            )
        )
    refilled = (time.monotonic() - started) * 8 / 60
    assert 8 <= counts(db)[2] <= 8 + refilled + 1  # a burst of 8 in all, then 8 per minute
    assert metric("sourcewatch_gateway_dead_letters_dropped_total") - dropped >= 21


# --- the rules, by the clock they are given --------------------------------------------------


def test_the_throttle_lifts_after_the_window() -> None:
    peers = Peers(PeerLimits(max_rejections=2, window_s=60))
    peers.reject("10.0.0.1", 3, now=100.0)
    assert peers.throttled("10.0.0.1", 100.0)
    assert not peers.throttled("10.0.0.2", 100.0)
    assert peers.throttled("10.0.0.1", 159.0)
    assert not peers.throttled("10.0.0.1", 160.5)


def test_connections_per_ip_are_counted_and_forgotten() -> None:
    peers = Peers(PeerLimits(max_per_ip=2, dead_letters_per_minute=60))
    assert peers.open("a") and peers.open("a") and not peers.open("a")
    assert peers.open("b")
    peers.closed("a")
    assert peers.open("a")
    for ip in ("a", "a", "b"):
        peers.closed(ip)
    assert peers.take_dead_letter("a", 0.0)
    peers.prune(0.5)
    assert len(peers) == 1  # "a" has used a token: kept until its bucket is full again
    peers.prune(61.0)
    assert len(peers) == 0


def test_dead_letter_tokens_refill_at_the_rate() -> None:
    peers = Peers(PeerLimits(dead_letters_per_minute=3))
    assert [peers.take_dead_letter("a", 0.0) for _ in range(4)] == [True, True, True, False]
    assert not peers.take_dead_letter("a", 19.0)
    assert peers.take_dead_letter("a", 20.5)
