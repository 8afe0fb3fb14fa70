"""Private servers for the embedded default (``sourcewatch up``), the tests and benchmarks:
a Mosquitto broker started from the installed binary with the limits ingest relies on."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["BROKER_LIMITS", "embedded_mosquitto", "free_port", "wait_for_port"]

# Ack-after-commit needs many unacknowledged QoS 1 messages in flight per worker, and a
# worker that is away (restarting, or the database down) must not have its queue cut short.
BROKER_LIMITS = """\
max_inflight_messages 1000
max_queued_messages 1000000
max_queued_bytes 0
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(host: str, port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@contextmanager
def embedded_mosquitto(port: int | None = None, data_dir: Path | None = None) -> Iterator[str]:
    """Start Mosquitto on 127.0.0.1 (a free port unless given); yields its ``mqtt://`` URL.
    With ``data_dir`` the broker persists sessions there; otherwise it keeps them in memory."""
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(binary).exists():
        raise RuntimeError(
            "Mosquitto is not installed (Debian: apt-get install mosquitto); "
            "or configure SOURCEWATCH_MQTT_URL to use another broker"
        )
    port = port or free_port()
    with tempfile.TemporaryDirectory(prefix="sourcewatch-mosquitto-") as tmp:
        conf = Path(tmp) / "mosquitto.conf"
        lines = [f"listener {port} 127.0.0.1", "allow_anonymous true", BROKER_LIMITS]
        if data_dir is not None:
            data_dir.mkdir(parents=True, exist_ok=True)
            _give_to_broker_user(data_dir)
            lines += ["persistence true", f"persistence_location {data_dir}/"]
        else:
            lines.append("persistence false")
        conf.write_text("\n".join(lines) + "\n")
        with open(Path(tmp) / "mosquitto.log", "wb") as log:
            proc = subprocess.Popen([binary, "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT)
            try:
                wait_for_port("127.0.0.1", port)
                yield f"mqtt://127.0.0.1:{port}"
            finally:
                proc.terminate()
                proc.wait(timeout=10)


def _give_to_broker_user(folder: Path) -> None:
    """Started as root, Mosquitto drops to the ``mosquitto`` user: let it write its data."""
    if os.geteuid() != 0:
        return
    try:
        pwd.getpwnam("mosquitto")
    except KeyError:
        return
    shutil.chown(folder, user="mosquitto")
