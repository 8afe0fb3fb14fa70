"""`sourcewatch api` runs one worker process per core by default (SOURCEWATCH_API_WORKERS)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx2
import pytest

from api.server import worker_count
from api.settings import ApiSettings
from tests.fixtures.processes import python, sourcewatch, spawned_children, wait_while_running

pytestmark = pytest.mark.integration


def test_worker_count_is_the_setting_or_the_cores() -> None:
    assert worker_count(ApiSettings(api_workers=3)) == 3
    assert worker_count(ApiSettings(api_workers=0)) == len(os.sched_getaffinity(0))


def _two_workers(role_urls: dict[str, str]) -> tuple[int, dict[str, str]]:
    """A free port, and the environment of an API with two workers on it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    return port, {
        **os.environ,
        "SOURCEWATCH_DATABASE_URL": role_urls["api"],
        "SOURCEWATCH_API_HOST": "127.0.0.1",
        "SOURCEWATCH_API_PORT": str(port),
        "SOURCEWATCH_API_WORKERS": "2",
    }


def test_two_workers_serve_the_port(role_urls: dict[str, str]) -> None:
    port, env = _two_workers(role_urls)
    env["SOURCEWATCH_LOG_FORMAT"] = "json"
    proc = sourcewatch("api", env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        # its start is a chain (the CLI's imports, then each spawned worker's): a hang guard
        wait_while_running(proc, lambda: _answers(base), "the API did not answer")
        assert len(spawned_children(proc.pid)) == 2
    finally:
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
    # The workers logged through the CLI's set-up (JSON lines), as the parent does.
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert any('"logger": "uvicorn.error"' in line for line in lines), stderr[-2000:]


def _sockets(pid: int) -> set[int]:
    """Inodes of the sockets process ``pid`` holds."""
    found: set[int] = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:["):
            found.add(int(target[8:-1]))
    return found


def _open(port: int) -> set[int]:
    """Inodes of the server's ends of TCP connections to ``port`` that it has not closed:
    established, or closed by the client only (CLOSE_WAIT: the worker has not yet seen the
    end, nor counted the connection off, which it does before it closes the socket)."""
    found: set[int] = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] in ("01", "08"):
            found.add(int(fields[9]))
    return found


def _split(workers: list[int], port: int) -> list[int]:
    """Open connections to ``port`` per worker, most first."""
    connections = _open(port)
    return sorted((len(_sockets(w) & connections) for w in workers), reverse=True)


def _wait(condition: Callable[[], bool], what: str, proc: subprocess.Popen[str]) -> None:
    wait_while_running(proc, condition, what)  # a worker's restart: a new interpreter's imports


def _answers(base: str) -> bool:
    try:
        return httpx2.get(f"{base}/healthz").status_code == 200
    except httpx2.TransportError:
        return False


def test_keep_alive_connections_split_evenly_over_the_workers(
    role_urls: dict[str, str],
) -> None:
    """Connections opened one after another land on the worker holding fewer (api/balance.py),
    where before whichever worker woke first took them (3 to 1 or 4 to 0 about half the time);
    after a worker dies, its replacement takes its seat and its share."""
    port, env = _two_workers(role_urls)
    # a deferral long enough that the idle worker always takes the connection, whatever the
    # machine's load (the default, ACCEPT_DEFER_S, bounds the wait in production)
    program = (
        "from api.server import serve; from api.settings import ApiSettings; "
        "serve(ApiSettings.from_environ(), accept_defer_s=30.0)"
    )
    proc = python("-c", program, env=env)
    base = f"http://127.0.0.1:{port}"
    clients: list[httpx2.Client] = []

    def both_serve(workers: list[int]) -> None:
        """Wait until both workers accept (each holds one of two connections), as they do
        once started; a worker still starting leaves every connection to the other."""

        def one_on_each() -> bool:
            pair = [httpx2.Client(base_url=base) for _ in range(2)]
            try:
                for client in pair:
                    assert client.get("/healthz").status_code == 200
                split = _split(workers, port)
            finally:
                for client in pair:
                    client.close()
            _wait(lambda: _split(workers, port) == [0, 0], "connections still open", proc)
            assert split in ([1, 1], [2, 0]), split
            return split == [1, 1]

        _wait(one_on_each, "a worker does not accept", proc)

    try:
        _wait(lambda: _answers(base) and len(spawned_children(proc.pid)) == 2, "no 2 workers", proc)
        workers = spawned_children(proc.pid)
        both_serve(workers)
        for expected in ([1, 0], [1, 1], [2, 1], [2, 2]):
            client = httpx2.Client(base_url=base)
            clients.append(client)
            assert client.get("/healthz").status_code == 200
            assert _split(workers, port) == expected
        for client in clients:
            client.close()
        clients.clear()
        _wait(lambda: _split(workers, port) == [0, 0], "connections still open", proc)

        os.kill(workers[0], signal.SIGKILL)
        _wait(
            lambda: (
                workers[0] not in spawned_children(proc.pid)
                and len(spawned_children(proc.pid)) == 2
            ),
            "the dead worker was not replaced",
            proc,
        )
        both_serve(spawned_children(proc.pid))  # the replacement takes its share
    finally:
        for client in clients:
            client.close()
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr[-2000:]
