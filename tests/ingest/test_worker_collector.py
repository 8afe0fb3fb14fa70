"""The worker spares the garbage collector: what its process held when it started is frozen
(gc.freeze) and young passes wait for COLLECT_AFTER allocations while it runs; both are restored
when the last worker of the process stops; frames flow as before meanwhile."""

from __future__ import annotations

import gc

import psycopg
import pytest

from ingest.hj212 import build_packet, build_segment, encode_cp
from ingest.worker import COLLECT_AFTER
from tests.fixtures.mqtt import publisher, running_worker, wait_until
from tests.fixtures.registry import add_outlet

pytestmark = pytest.mark.integration

MN = "010000A8900016F000169DC1"


def _frame(second: int) -> bytes:
    cp = encode_cp({"DataTime": f"202611280800{second:02d}"}, {"a21026": {"Rtd": "1.5"}})
    return build_packet(
        build_segment(qn=f"202611280800{second:02d}000", st="31", cn="2011", pw="123456",
                      mn=MN, flag=4, cp=cp)
    )  # fmt: skip


def _stored(db: psycopg.Connection) -> int:
    row = db.execute("SELECT count(*) FROM measurements").fetchone()
    return row[0] if row else 0


def test_what_the_process_held_is_frozen_while_workers_run(
    db: psycopg.Connection, database_url: str, mqtt_url: str
) -> None:
    add_outlet(db, MN)
    assert gc.get_freeze_count() == 0
    thresholds = gc.get_threshold()
    with running_worker(mqtt_url, database_url) as first:
        wait_until(lambda: gc.get_freeze_count() > 0, what="the collector spared")
        assert gc.get_threshold()[0] >= COLLECT_AFTER
        with running_worker(mqtt_url, database_url), publisher(mqtt_url) as publish:
            publish(f"hj212/{MN}/up", _frame(0))
            wait_until(lambda: _stored(db) == 1, what="1 row")
        # the second worker stopped: the first still runs, the process stays frozen
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold()[0] >= COLLECT_AFTER
        with publisher(mqtt_url) as publish:
            publish(f"hj212/{MN}/up", _frame(1))
            wait_until(lambda: _stored(db) == 2, what="2 rows")
        assert first.error is None
    assert gc.get_freeze_count() == 0  # the last worker stopped: thawed
    assert gc.get_threshold() == thresholds
