"""`sourcewatch api` runs one worker process per core by default (SOURCEWATCH_API_WORKERS)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx2
import pytest

from api.server import worker_count
from api.settings import ApiSettings

pytestmark = pytest.mark.integration


def test_worker_count_is_the_setting_or_the_cores() -> None:
    assert worker_count(ApiSettings(api_workers=3)) == 3
    assert worker_count(ApiSettings(api_workers=0)) == len(os.sched_getaffinity(0))


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found += [int(c) for c in text]
    return found


def test_two_workers_serve_the_port(role_urls: dict[str, str]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    env = {
        **os.environ,
        "SOURCEWATCH_DATABASE_URL": role_urls["api"],
        "SOURCEWATCH_API_HOST": "127.0.0.1",
        "SOURCEWATCH_API_PORT": str(port),
        "SOURCEWATCH_API_WORKERS": "2",
        "SOURCEWATCH_LOG_FORMAT": "json",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "sourcewatch.cli", "api"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        answered = False
        while not answered:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "the API did not answer"
            try:
                answered = httpx2.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
            except httpx2.TransportError:
                time.sleep(0.2)
        workers = [
            c
            for c in _children(proc.pid)
            if "spawn_main" in Path(f"/proc/{c}/cmdline").read_text()  # not its resource tracker
        ]
        assert len(workers) == 2
    finally:
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
    # The workers logged through the CLI's set-up (JSON lines), as the parent does.
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert any('"logger": "uvicorn.error"' in line for line in lines), stderr[-2000:]
