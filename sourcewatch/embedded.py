"""Ports for the private servers of the embedded default (``sourcewatch up``), the tests and
benchmarks: a free loopback port, and waiting until a server accepts connections on it; and the
error a private server that cannot start raises (its message says why and what to do)."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

__all__ = ["EmbeddedServerError", "free_port", "wait_for_port"]


class EmbeddedServerError(RuntimeError):
    """A private server (PostgreSQL, the MQTT broker) cannot start; the message says why and
    what to install or change. ``sourcewatch up`` prints it without a traceback."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(
    host: str, port: int, timeout: float = 60.0, alive: Callable[[], bool] | None = None
) -> None:
    """Return once ``host:port`` accepts a connection; OSError after ``timeout`` seconds, or
    as soon as ``alive`` (the server process is running) says no. The timeout is a hang guard,
    not a timing: a broker that listens within a second on an idle machine may take ten times
    longer when it gets a tenth of a core; one that fails exits, and ``alive`` says so."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            if alive is not None and not alive():
                raise ConnectionRefusedError(f"the server for port {port} exited") from None
            time.sleep(0.05)
