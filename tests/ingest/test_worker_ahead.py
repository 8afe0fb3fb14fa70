"""The worker decodes its next batch on its one thread, in the middle of the current batch's
write (while the server inserts its values), not on a second thread taking turns with the write
on the GIL; every frame is stored once and acknowledged after its commit. Real Mosquitto and
PostgreSQL."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest

from ingest.hj212 import build_packet, build_segment, encode_cp
from ingest.mqtt_process import MqttProcess
from tests.fixtures.mqtt import publisher, running_worker, wait_until
from tests.fixtures.registry import add_outlet

pytestmark = pytest.mark.integration

MN = "010000A8900016F00000AHEAD"
T0 = datetime(2026, 11, 29, 0, 0, 0)
BATCH, TOTAL = 10, 60


def _frame(i: int) -> bytes:
    when = T0 + timedelta(seconds=30 * i)
    cp = encode_cp({"DataTime": when.strftime("%Y%m%d%H%M%S")}, {"a21026": {"Rtd": f"{i}.5"}})
    qn = when.strftime("%Y%m%d%H%M%S000")
    return build_packet(build_segment(qn=qn, st="31", cn="2011", pw="123456", mn=MN, flag=4, cp=cp))


def _stored(db: psycopg.Connection) -> tuple[int, int]:
    row = db.execute("SELECT count(*), count(DISTINCT digest) FROM frames").fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def _forwarded(transport: MqttProcess) -> bool:
    """Whether messages wait in the worker's inbox (taken from the pipe, or still on it)."""
    inbox = transport.inbox
    return bool(inbox._items) or (inbox.connection is not None and inbox.connection.poll(0))


def test_the_next_batch_is_decoded_inside_the_write_on_the_writing_thread(
    db: psycopg.Connection, database_url: str, mqtt_url: str
) -> None:
    add_outlet(db, MN)
    writing = threading.Event()  # the first write waits until every message was forwarded
    writers: set[int] = set()
    decoders: set[int] = set()
    decoded_inside: list[bool] = []
    in_write = threading.local()
    with running_worker(mqtt_url, database_url, batch_max_messages=BATCH) as w:
        store = w.worker.store
        write, predecode = store.store, store.predecode

        def watched_write(*args: Any, **kwargs: Any) -> Any:
            writing.wait()
            writers.add(threading.get_ident())
            in_write.on = True
            try:
                return write(*args, **kwargs)
            finally:
                in_write.on = False

        def watched_predecode(items: Any) -> Any:
            decoders.add(threading.get_ident())
            decoded_inside.append(getattr(in_write, "on", False))
            return predecode(items)

        store.store = watched_write  # type: ignore[method-assign]
        store.predecode = watched_predecode  # type: ignore[method-assign]
        with publisher(mqtt_url) as publish:
            for i in range(TOTAL):
                publish(f"hj212/{MN}/up", _frame(i))
        transport = w.worker.transport
        assert isinstance(transport, MqttProcess)
        wait_until(lambda: _forwarded(transport), what="messages in the worker's inbox")
        writing.set()
        wait_until(lambda: _stored(db) == (TOTAL, TOTAL), what=f"{TOTAL} frames")
        wait_until(lambda: w.worker.stats.acked == TOTAL, what="every message acknowledged")
        assert w.error is None
    assert decoders == writers  # one thread
    assert any(decoded_inside)  # a batch decoded in the middle of another's write
    assert _stored(db) == (TOTAL, TOTAL)
