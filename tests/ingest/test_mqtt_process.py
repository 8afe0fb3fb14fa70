"""The worker's MQTT connection in a process of its own (``ingest.mqtt_process``): the bound
that spans both processes, and what happens when either process dies. Real broker, real
database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from ingest.mqtt import Inbound, Inbox
from ingest.mqtt_process import MqttProcess, MqttProcessLost
from tests.fixtures.mqtt import publisher, running_worker, wait_until
from tests.fixtures.registry import add_outlet
from tests.ingest.test_ingest_resilience import counts, frames

MN = "010000A8900016F000169DC1"  # the outlet of test_ingest_resilience's frames


def message(mid: int) -> Inbound:
    return Inbound("t", b"x", datetime.now(UTC), mid, 1, 1)


def test_messages_taken_away_count_in_the_inbox_until_released() -> None:
    """The child forwards messages to the worker's process; they count against the Receive
    Maximum until the worker's process credits them."""
    inbox = Inbox()
    for mid in range(3):
        inbox.put_nowait(message(mid))
    assert inbox.wait_for_room(3, 0)
    taken = inbox.take_away(2, 0)
    assert [m.mid for m in taken] == [0, 1]
    assert not inbox.wait_for_room(2, 0)  # one waiting and two away: still three
    room = threading.Event()
    waiting = threading.Thread(target=lambda: inbox.wait_for_room(2, 30) and room.set())
    waiting.start()
    inbox.release(2)  # wakes the reading
    waiting.join()
    assert room.is_set()
    assert inbox.take_away(5, 0)[0].mid == 2
    assert inbox.take_away(5, 0) == []  # nothing waits: no wait beyond the timeout


def test_messages_of_a_lost_connection_are_set_aside_and_leave_first() -> None:
    """What waits or is away when the connection is lost no longer counts against the Receive
    Maximum (the next connection must be read); the next connection's messages do, and the
    set-aside ones, the oldest, leave first, whether released or taken with ``get``."""
    inbox = Inbox()
    for mid in range(4):
        inbox.put_nowait(message(mid))
    assert len(inbox.take_away(3, 0)) == 3  # three away, one waiting
    assert not inbox.wait_for_room(3, 0)
    inbox.set_aside()
    assert inbox.wait_for_room(0, 0)  # none of the current connection
    for mid in range(3):
        inbox.put_nowait(message(10 + mid))
    assert inbox.wait_for_room(3, 0) and not inbox.wait_for_room(2, 0)
    inbox.release(3)  # the three away: all set aside
    assert inbox.aside == 1 and not inbox.wait_for_room(2, 0)
    assert inbox.get_nowait().mid == 3  # the last one set aside
    assert inbox.aside == 0 and not inbox.wait_for_room(2, 0)
    taken = inbox.take_away(5, 0)
    assert [m.mid for m in taken] == [10, 11, 12] and not inbox.wait_for_room(2, 0)
    inbox.release(1)
    assert inbox.wait_for_room(2, 0) and inbox.aside == 0


def _alive(pid: int) -> bool:
    """Whether a process runs (a zombie no parent reaps does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@pytest.mark.integration
def test_the_mqtt_process_killed_mid_stream_stops_the_worker_and_loses_nothing(
    db: psycopg.Connection, database_url: str, mqtt_url: str
) -> None:
    """SIGKILL of the MQTT process: the worker stops with an error (its supervisor restarts
    it); the broker re-sends what was not acknowledged, and nothing is stored twice."""
    add_outlet(db, MN)
    total = 600
    batch = frames(total)
    client_id = f"ingest-mqttkill-{uuid.uuid4().hex[:6]}"
    with publisher(mqtt_url) as publish:
        with running_worker(mqtt_url, database_url, client_id=client_id) as w:
            transport = w.worker.transport
            assert isinstance(transport, MqttProcess) and transport._process is not None
            pid = transport._process.pid
            assert pid is not None
            for i, raw in enumerate(batch):
                publish(f"hj212/{MN}/up", raw)
                if i == total // 2:
                    wait_until(lambda: counts(db)[0] > 50, what="some frames stored")
                    os.kill(pid, signal.SIGKILL)
            wait_until(lambda: not w.thread.is_alive(), what="the worker to stop")
            assert isinstance(w.error, MqttProcessLost)
            assert "exit code -9" in str(w.error)
            assert not transport.connected.is_set() and not transport.subscribed.is_set()
        stored_at_kill = counts(db)[0]
        assert 50 < stored_at_kill < total
        with running_worker(mqtt_url, database_url, client_id=client_id):
            wait_until(lambda: counts(db)[0] == total, timeout=60, what="all frames")
    assert counts(db) == (total, total, 2 * total)


_WORKER = textwrap.dedent(
    """
    import sys, time
    from ingest.mqtt import MqttOptions
    from ingest.mqtt_process import MqttProcess

    if __name__ == "__main__":
        options = MqttOptions(sys.argv[1], sys.argv[2], ("hj212/+/up",), "", 10, 60)
        transport = MqttProcess(options)
        transport.start()
        assert transport.subscribed.wait(60)
        print(transport._process.pid, flush=True)
        if sys.argv[3] == "exit":
            raise SystemExit(3)  # without stop(), as an error before the worker's loop would
        time.sleep(600)
    """
)


def _worker(mqtt_url: str, tmp_path: Path, then: str) -> subprocess.Popen[bytes]:
    """A worker's process that starts its MQTT process, prints that one's pid once subscribed,
    and ``then`` sleeps ("sleep") or exits at once ("exit")."""
    script = tmp_path / "worker.py"
    script.write_text(_WORKER)
    return subprocess.Popen(
        [sys.executable, str(script), mqtt_url, f"ingest-{then}-{uuid.uuid4().hex[:6]}", then],
        stdout=subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[2],
        env=os.environ | {"PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )


@pytest.mark.integration
def test_a_worker_process_exiting_without_stopping_its_mqtt_process_still_exits(
    mqtt_url: str, tmp_path: Path
) -> None:
    """multiprocessing ends a daemon child at exit with SIGTERM, which the MQTT process
    ignores, and then waits for it: the worker's process hung at exit, for good, when it had
    not called stop() (a test fixture that failed, an error before the worker's loop), the
    MQTT process reconnecting meanwhile. It stops its MQTT process at exit now."""
    worker = _worker(mqtt_url, tmp_path, "exit")
    child = None
    try:
        assert worker.stdout is not None
        child = int(worker.stdout.readline())
        try:
            assert worker.wait(timeout=60) == 3
        except subprocess.TimeoutExpired:
            pytest.fail("the worker's process did not exit: it waited for its MQTT process")
        assert not _alive(child)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        if child is not None and _alive(child):
            os.kill(child, signal.SIGKILL)
        if worker.stdout is not None:
            worker.stdout.close()


@pytest.mark.integration
def test_the_mqtt_process_ends_when_the_worker_process_dies(mqtt_url: str, tmp_path: Path) -> None:
    """SIGKILL of the worker's process: its MQTT process reads the end of its orders and
    exits (it would otherwise hold the session, and fight the restarted worker for it)."""
    worker = _worker(mqtt_url, tmp_path, "sleep")
    try:
        assert worker.stdout is not None
        child = int(worker.stdout.readline())
        assert _alive(child)
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
        wait_until(lambda: not _alive(child), timeout=30, what="the MQTT process to exit")
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        if worker.stdout is not None:
            worker.stdout.close()
