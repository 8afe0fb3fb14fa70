"""``sourcewatch alerts`` as a process: it stops on SIGTERM whichever of its threads the kernel
hands the signal to."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest

from sourcewatch.embedded import free_port
from tests.fixtures.processes import signal_thread, sourcewatch, wait_ready

pytestmark = pytest.mark.integration


def test_a_sigterm_taken_by_another_thread_than_the_main_one_stops_alerts(
    database_url: str, mqtt_url: str
) -> None:
    """The main thread runs the handler only when it runs Python code: it used to wait in a
    join without a timeout, so a SIGTERM taken by one of the worker threads (as happens to a
    signal sent while the process is stopped) was never acted on, and the process ran on."""
    port = free_port()
    env = {
        **os.environ,
        "SOURCEWATCH_DATABASE_URL": database_url,
        "SOURCEWATCH_MQTT_URL": mqtt_url,
        "SOURCEWATCH_METRICS_PORT": str(port),
        "SOURCEWATCH_EVALUATOR_PROCESSES": "1",
    }
    proc = sourcewatch("alerts", env=env)
    try:
        wait_ready(proc, port, "sourcewatch alerts")
        others = sorted(int(t) for t in os.listdir(f"/proc/{proc.pid}/task") if int(t) != proc.pid)
        assert others, "no thread besides the main one"
        signal_thread(proc.pid, others[0], signal.SIGTERM)
        try:
            _, stderr = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            pytest.fail("sourcewatch alerts did not stop on a SIGTERM taken by a worker thread")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, stderr[-2000:]
    assert "signal 15: stopping" in stderr
