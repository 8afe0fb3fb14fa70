"""Nothing is lost: a killed consumer, a database outage. Real broker, real database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest

from ingest.hj212 import build_packet, build_segment, encode_cp
from tests.fixtures.mqtt import publisher, running_worker, wait_until
from tests.fixtures.processes import wait_while_running
from tests.fixtures.proxy import database_proxy
from tests.fixtures.registry import add_outlet

pytestmark = pytest.mark.integration

MN = "010000A8900016F000169DC1"
T0 = datetime(2026, 11, 28, 0, 0, 0)


def frames(n: int, start: int = 0) -> list[bytes]:
    out = []
    for i in range(start, start + n):
        when = T0 + timedelta(seconds=30 * i)
        cp = encode_cp(
            {"DataTime": when.strftime("%Y%m%d%H%M%S")},
            {"a21026": {"Rtd": f"{i % 97}.5", "Flag": "N"}, "a21002": {"Rtd": "40.1", "Flag": "N"}},
        )
        seg = build_segment(
            qn=when.strftime("%Y%m%d%H%M%S000"),
            st="31",
            cn="2011",
            pw="123456",
            mn=MN,
            flag=4,
            cp=cp,
        )
        out.append(build_packet(seg))
    return out


def counts(conn: psycopg.Connection) -> tuple[int, int, int]:
    row = conn.execute(
        "SELECT (SELECT count(*) FROM frames), (SELECT count(DISTINCT digest) FROM frames), "
        "(SELECT count(*) FROM measurements)"
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])


def ingest_process(database_url: str, mqtt_url: str, client_id: str) -> subprocess.Popen[bytes]:
    env = os.environ | {
        "SOURCEWATCH_DATABASE_URL": database_url,
        "SOURCEWATCH_MQTT_URL": mqtt_url,
        "SOURCEWATCH_MQTT_CLIENT_ID": client_id,
        "SOURCEWATCH_BATCH_MAX_MESSAGES": "50",
        "SOURCEWATCH_BATCH_MAX_DELAY_S": "0.05",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "sourcewatch.cli", "ingest"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_consumer_killed_mid_stream_loses_nothing_and_duplicates_nothing(
    db: psycopg.Connection, database_url: str, any_broker: str
) -> None:
    mqtt_url = any_broker
    add_outlet(db, MN)
    client_id = f"ingest-kill-{uuid.uuid4().hex[:6]}"
    total = 1500
    proc = ingest_process(database_url, mqtt_url, client_id)
    try:
        # The session (and its subscription) exists once the worker archived a first frame.
        with publisher(mqtt_url) as publish:
            first, rest = frames(1), frames(total - 1, start=1)

            def first_stored() -> bool:
                publish(f"hj212/{MN}/up", first[0])  # idempotent: repeat until subscribed
                return counts(db)[0] == 1

            # its start is a chain (imports, then the spawned MQTT process's): a hang guard
            wait_while_running(proc, first_stored, "no frame stored: worker not up")
            for i, raw in enumerate(rest):
                publish(f"hj212/{MN}/up", raw)
                if i == total // 3:
                    wait_until(lambda: counts(db)[0] > 50, what="some frames stored")
                    proc.send_signal(signal.SIGKILL)
                    proc.wait(timeout=10)
        stored_at_kill = counts(db)[0]
        assert 1 < stored_at_kill < total
        proc = ingest_process(database_url, mqtt_url, client_id)
        wait_while_running(proc, lambda: counts(db)[0] == total, "not all frames after restart")
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    assert counts(db) == (total, total, 2 * total)
    assert proc.returncode == 0  # SIGTERM: clean shutdown


def test_database_outage_delays_data_and_never_drops_it(
    db: psycopg.Connection, database_url: str, mqtt_url: str
) -> None:
    add_outlet(db, MN)
    batch = frames(60)
    client_id = f"ingest-outage-{uuid.uuid4().hex[:6]}"
    with database_proxy(database_url) as (proxy, url), publisher(mqtt_url) as publish:
        with running_worker(mqtt_url, url, client_id=client_id, retry_max_delay_s=0.5) as w:
            for raw in batch[:10]:
                publish(f"hj212/{MN}/up", raw)
            # Acknowledged, not only visible: the rows are visible here as the server commits,
            # before the COMMIT's reply has reached the worker through the proxy. Cut in between
            # (a starved proxy thread, under load), the worker cannot know they committed: it
            # writes them again, idempotently, once the database is back, and acknowledges them
            # only then. The count below would then miss them.
            wait_until(
                lambda: counts(db)[0] == 10 and w.worker.stats.acked == 10, what="first 10 acked"
            )
            proxy.cut()
            for raw in batch[10:30]:
                publish(f"hj212/{MN}/up", raw)
            wait_until(lambda: w.worker.stats.write_retries >= 3, what="write retries")
            assert counts(db)[0] == 10
            assert w.worker.stats.acked == 10  # nothing acknowledged while the DB is down
            proxy.restore()  # the same worker recovers on its own
            wait_until(  # acknowledged, as above: the outage then holds only the new frames
                lambda: counts(db)[0] == 30 and w.worker.stats.acked == 30,
                what="frames after the outage",
            )
            proxy.cut()
            for raw in batch[30:]:
                publish(f"hj212/{MN}/up", raw)
            wait_until(lambda: w.worker.stats.write_retries >= 6, what="more retries")
        # The worker stopped while the database was down: the broker keeps the messages.
        proxy.restore()
        assert counts(db)[0] == 30
        with running_worker(mqtt_url, url, client_id=client_id):
            wait_until(lambda: counts(db)[0] == 60, what="all frames after a restart")
    assert counts(db) == (60, 60, 120)


def test_a_worker_stalled_by_a_database_outage_on_aedes_loses_nothing_across_reconnects(
    db: psycopg.Connection, database_url: str, aedes_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Aedes sends a session's stored queue at once when the worker connects, past the Receive
    Maximum (its live deliveries keep to it: sourcewatch/broker/broker.mjs), so a worker whose
    writes are stalled stops reading and its keep-alive answers wait behind what Aedes sent: its
    connection is lost (keep-alive 1 s here) and resumed, again and again while the database is
    down. Nothing is lost."""
    add_outlet(db, MN)
    history = frames(300)
    client_id = f"ingest-aedes-{uuid.uuid4().hex[:6]}"
    settings: dict[str, Any] = {
        "client_id": client_id,
        "receive_maximum": 10,
        "keepalive_s": 1,
        "batch_max_messages": 5,
        "retry_max_delay_s": 0.5,
    }
    with database_proxy(database_url) as (proxy, url):
        with running_worker(aedes_url, url, **settings):
            pass  # its session, kept while it is away
        with publisher(aedes_url) as publish:
            for k in range(0, len(history), 10):
                publish(f"hj212/{MN}/up", b"".join(history[k : k + 10]))
        proxy.cut()
        with running_worker(aedes_url, url, **settings) as w:
            wait_until(
                lambda: "MQTT connection lost" in caplog.text, timeout=60, what="a reconnect"
            )
            assert counts(db)[0] == 0
            proxy.restore()
            wait_until(lambda: counts(db)[0] == len(history), timeout=120, what="every frame")
            assert w.error is None
    assert counts(db) == (300, 300, 600)
