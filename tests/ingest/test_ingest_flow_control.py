"""Flow control between the broker and the worker, through the real broker and database.

Mosquitto before 2.0.13 pushes past a client's Receive Maximum once the client acknowledges in
order (eclipse/mosquitto#2306): the worker must then bound what it holds itself, without its
network thread waiting on it. With a broker that keeps to the Receive Maximum the same checks
hold, more easily."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ingest.hj212 import build_packet, build_segment, encode_cp
from ingest.mqtt import Inbound, Transport, paho_log
from ingest.worker import IngestWorker
from schemas.core.brokers import broker_address
from tests.fixtures.mqtt import publisher, running_worker, wait_until
from tests.fixtures.registry import add_outlet

pytestmark = pytest.mark.integration

MN = "010000A8900016F000169DC7"
T0 = datetime(2026, 11, 29, 0, 0, 0)
RECEIVE_MAXIMUM, BATCH, TOTAL = 20, 5, 400


def frame(i: int) -> bytes:
    when = T0 + timedelta(seconds=30 * i)
    cp = encode_cp({"DataTime": when.strftime("%Y%m%d%H%M%S")}, {"a21026": {"Rtd": f"{i}.5"}})
    qn = when.strftime("%Y%m%d%H%M%S000")
    return build_packet(build_segment(qn=qn, st="31", cn="2011", pw="123456", mn=MN, flag=4, cp=cp))


class Watch:
    """What a worker holds (read from the socket by its MQTT process, as paho's log says, and
    not yet handed back to the transport's ``ack``, acknowledged or dropped as stale) and the
    most it held; its writes wait while ``writing`` is clear; the PINGRESPs its MQTT client
    received."""

    def __init__(self, worker: IngestWorker, paho: PahoLog) -> None:
        self.held = self.peak = 0
        self.paho = paho
        self.writing = threading.Event()
        self._lock = threading.Lock()
        transport, store = worker.transport, worker.store
        ack, write = transport.ack, store.store

        def counted_ack(messages: list[Inbound]) -> int:
            self._count(-len(messages))
            return ack(messages)

        def held_write(*args: Any) -> Any:
            self.writing.wait()
            return write(*args)

        paho.on_publish = lambda: self._count(1)
        transport.ack = counted_ack  # type: ignore[method-assign]
        store.store = held_write  # type: ignore[method-assign]

    @property
    def pingresps(self) -> int:
        return self.paho.pingresps

    def _count(self, n: int) -> None:
        with self._lock:
            self.held += n
            self.peak = max(self.peak, self.held)


class PahoLog(logging.Handler):
    """Counts the PUBLISHes and PINGRESPs that paho's log (at DEBUG while this is installed)
    says its client received."""

    def __init__(self) -> None:
        super().__init__()
        self.pingresps = 0
        self.on_publish: Callable[[], None] = lambda: None

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message == "Received PINGRESP":
            self.pingresps += 1
        elif message.startswith("Received PUBLISH"):
            self.on_publish()


@pytest.fixture
def paho() -> Iterator[PahoLog]:
    """paho's log at DEBUG, counted (set before the worker starts its MQTT process, which
    takes the levels then)."""
    count = PahoLog()
    level, propagate = paho_log.level, paho_log.propagate
    paho_log.setLevel(logging.DEBUG)
    paho_log.propagate = False
    paho_log.addHandler(count)
    try:
        yield count
    finally:
        paho_log.removeHandler(count)
        paho_log.setLevel(level)
        paho_log.propagate = propagate


def stored(conn: psycopg.Connection) -> tuple[int, int]:
    row = conn.execute(
        "SELECT count(*), count(DISTINCT digest) FROM frames WHERE mn = %s", (MN,)
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


@contextmanager
def flooded_worker(
    mqtt_url: str, database_url: str, paho: PahoLog, client_id: str | None = None
) -> Iterator[tuple[Transport, Watch]]:
    """A worker (keep-alive 3 s) whose writes are held, once the broker has pushed it a full
    window of the :data:`TOTAL` frames published; released when the test ends, whatever
    happened, so that the worker can stop.

    The keep-alive is short, so that a test sees several keep-alive answers in seconds, but
    not 1 s: the broker drops a client it has heard nothing from in 1.5 keep-alives, and the
    client sends its PINGREQ one keep-alive after its last packet, so a 1 s keep-alive fails
    whenever the MQTT process waits half a second for a core (seen with the suite and another
    run on the two cores); 3 s leaves it 1.5 s."""
    with running_worker(
        mqtt_url,
        database_url,
        client_id=client_id,
        receive_maximum=RECEIVE_MAXIMUM,
        keepalive_s=3,
        batch_max_messages=BATCH,
    ) as w:
        watch = Watch(w.worker, paho)
        try:
            with publisher(mqtt_url) as publish:
                for i in range(TOTAL):
                    publish(f"hj212/{MN}/up", frame(i))
            wait_until(lambda: watch.held >= RECEIVE_MAXIMUM, timeout=30, what="a full window")
            yield w.worker.transport, watch
        finally:
            watch.writing.set()


def test_a_flood_past_the_receive_maximum_is_held_off_and_keep_alives_flow(
    db: psycopg.Connection,
    database_url: str,
    mqtt_url: str,
    caplog: pytest.LogCaptureFixture,
    paho: PahoLog,
) -> None:
    add_outlet(db, MN)
    with flooded_worker(mqtt_url, database_url, paho) as (transport, watch):
        generation = transport.generation
        # Writes held: nothing acknowledged, so the broker pushes the Receive Maximum and no
        # more; the worker keeps reading its keep-alive answers meanwhile.
        pings = watch.pingresps
        wait_until(lambda: watch.pingresps >= pings + 3, timeout=30, what="three keep-alives")
        assert transport.generation == generation and transport.connected.is_set()
        assert stored(db) == (0, 0)  # nothing written, so nothing acknowledged
        # Writes released: each PUBACK lets an older Mosquitto push up to the Receive Maximum
        # more. What the worker holds stays within its inbox (the Receive Maximum + 1) and the
        # two batches in hand (the one being written, the next one decoded during that write).
        watch.writing.set()
        wait_until(lambda: stored(db)[0] >= TOTAL, timeout=120, what="every frame stored")
    assert stored(db) == (TOTAL, TOTAL)
    assert watch.peak <= RECEIVE_MAXIMUM + 1 + 2 * BATCH
    # The worker says so when (and only when) the broker pushed past it; without a count,
    # which, said at the first message past it, was always the Receive Maximum + 1.
    warning = "pushed more than the Receive Maximum of 20 unacknowledged messages"
    assert (warning in caplog.text) == (watch.peak > RECEIVE_MAXIMUM)


def take_over_session(url: str, client_id: str) -> None:
    """Connect with the worker's client id and session, as a second device with its id would:
    the broker closes the worker's connection ("session taken over") and pushes the session's
    unacknowledged messages here, where they stay unacknowledged; the session outlives this
    connection, so the worker gets them again when it reconnects."""
    host, port, _, _, _ = broker_address(url)
    intruder = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv5,
        manual_ack=True,
    )
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = 3600
    props.ReceiveMaximum = 1
    connected = threading.Event()
    intruder.on_connect = lambda *args: connected.set()
    intruder.connect(host, port, clean_start=False, properties=props)
    intruder.loop_start()
    try:
        assert connected.wait(15), "the intruder was not connected"
    finally:
        intruder.disconnect()
        intruder.loop_stop()


def test_a_connection_lost_while_writes_stall_is_renewed_and_read(
    db: psycopg.Connection,
    database_url: str,
    mqtt_url: str,
    paho: PahoLog,
) -> None:
    """The worker holds a full window and cannot write (a database outage, say) when its
    connection is lost: the next connection's CONNACK and keep-alive answers must still be read
    (the messages it holds are set aside; the broker re-sends them), and nothing is lost or
    stored twice once the writes resume."""
    add_outlet(db, MN)
    client_id = f"ingest-stalled-{uuid.uuid4().hex[:6]}"
    with flooded_worker(mqtt_url, database_url, paho, client_id) as (transport, watch):
        generation = transport.generation
        take_over_session(mqtt_url, client_id)
        wait_until(lambda: transport.generation > generation, timeout=30, what="the loss seen")
        wait_until(transport.connected.is_set, timeout=30, what="a new connection")
        renewed = transport.generation
        pings = watch.pingresps
        wait_until(lambda: watch.pingresps >= pings + 3, timeout=30, what="three keep-alives")
        assert transport.generation == renewed and transport.connected.is_set()
        assert stored(db) == (0, 0)
        watch.writing.set()
        wait_until(lambda: stored(db)[0] >= TOTAL, timeout=120, what="every frame stored")
    assert stored(db) == (TOTAL, TOTAL)


def test_a_worker_back_to_a_backlog_is_subscribed_before_it_takes_a_message(
    db: psycopg.Connection, database_url: str, mqtt_url: str
) -> None:
    """On reconnection the broker pushes the Receive Maximum of its queue, then answers the
    subscription: the SUBACK behind them must be read while the worker has taken none (the
    fixture, like the benchmark, waits for it before starting the loop)."""
    add_outlet(db, MN)
    client_id = f"ingest-backlog-{uuid.uuid4().hex[:6]}"
    backlog = 5 * RECEIVE_MAXIMUM
    with running_worker(mqtt_url, database_url, client_id=client_id):
        pass  # the session and its subscription persist while the worker is away
    with publisher(mqtt_url) as publish:
        for i in range(backlog):
            publish(f"hj212/{MN}/up", frame(i))
    with running_worker(
        mqtt_url, database_url, client_id=client_id, receive_maximum=RECEIVE_MAXIMUM
    ):
        wait_until(lambda: stored(db)[0] >= backlog, timeout=60, what="the backlog stored")
    assert stored(db) == (backlog, backlog)


def test_the_overshoot_is_said_once_per_connection(caplog: pytest.LogCaptureFixture) -> None:
    """The transport's own bookkeeping, its paho callbacks called as paho calls them (no
    broker: stand-ins for the client, flags and messages)."""
    from types import SimpleNamespace

    from ingest.mqtt import MqttOptions, MqttTransport

    options = MqttOptions("mqtt://127.0.0.1:1883", "overshoot-test", ("t",), "", 2, 60)
    transport = MqttTransport(options)
    client = SimpleNamespace(subscribe=lambda topics: None)
    connected = SimpleNamespace(is_failure=False)
    flags = SimpleNamespace(session_present=True)

    def connect() -> None:
        transport._on_connect(client, None, flags, connected, None)  # type: ignore[arg-type]

    def receive(n: int) -> None:
        for mid in range(n):
            msg = SimpleNamespace(topic="t", payload=b"x", mid=mid, qos=1)
            transport._on_message(client, None, msg)  # type: ignore[arg-type]

    def said() -> int:
        return caplog.text.count("more than the Receive Maximum of 2")

    with caplog.at_level(logging.WARNING, logger="ingest.mqtt"):
        connect()
        receive(2)
        assert said() == 0  # within the Receive Maximum
        receive(3)
        assert said() == 1  # past it: said once, not per message
        connect()  # a new connection: the count starts again
        receive(2)
        assert said() == 1
        receive(1)
        assert said() == 2


def test_a_socket_closed_under_the_worker_is_not_said_to_be_closed_here(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """paho reports a socket closed by the broker (which closes it after 1.5 keep-alives
    without a packet from the client) as "Unspecified error"; its own keep-alive check as
    "Keep alive timeout". Both used to read "here", which sent a search for a client-side
    close that had not happened (no broker: paho's callback called as paho calls it)."""
    from types import SimpleNamespace

    from paho.mqtt.reasoncodes import ReasonCode

    from ingest.mqtt import MqttOptions, MqttTransport

    transport = MqttTransport(
        MqttOptions("mqtt://127.0.0.1:1883", "closed-test", ("t",), "", 2, 60)
    )
    flags = SimpleNamespace(is_disconnect_packet_from_server=False)
    with caplog.at_level(logging.WARNING, logger="ingest.mqtt"):
        for name in ("Unspecified error", "Keep alive timeout"):
            reason = ReasonCode(PacketTypes.DISCONNECT, name)
            transport._on_disconnect(None, None, flags, reason, None)  # type: ignore[arg-type]
    closed, timed_out = (r.getMessage() for r in caplog.records)
    assert "the socket closed without a DISCONNECT" in closed and "here" not in closed
    assert "no keep-alive answer in time: closed here" in timed_out
