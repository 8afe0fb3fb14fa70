"""The end-to-end benchmark's CPU accounting (``bench.ingest``): a process's user + system time
read from /proc, a gone process reading as none, and the per-frame figures it prints."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import pytest

from bench.ingest import CpuShare, _broker_pid, _children, _cpu_s
from sourcewatch.embedded_mqtt import (
    aedes_command,
    embedded_aedes,
    embedded_mosquitto,
    mosquitto_binary,
)


def test_cpu_time_of_a_process_grows_while_it_computes() -> None:
    before = _cpu_s(os.getpid())
    deadline = time.process_time() + 0.2
    while time.process_time() < deadline:
        pass
    assert _cpu_s(os.getpid()) >= before + 0.1


def test_a_process_that_is_gone_spent_nothing() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert _cpu_s(child.pid) == 0.0


def test_shares_are_given_per_frame_and_an_unknown_broker_is_said() -> None:
    share = CpuShare(
        frames=20_000, worker=3.5, postgres=1.4, broker=None, publisher=0.12, bench=0, worker_mqtt=1
    )
    text = share.describe()
    assert "worker 3.50 s (175 µs/frame) (of which MQTT 1.00 s (50 µs/frame))" in text
    assert "PostgreSQL backends 1.40 s (70 µs/frame)" in text
    assert "broker unknown" in text
    assert "publisher 0.12 s (6 µs/frame)" in text


def test_a_workers_mqtt_process_is_found_among_its_children() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert child.pid in _children(os.getpid())
        assert child.pid not in _children(os.getpid(), "no-such-command")
    finally:
        child.kill()
        child.wait()


def test_the_private_aedes_is_found_for_its_cpu_time() -> None:
    if aedes_command() is None:
        pytest.skip("Aedes is not installed (make install)")
    # A private Mosquitto of this process still running (the suite's) does not hide it.
    beside = embedded_mosquitto() if mosquitto_binary() is not None else nullcontext()
    with beside, embedded_aedes():
        pid = _broker_pid()
        assert pid is not None
        assert b"broker.mjs" in Path(f"/proc/{pid}/cmdline").read_bytes()
        assert _cpu_s(pid) > 0.0  # Node.js took some CPU to start
