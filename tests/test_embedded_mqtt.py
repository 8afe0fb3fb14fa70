"""The private MQTT broker of the embedded default: Mosquitto where installed, else Aedes on
Node.js; and what it says when there is neither. (That Aedes keeps a killed worker's messages
is tested with the other brokers in tests/ingest/test_ingest_resilience.py.)"""

from __future__ import annotations

import contextlib
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from sourcewatch import embedded_mqtt
from sourcewatch.embedded_mqtt import (
    BROKER_LIMITS,
    MAX_PACKET_SIZE,
    aedes_command,
    embedded_aedes,
    embedded_broker,
)
from tests.fixtures.mqtt import collector, publisher

needs_aedes = pytest.mark.skipif(
    aedes_command() is None, reason="Aedes is not installed (Node.js >= 20, then make install)"
)
needs_mosquitto = pytest.mark.skipif(
    embedded_mqtt.mosquitto_binary() is None, reason="Mosquitto is not installed"
)


def _processes(pattern: str) -> list[str]:
    found = subprocess.run(["pgrep", "-af", pattern], check=False, capture_output=True, text=True)
    return [line for line in found.stdout.splitlines() if "pgrep" not in line]


def _aedes_on(port: int) -> list[str]:
    """The Aedes processes started for ``port`` (``node broker.mjs [OPTIONS] PORT``)."""
    return _processes(f"broker.mjs .* {port}$")


def _wait(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _listener(port: int) -> str:
    """Name of the process listening on the loopback ``port`` (ss, from iproute2)."""
    out = subprocess.run(
        ["ss", "-ltnpH", f"sport = :{port}"], check=True, capture_output=True, text=True
    ).stdout
    names = re.findall(r'users:\(\("([^"]+)"', out)
    return names[0] if names else ""


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def _round_trip(url: str) -> None:
    with collector(url, "probe/#") as got, publisher(url) as publish:
        publish("probe/1", b"hello")
        _wait(lambda: ("probe/1", b"hello") in got, "the message")


@needs_mosquitto
def test_auto_starts_mosquitto_where_it_is_installed() -> None:
    with embedded_broker("auto") as url:
        _round_trip(url)
        assert _listener(_port(url)) == "mosquitto"
    assert _listener(_port(url)) == ""


@needs_aedes
def test_auto_falls_back_to_aedes_without_mosquitto(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embedded_mqtt, "mosquitto_binary", lambda: None)
    with embedded_broker("auto") as url:
        _round_trip(url)
        assert _listener(_port(url)) == "node"
        assert _aedes_on(_port(url))
    assert not _aedes_on(_port(url))


def test_no_broker_at_all_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embedded_mqtt, "mosquitto_binary", lambda: None)
    monkeypatch.setattr(embedded_mqtt, "aedes_command", lambda: None)
    with pytest.raises(RuntimeError) as err, embedded_broker("auto"):
        pass
    said = str(err.value)
    assert "apt-get install mosquitto" in said
    assert f"npm ci --prefix {embedded_mqtt.AEDES_FOLDER}" in said
    assert "SOURCEWATCH_MQTT_URL" in said


@needs_aedes
def test_a_broker_that_cannot_start_says_why() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
        port = taken.getsockname()[1]
        with pytest.raises(RuntimeError, match="EADDRINUSE"), embedded_aedes(port):
            pass
    assert not _aedes_on(port)


@needs_aedes
def test_aedes_stops_when_its_parent_is_killed() -> None:
    code = (
        "import time\nfrom sourcewatch.embedded_mqtt import embedded_aedes\n"
        "with embedded_aedes() as url:\n    print(url, flush=True)\n    time.sleep(60)"
    )
    with subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True
    ) as parent:
        assert parent.stdout is not None
        url = parent.stdout.readline().strip()
        assert url.startswith("mqtt://127.0.0.1:"), url
        assert _aedes_on(_port(url))
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
    _wait(lambda: not _aedes_on(_port(url)), "the orphaned broker to stop")


# --- Aedes' packet size limit (issue 15) ------------------------------------------------------


def _remaining_length(n: int) -> bytes:
    out = b""
    while True:
        n, digit = n >> 7, n & 0x7F
        out += bytes([digit | (0x80 if n else 0)])
        if not n:
            return out


def _connect_311(port: int, client_id: bytes) -> socket.socket:
    """A raw MQTT 3.1.1 client, connected (a client library might refuse to send a packet over
    the size the broker advertises; the broker must refuse it itself)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    body = b"\x00\x04MQTT\x04\x02\x00\x3c" + len(client_id).to_bytes(2, "big") + client_id
    s.sendall(b"\x10" + _remaining_length(len(body)) + body)
    assert s.recv(4) == b"\x20\x02\x00\x00"  # CONNACK, accepted
    return s


def _publish_header(topic: bytes, payload_length: int) -> bytes:
    """A QoS 0 PUBLISH's fixed header and topic, for a payload of ``payload_length`` bytes."""
    variable = len(topic).to_bytes(2, "big") + topic
    return b"\x30" + _remaining_length(len(variable) + payload_length) + variable


def _closed(s: socket.socket) -> bool:
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True


def test_aedes_gets_the_packet_size_limit_of_mosquitto() -> None:
    assert f"max_packet_size {MAX_PACKET_SIZE}" in BROKER_LIMITS.splitlines()


@needs_aedes
def test_aedes_refuses_a_packet_over_the_size_limit_and_keeps_serving() -> None:
    """Aedes (the fallback of `sourcewatch up`) took packets of any size (up to MQTT's 256 MiB):
    a publisher could fill its memory. Now a packet over Mosquitto's max_packet_size disconnects
    its sender as soon as its length is read, reaches nobody, and the broker serves the others."""
    with embedded_aedes() as url, collector(url, "probe/#") as got, publisher(url) as publish:
        port = _port(url)
        big = _connect_311(port, b"big")
        payload = 300_000
        big.sendall(_publish_header(b"probe/big", payload) + b"x" * 1000)  # the length says it
        assert _closed(big)
        big.close()
        declared_only = _connect_311(port, b"big2")  # the whole packet, sent at once
        with contextlib.suppress(OSError):  # the broker may close while it is still being sent
            declared_only.sendall(_publish_header(b"probe/big2", payload) + b"y" * payload)
        assert _closed(declared_only)
        declared_only.close()
        under = MAX_PACKET_SIZE - 1000
        publish("probe/under", b"z" * under)
        _wait(lambda: any(t == "probe/under" for t, _ in got), "the packet under the limit")
        _round_trip(url)  # and a new client is served
    assert not [t for t, _ in got if t.startswith("probe/big")]  # reached nobody
    assert ("probe/under", b"z" * under) in got


# --- Aedes keeps to the client's Receive Maximum (issue 16) -------------------------------------


def _read_exactly(s: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        assert chunk, "the broker closed the connection"
        data += chunk
    return data


def _read_packet(s: socket.socket) -> tuple[int, bytes]:
    """One MQTT packet: its first byte and its body."""
    first = _read_exactly(s, 1)[0]
    length, shift = 0, 0
    while True:
        digit = _read_exactly(s, 1)[0]
        length |= (digit & 0x7F) << shift
        shift += 7
        if not digit & 0x80:
            return first, _read_exactly(s, length)


def _connect_5(
    port: int, client_id: bytes, receive_maximum: int, clean: bool, expiry: int = 300
) -> socket.socket:
    """A raw MQTT 5 client with ``receive_maximum``, its session kept ``expiry`` seconds."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    properties = b"\x11" + expiry.to_bytes(4, "big") + b"\x21" + receive_maximum.to_bytes(2, "big")
    flags = b"\x02" if clean else b"\x00"
    header = b"\x00\x04MQTT\x05" + flags + b"\x00\x3c" + bytes([len(properties)]) + properties
    body = header + len(client_id).to_bytes(2, "big") + client_id
    s.sendall(b"\x10" + _remaining_length(len(body)) + body)
    first, connack = _read_packet(s)
    assert first == 0x20 and connack[1] == 0, connack  # accepted
    return s


def _subscribe_qos1(s: socket.socket, topic: bytes) -> None:
    body = b"\x00\x01\x00" + len(topic).to_bytes(2, "big") + topic + b"\x01"
    s.sendall(b"\x82" + _remaining_length(len(body)) + body)
    first, suback = _read_packet(s)
    assert first == 0x90 and suback[-1] == 1, suback  # granted QoS 1


def _publish_id_and_payload(body: bytes) -> tuple[int, bytes]:
    """A QoS 1 PUBLISH's packet identifier and payload (MQTT 5: properties after the id)."""
    at = 2 + int.from_bytes(body[:2], "big")
    packet_id = int.from_bytes(body[at : at + 2], "big")
    at += 2
    length, shift = 0, 0
    while True:
        digit = body[at]
        at += 1
        length |= (digit & 0x7F) << shift
        shift += 7
        if not digit & 0x80:
            return packet_id, body[at + length :]


def _publishes_until_pong(s: socket.socket) -> list[tuple[int, bytes]]:
    """The PUBLISHes the broker has sent so far: a PINGREQ, and what comes before its PINGRESP."""
    s.sendall(b"\xc0\x00")
    got = []
    while True:
        first, body = _read_packet(s)
        if first == 0xD0:
            return got
        assert first >> 4 == 3, hex(first)
        got.append(_publish_id_and_payload(body))


def _puback(s: socket.socket, packet_id: int) -> None:
    s.sendall(b"\x40\x02" + packet_id.to_bytes(2, "big"))


@needs_aedes
@pytest.mark.parametrize("expiry", [300, 0], ids=["persistent session", "clean session"])
def test_aedes_sends_no_more_unacknowledged_than_the_receive_maximum(expiry: int) -> None:
    """Aedes advertised the Receive Maximum but pushed a client every message at once (the
    worker saw ~9,000 unacknowledged against its 1,000). Now it holds the rest while RM are
    unacknowledged and sends one for each PUBACK, all of them in order."""
    receive_maximum, total = 5, 30
    with embedded_aedes() as url, publisher(url) as publish:
        s = _connect_5(_port(url), b"rm-sub", receive_maximum, clean=True, expiry=expiry)
        _subscribe_qos1(s, b"rm/#")
        for i in range(total):
            publish("rm/x", str(i).encode())  # the broker has taken each (PUBACK to the publisher)
        unacknowledged = _publishes_until_pong(s)
        assert len(unacknowledged) == receive_maximum
        received = [payload for _, payload in unacknowledged]
        while unacknowledged:
            packet_id, _ = unacknowledged.pop(0)
            _puback(s, packet_id)
            while len(received) < total and len(unacknowledged) < receive_maximum:
                first, body = _read_packet(s)
                assert first >> 4 == 3, hex(first)
                unacknowledged.append(_publish_id_and_payload(body))
                received.append(unacknowledged[-1][1])
            assert len(_publishes_until_pong(s)) == 0  # nothing past the Receive Maximum
        s.close()
    assert received == [str(i).encode() for i in range(total)]


@needs_aedes
def test_aedes_keeps_the_held_messages_of_a_session_for_its_next_connection() -> None:
    total = 10
    with embedded_aedes() as url, publisher(url) as publish:
        port = _port(url)
        s = _connect_5(port, b"rm-away", 3, clean=True)
        _subscribe_qos1(s, b"away/#")
        for i in range(total):
            publish("away/x", str(i).encode())
        first_three = _publishes_until_pong(s)
        assert len(first_three) == 3
        _puback(s, first_three[0][0])
        s.close()  # two unacknowledged, the rest held
        s = _connect_5(port, b"rm-away", 3, clean=False)
        received = {first_three[0][1]}
        while len(received) < total:
            first, body = _read_packet(s)
            if first >> 4 == 3:
                packet_id, payload = _publish_id_and_payload(body)
                received.add(payload)
                _puback(s, packet_id)
        s.close()
    assert received == {str(i).encode() for i in range(total)}


@needs_aedes
def test_aedes_sends_held_messages_in_order_as_more_are_held() -> None:
    """Messages held past the Receive Maximum are taken from the front of the queue while new
    ones join its end: every message arrives once, in the order published."""
    receive_maximum, rounds, per_round = 4, 6, 25
    with embedded_aedes() as url, publisher(url) as publish:
        s = _connect_5(_port(url), b"rm-order", receive_maximum, clean=True)
        _subscribe_qos1(s, b"order/#")
        received: list[bytes] = []
        unacknowledged: list[int] = []
        for r in range(rounds):
            for i in range(r * per_round, (r + 1) * per_round):
                publish("order/x", str(i).encode())
            for packet_id, payload in _publishes_until_pong(s):
                unacknowledged.append(packet_id)
                received.append(payload)
            assert len(unacknowledged) == receive_maximum
            held = (r + 1) * per_round - len(received)
            for _ in range(held - 3):  # three stay held when the next round's join them
                _ack_oldest_take_next(s, unacknowledged, received)
        total = rounds * per_round
        while len(received) < total:
            _ack_oldest_take_next(s, unacknowledged, received)
        s.close()
    assert received == [str(i).encode() for i in range(total)]


def _ack_oldest_take_next(
    s: socket.socket, unacknowledged: list[int], received: list[bytes]
) -> None:
    """PUBACK the oldest unacknowledged message, then read the PUBLISH that it lets through."""
    _puback(s, unacknowledged.pop(0))
    first, body = _read_packet(s)
    assert first >> 4 == 3, hex(first)
    packet_id, payload = _publish_id_and_payload(body)
    unacknowledged.append(packet_id)
    received.append(payload)


# --- Aedes's queue of a session's messages, indexed (sourcewatch/broker/outgoing.mjs) ---------


@needs_aedes
def test_aedes_session_queue_behaves_as_aedes_own_store() -> None:
    """outgoing.mjs replaces the in-memory store's scans of a session's queue with indexes; on
    random sequences of the calls Aedes makes, repeating brokers, counters and packet ids, it
    returns, throws and keeps the queue exactly as aedes-persistence's own store does."""
    script = Path(__file__).with_name("broker_outgoing_same_as_aedes.mjs")
    node = shutil.which("node")
    assert node is not None
    done = subprocess.run(
        [node, str(script), str(embedded_mqtt.AEDES_FOLDER), "60"],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert (done.returncode, done.stdout.strip()) == (0, "same"), done.stdout + done.stderr


@needs_aedes
def test_aedes_clears_the_acknowledged_messages_in_any_order_and_replays_the_rest() -> None:
    """PUBACKs in an order of the client's (not the one sent) each clear their own message from
    the session's queue: at the next connection Aedes sends exactly the others, each once,
    then what was still held, and nothing acknowledged comes back."""
    receive_maximum, total = 10, 40
    with embedded_aedes() as url, publisher(url) as publish:
        port = _port(url)
        s = _connect_5(port, b"rm-scrambled", receive_maximum, clean=True)
        _subscribe_qos1(s, b"scrambled/#")
        for i in range(total):
            publish("scrambled/x", str(i).encode())
        acknowledged: set[bytes] = set()
        unacknowledged = _publishes_until_pong(s)
        for _ in range(3):  # every other one of the window, newest first
            for packet_id, payload in unacknowledged[::-2]:
                _puback(s, packet_id)
                acknowledged.add(payload)
            unacknowledged = unacknowledged[-2::-2]
            while len(unacknowledged) < receive_maximum:
                first, body = _read_packet(s)
                assert first >> 4 == 3, hex(first)
                unacknowledged.append(_publish_id_and_payload(body))
        assert len(acknowledged) == 15 and len(_publishes_until_pong(s)) == 0
        s.close()
        s = _connect_5(port, b"rm-scrambled", receive_maximum, clean=False)
        replayed: list[bytes] = []
        while len(acknowledged) + len(replayed) < total:
            first, body = _read_packet(s)
            assert first >> 4 == 3, hex(first)
            packet_id, payload = _publish_id_and_payload(body)
            replayed.append(payload)
            _puback(s, packet_id)
        assert len(_publishes_until_pong(s)) == 0
        s.close()
    assert not acknowledged & set(replayed)
    assert acknowledged | set(replayed) == {str(i).encode() for i in range(total)}
    assert replayed == sorted(set(replayed), key=int)  # each once, in the order published
