"""The MQTT client's read-ahead (:class:`ingest.mqtt._Client`): one ``recv`` takes what the
socket holds and paho's packet reader is served from it.

It overrides paho's private ``_sock_recv``; these tests fail if paho reads its packets
otherwise (the read-ahead then unused, or bytes read ahead skipped or read twice)."""

from __future__ import annotations

import inspect
import queue
import time
import uuid

import paho.mqtt.client as mqtt
import pytest

from ingest.mqtt import READ_AHEAD_BYTES, Inbox, MqttOptions, MqttTransport, _Client
from tests.fixtures.mqtt import publisher


class FakeSocket:
    """Hands out ``chunks`` one per ``recv`` (at most ``bufsize`` of each), then blocks."""

    def __init__(self, *chunks: bytes) -> None:
        self.chunks = list(chunks)
        self.asked: list[int] = []

    def recv(self, bufsize: int) -> bytes:
        self.asked.append(bufsize)
        if not self.chunks:
            raise BlockingIOError
        chunk = self.chunks.pop(0)
        assert len(chunk) <= bufsize
        return chunk

    def close(self) -> None:  # paho closes its socket when the client is collected
        self.chunks = []


def reading(sock: FakeSocket) -> _Client:
    client = _Client(Inbox(), 10, "read-ahead-test")
    client._sock = sock  # type: ignore[assignment]  # what paho's connect sets
    return client


def test_one_recv_serves_several_reads_in_order() -> None:
    sock = FakeSocket(b"\x30\x05hello\x30\x02", b"ok")
    client = reading(sock)
    assert client._sock_recv(1) == b"\x30"
    assert sock.asked == [READ_AHEAD_BYTES]  # the socket is asked for all it holds
    assert client.read_ahead()
    assert [client._sock_recv(1), client._sock_recv(5), client._sock_recv(1)] == [
        b"\x05",
        b"hello",
        b"\x30",
    ]
    assert client._sock_recv(1) == b"\x02"
    assert not client.read_ahead()  # all of the first chunk handed out
    assert client._sock_recv(5) == b"ok"  # shorter than asked, as a socket's recv may be
    assert sock.asked == [READ_AHEAD_BYTES, READ_AHEAD_BYTES]
    with pytest.raises(BlockingIOError):  # nothing more: as paho expects of its socket
        client._sock_recv(1)
    assert client.socket_reads == 3


def test_the_end_of_the_connection_reads_as_empty() -> None:
    client = reading(FakeSocket(b"\x30", b""))
    assert client._sock_recv(1) == b"\x30"
    assert client._sock_recv(1) == b""


def test_bytes_read_ahead_on_a_lost_connection_are_not_served_on_the_next() -> None:
    client = reading(FakeSocket(b"\x30\x05hel"))
    assert client._sock_recv(1) == b"\x30"
    assert client.read_ahead()
    client._sock = FakeSocket(b"\x20\x03")  # type: ignore[assignment]  # reconnected
    assert not client.read_ahead()
    assert client._sock_recv(1) == b"\x20"
    assert client._sock_recv(1) == b"\x03"


def test_paho_reads_its_packets_through_sock_recv() -> None:
    """What the read-ahead relies on in paho (2.x): the packet reader asks ``_sock_recv``."""
    assert list(inspect.signature(mqtt.Client._sock_recv).parameters) == ["self", "bufsize"]
    reader = inspect.getsource(mqtt.Client._packet_read)
    assert "self._sock_recv(" in reader and "self._sock.recv(" not in reader


def away(mqtt_url: str, receive_maximum: int, total: int) -> MqttTransport:
    """A transport whose session and subscription wait at the broker with ``total``
    messages queued while it was away (not started again yet)."""
    options = MqttOptions(
        mqtt_url,
        f"read-ahead-{uuid.uuid4().hex[:6]}",
        ("read-ahead/+/up",),
        "",
        receive_maximum,
        60,
    )
    first = MqttTransport(options)
    first.start()
    assert first.subscribed.wait(10)
    first.stop()  # the session and its subscription stay while it is away
    with publisher(mqtt_url) as publish:
        for i in range(total):
            publish("read-ahead/x/up", payload(i))
    return MqttTransport(options)


def payload(i: int) -> bytes:
    return f"message {i:04d} ".encode() * 20


def take(transport: MqttTransport, total: int, pause_every: int = 0) -> tuple[list[bytes], int]:
    """Take ``total`` messages, acknowledging each, sleeping a while every ``pause_every``;
    returns their payloads and the most the inbox held."""
    got: list[bytes] = []
    peak = 0
    deadline = time.monotonic() + 60
    while len(got) < total and time.monotonic() < deadline:
        peak = max(peak, transport.inbox.qsize())
        try:
            message = transport.inbox.get(timeout=1)
        except queue.Empty:
            continue
        got.append(message.payload)
        transport.ack([message])
        if pause_every and len(got) % pause_every == 0:
            time.sleep(0.2)  # fall behind: the broker's pushes pile up
    time.sleep(0.5)
    assert transport.inbox.qsize() == 0  # nothing more than was published
    return got, peak


@pytest.mark.integration
def test_a_backlog_pushed_at_once_is_read_in_few_reads_whole_in_order(mqtt_url: str) -> None:
    """A backlog within the Receive Maximum, pushed at once on reconnection: read in a few
    ``recv`` calls, every message once, in order."""
    total = 300
    transport = away(mqtt_url, 1000, total)
    transport.start()
    try:
        got, _ = take(transport, total)
    finally:
        transport.stop()
    assert got == [payload(i) for i in range(total)]
    assert 0 < transport._client.socket_reads < total / 3


@pytest.mark.integration
def test_reading_paused_with_bytes_read_ahead_loses_nothing(mqtt_url: str) -> None:
    """Messages taken slowly and acknowledged one by one (which lets a Mosquitto before 2.0.13
    push more than the Receive Maximum of 10: reading then pauses with bytes read ahead):
    every message reaches the inbox once, in order, the inbox never above RM + 1."""
    total = 300
    transport = away(mqtt_url, 10, total)
    transport.start()
    try:
        got, peak = take(transport, total, pause_every=50)
    finally:
        transport.stop()
    assert got == [payload(i) for i in range(total)]
    assert peak <= transport.options.receive_maximum + 1
