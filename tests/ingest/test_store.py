"""The ingest store: back-off while the database is down, then commit; a decoder bug makes a dead
letter. Real database (a closed port or a cut proxy for the outage); the stop event is a fake that
records the waits asked of it, so that nothing here sleeps or depends on timing."""

from __future__ import annotations

import itertools
import socket
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from ingest.hj212 import build_packet, build_segment, encode_cp
from ingest.mqtt import Inbound
from ingest.outlets import FindOutlet, OutletDirectory
from ingest.records import Accepted, Rejected
from ingest.store import Decoded, IngestStore, backoff
from ingest.worker import MqttDecoder
from tests.fixtures.proxy import database_proxy
from tests.fixtures.registry import add_outlet

MN = "010000A8900016F0000STORE1"
T0 = datetime(2026, 11, 28, 8, 0)


class RecordedStop(threading.Event):
    """A stop event whose ``wait`` returns at once: it records the delay asked, and answers
    ``then(n)`` for the n-th wait (True: stop now)."""

    def __init__(self, then: Callable[[int], bool]) -> None:
        super().__init__()
        self.delays: list[float | None] = []
        self.then = then

    def wait(self, timeout: float | None = None) -> bool:
        self.delays.append(timeout)
        return self.then(len(self.delays))


def qn(i: int) -> str:
    return (T0 + timedelta(minutes=i)).strftime("%Y%m%d%H%M%S000")


def message(i: int, *, mn: str = MN) -> Inbound:
    when = T0 + timedelta(minutes=i)
    cp = encode_cp({"DataTime": when.strftime("%Y%m%d%H%M%S")}, {"a21026": {"Rtd": f"{i}.5"}})
    seg = build_segment(qn=qn(i), st="31", cn="2011", pw="123456", mn=mn, flag=5, cp=cp)
    return Inbound(f"hj212/{mn}/up", build_packet(seg), datetime.now(UTC), i, 1, 0)


def store(url: str, retry_max_delay_s: float = 1.0) -> IngestStore[Inbound]:
    return IngestStore(
        url,
        MqttDecoder(),
        application_name="sourcewatch.test",
        registry_refresh_s=30.0,
        retry_max_delay_s=retry_max_delay_s,
    )


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def frames(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT count(*) FROM frames").fetchone()
    assert row is not None
    return int(row[0])


def test_backoff_doubles_from_the_first_delay_up_to_the_most() -> None:
    assert list(itertools.islice(backoff(0.2, 1.0), 6)) == [0.2, 0.4, 0.8, 1.0, 1.0, 1.0]
    assert list(itertools.islice(backoff(0.2, 0.1), 2)) == [0.1, 0.1]


def test_while_the_database_is_down_the_store_backs_off_until_stopped() -> None:
    url = f"postgresql://nobody@127.0.0.1:{closed_port()}/none"
    s = store(url)
    stop = RecordedStop(then=lambda n: n == 5)
    try:
        assert s.store([message(1)], stop) is None  # stopped: nothing committed, answer nothing
    finally:
        s.close()
    assert stop.delays == [0.2, 0.4, 0.8, 1.0, 1.0]
    assert s.stats.write_retries == 5
    assert not s.stats.last_write_ok
    assert s.stats.last_error is not None
    assert (s.stats.messages, s.stats.batches) == (0, 0)


@pytest.mark.integration
def test_the_same_batch_commits_once_the_database_is_back(
    db: psycopg.Connection, database_url: str
) -> None:
    add_outlet(db, MN)
    with database_proxy(database_url) as (proxy, url):
        s = store(url)
        try:
            assert s.store([message(1)], RecordedStop(then=lambda n: False)) is not None
            proxy.cut()  # the open connection breaks; new ones are refused

            def back_at_the_second_wait(n: int) -> bool:
                if n == 2:
                    proxy.restore()
                return False

            stop = RecordedStop(then=back_at_the_second_wait)
            written = s.store([message(2), message(3)], stop)
        finally:
            s.close()
    assert stop.delays == [0.2, 0.4]
    assert written is not None
    assert [a.qn for a in written.accepted] == [qn(2), qn(3)]
    assert all(a.reply is not None for a in written.accepted)  # to be sent now: durable
    assert frames(db) == 3
    assert (s.stats.messages, s.stats.batches, s.stats.write_retries) == (3, 2, 2)
    assert s.stats.last_write_ok
    assert (s.stats.written.frames_new, s.stats.written.values_inserted) == (3, 3)


class BuggyDecoder(MqttDecoder):
    """The real decoder, except that it fails on the topic of one MN."""

    def decode(self, item: Inbound, find_outlet: FindOutlet) -> Sequence[Accepted | Rejected]:
        if item.topic == "hj212/BUGGY/up":
            raise ValueError("a decoder bug")
        return super().decode(item, find_outlet)


@pytest.mark.integration
def test_a_decoder_bug_makes_a_dead_letter_and_the_rest_is_stored(
    db: psycopg.Connection, database_url: str
) -> None:
    add_outlet(db, MN)
    s = IngestStore(
        database_url, BuggyDecoder(), application_name="sourcewatch.test", registry_refresh_s=30
    )
    buggy = message(2, mn="BUGGY")
    try:
        written = s.store([message(1), buggy], RecordedStop(then=lambda n: True))
    finally:
        s.close()
    assert written is not None
    assert len(written.accepted) == 1
    [dead] = written.rejected
    assert (dead.transport, dead.topic, dead.raw, dead.reason) == (
        "mqtt",
        buggy.topic,
        buggy.payload,
        "format",
    )
    assert dead.detail == "decoder error: ValueError('a decoder bug')"
    assert s.stats.by_reason == {"format": 1}
    row = db.execute("SELECT reason, topic FROM dead_letters").fetchone()
    assert row == ("format", "hj212/BUGGY/up")


def test_decoding_ahead_while_the_database_is_down_leaves_it_to_the_write() -> None:
    url = f"postgresql://nobody@127.0.0.1:{closed_port()}/none"
    s = store(url)
    try:
        assert s.predecode([message(1)]) is None  # the outlet directory needs the database
    finally:
        s.close()


@pytest.mark.integration
def test_a_batch_decoded_ahead_commits_once_the_database_is_back(
    db: psycopg.Connection, database_url: str
) -> None:
    add_outlet(db, MN)
    with database_proxy(database_url) as (proxy, url):
        s = store(url)
        try:
            batch = [message(1), message(2)]
            decoded = s.predecode(batch)  # as the worker does, while the batch before is written
            assert decoded is not None
            assert [a.qn for a in decoded.accepted] == [qn(1), qn(2)]
            assert frames(db) == 0  # decoding writes nothing
            proxy.cut()  # the database goes away before the write

            def back_at_the_second_wait(n: int) -> bool:
                if n == 2:
                    proxy.restore()
                return False

            stop = RecordedStop(then=back_at_the_second_wait)
            written = s.store(batch, stop, decoded)
        finally:
            s.close()
    assert stop.delays == [0.2, 0.4]
    assert written is not None
    assert [a.qn for a in written.accepted] == [qn(1), qn(2)]
    assert frames(db) == 2
    assert (s.stats.messages, s.stats.batches, s.stats.write_retries) == (2, 1, 2)


@pytest.mark.integration
def test_the_next_batch_is_decoded_while_this_one_is_written_on_the_same_thread(
    db: psycopg.Connection, database_url: str
) -> None:
    add_outlet(db, MN)
    late = "010000A8900016F0000STORE2"
    s = store(database_url)
    s.directory = OutletDirectory(miss_refresh_s=0.0)  # an unknown MN: asks the database at once
    ahead: list[object] = []

    def meanwhile() -> None:  # as the worker does, in the middle of the write's COPY
        ahead.append(frames(db))  # this batch not committed yet
        add_outlet(db, late)  # unknown to the outlet directory: decoding it asks the database
        ahead.append(s.predecode([message(3, mn=late)]))

    try:
        written = s.store(
            [message(1), message(2)], RecordedStop(then=lambda n: True), None, meanwhile
        )
    finally:
        s.close()
    assert written is not None
    assert [a.qn for a in written.accepted] == [qn(1), qn(2)]
    assert frames(db) == 2
    committed_then, decoded = ahead
    assert committed_then == 0
    assert isinstance(decoded, Decoded)
    assert [(a.mn, a.qn) for a in decoded.accepted] == [(late, qn(3))]
