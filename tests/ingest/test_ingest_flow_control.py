"""Flow control between the broker and the worker, through the real broker and database.

Mosquitto before 2.0.13 pushes past a client's Receive Maximum once the client acknowledges in
order (eclipse/mosquitto#2306): the worker must then bound what it holds itself, without its
network thread waiting on it. With a broker that keeps to the Receive Maximum the same checks
hold, more easily."""

from __future__ import annotations

import logging
import threading
import uuid
from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest

from ingest.hj212 import build_packet, build_segment, encode_cp
from ingest.mqtt import Inbound
from ingest.worker import IngestWorker
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
    """What a worker holds (put in its inbox and not yet handed back to the transport's
    ``ack``, acknowledged or dropped as stale) and the most it held; its writes wait while
    ``writing`` is clear; the PINGRESPs its MQTT client received."""

    def __init__(self, worker: IngestWorker) -> None:
        self.held = self.peak = self.pingresps = 0
        self.writing = threading.Event()
        self._lock = threading.Lock()
        transport, store = worker.transport, worker.store
        put, ack, write = transport.inbox.put_nowait, transport.ack, store.store

        def counted_put(item: Inbound) -> None:
            with self._lock:
                self.held += 1
                self.peak = max(self.peak, self.held)
            put(item)

        def counted_ack(messages: list[Inbound]) -> int:
            with self._lock:
                self.held -= len(messages)
            return ack(messages)

        def held_write(*args: Any) -> Any:
            self.writing.wait()
            return write(*args)

        transport.inbox.put_nowait = counted_put  # type: ignore[method-assign]
        transport.ack = counted_ack  # type: ignore[method-assign]
        store.store = held_write  # type: ignore[method-assign]
        pings = logging.getLogger(f"test-paho-{uuid.uuid4().hex[:6]}")
        pings.setLevel(logging.DEBUG)
        pings.propagate = False
        pings.addHandler(_Count(self))
        transport._client.enable_logger(pings)


class _Count(logging.Handler):
    def __init__(self, watch: Watch) -> None:
        super().__init__()
        self.watch = watch

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage() == "Received PINGRESP":
            self.watch.pingresps += 1


def stored(conn: psycopg.Connection) -> tuple[int, int]:
    row = conn.execute(
        "SELECT count(*), count(DISTINCT digest) FROM frames WHERE mn = %s", (MN,)
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def test_a_flood_past_the_receive_maximum_is_held_off_and_keep_alives_flow(
    db: psycopg.Connection, database_url: str, mqtt_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    add_outlet(db, MN)
    with running_worker(
        mqtt_url,
        database_url,
        receive_maximum=RECEIVE_MAXIMUM,
        keepalive_s=1,
        batch_max_messages=BATCH,
    ) as w:
        watch = Watch(w.worker)
        transport = w.worker.transport
        generation = transport.generation
        with publisher(mqtt_url) as publish:
            for i in range(TOTAL):
                publish(f"hj212/{MN}/up", frame(i))
        # Writes held: nothing acknowledged, so the broker pushes the Receive Maximum and no
        # more; the worker keeps reading its keep-alive answers meanwhile.
        wait_until(lambda: watch.held >= RECEIVE_MAXIMUM, timeout=30, what="a full window")
        pings = watch.pingresps
        wait_until(lambda: watch.pingresps >= pings + 3, timeout=30, what="three keep-alives")
        assert transport.generation == generation and transport.connected.is_set()
        assert stored(db) == (0, 0)  # nothing written, so nothing acknowledged
        # Writes released: each PUBACK lets an older Mosquitto push up to the Receive Maximum
        # more. What the worker holds stays within its inbox (the Receive Maximum + 1) and the
        # three batches in hand (collected, decoded and waiting, being written).
        watch.writing.set()
        wait_until(lambda: stored(db)[0] >= TOTAL, timeout=120, what="every frame stored")
    assert stored(db) == (TOTAL, TOTAL)
    assert watch.peak <= RECEIVE_MAXIMUM + 1 + 3 * BATCH
    # The worker says so when (and only when) the broker pushed past it.
    assert ("more than the Receive Maximum of 20" in caplog.text) == (watch.peak > RECEIVE_MAXIMUM)


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
