"""The private MQTT broker of the embedded default (``sourcewatch up``), the tests and benchmarks.

Mosquitto, started from the installed binary with the limits ingest relies on, wherever it is
installed; otherwise Aedes (an MQTT 5 broker for Node.js, pinned by
``sourcewatch/broker/package-lock.json`` and installed by ``make install``). Aedes keeps sessions
and queued messages in memory and offers no shared subscriptions, so it serves one ingest worker:
enough for trying sourcewatch out, not for production (deploy/ runs Mosquitto or EMQX). It gets
Mosquitto's packet size limit (:data:`MAX_PACKET_SIZE`); it has no bound on what it queues for a
session that is away (``sourcewatch/broker/broker.mjs`` says which limits it has).
"""

from __future__ import annotations

import logging
import os
import pwd
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Literal

from sourcewatch.embedded import EmbeddedServerError, free_port, wait_for_port

__all__ = [
    "AEDES_FOLDER",
    "BROKER_LIMITS",
    "MAX_PACKET_SIZE",
    "BrokerChoice",
    "aedes_command",
    "embedded_aedes",
    "embedded_broker",
    "embedded_mosquitto",
    "mosquitto_binary",
]

log = logging.getLogger(__name__)

BrokerChoice = Literal["auto", "mosquitto", "aedes"]

# The limits of every Mosquitto configuration of the project (deploy/mosquitto/*.conf say why;
# tests/test_deploy.py checks that they agree): packets of at most 256 KiB; ack-after-commit
# needs many unacknowledged QoS 1 messages in flight per worker, and a worker that is away
# (restarting, or the database down) must not have its queue cut short — bounded in bytes too.
BROKER_LIMITS = """\
max_packet_size 262144
max_inflight_messages 1000
max_queued_messages 1000000
max_queued_bytes 1073741824
"""

# Mosquitto's max_packet_size above, which Aedes is given too.
MAX_PACKET_SIZE = int(
    next(line.split()[1] for line in BROKER_LIMITS.splitlines() if line.startswith("max_packet_"))
)

AEDES_FOLDER = Path(__file__).resolve().parent / "broker"
_NODE_MAJOR = 20  # aedes' "engines"
_INSTALL_AEDES = f"npm ci --prefix {AEDES_FOLDER}"
_NO_BROKER = (
    "no MQTT broker to start: install Mosquitto (Debian: apt-get install mosquitto), or "
    f"Node.js >= {_NODE_MAJOR} with npm and then `{_INSTALL_AEDES}` (make install does it); "
    "or set SOURCEWATCH_MQTT_URL to use a running broker"
)


def mosquitto_binary() -> Path | None:
    """The installed ``mosquitto`` (PATH, then Debian's /usr/sbin), or None."""
    found = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")
    return Path(found) if found else None


def aedes_command() -> list[str] | None:
    """``node broker.mjs`` when Node.js is recent enough and Aedes is installed, else None."""
    node = shutil.which("node")
    if node is None or not (AEDES_FOLDER / "node_modules" / "aedes" / "package.json").exists():
        return None
    try:
        version = subprocess.run(
            [node, "--version"], check=False, capture_output=True, text=True, timeout=10
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.match(r"v(\d+)\.", version)
    if m is None or int(m.group(1)) < _NODE_MAJOR:
        return None
    return [node, str(AEDES_FOLDER / "broker.mjs")]


@contextmanager
def embedded_broker(choice: BrokerChoice = "auto") -> Iterator[str]:
    """Start the private broker ``choice`` names (``auto``: Mosquitto where installed, else
    Aedes) on a free loopback port; yields its ``mqtt://`` URL and stops it on exit."""
    if choice == "mosquitto" or (choice == "auto" and mosquitto_binary() is not None):
        with embedded_mosquitto() as url:
            log.info("started a private Mosquitto at %s", url)
            yield url
    else:
        with embedded_aedes() as url:
            log.info("started a private Aedes (MQTT 5, in memory) at %s", url)
            yield url


@contextmanager
def embedded_aedes(port: int | None = None) -> Iterator[str]:
    """Start Aedes on 127.0.0.1 (a free port unless given); yields its ``mqtt://`` URL."""
    command = aedes_command()
    if command is None:
        raise EmbeddedServerError(_NO_BROKER)
    port = port or free_port()
    with tempfile.TemporaryFile(prefix="sourcewatch-aedes-") as log:
        # stdin is a pipe only we hold: if this process dies, the broker sees it close and stops.
        proc = subprocess.Popen(
            [*command, f"--max-packet-size={MAX_PACKET_SIZE}", str(port)],
            stdin=subprocess.PIPE,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=AEDES_FOLDER,
            process_group=0,  # a terminal's Ctrl-C is ours to handle: we stop it last
        )
        try:
            _wait_started(proc, port, log)
            yield f"mqtt://127.0.0.1:{port}"
        finally:
            _stop(proc)


@contextmanager
def embedded_mosquitto(
    port: int | None = None, data_dir: Path | None = None, *, limits: str = BROKER_LIMITS
) -> Iterator[str]:
    """Start Mosquitto on 127.0.0.1 (a free port unless given); yields its ``mqtt://`` URL.
    With ``data_dir`` the broker persists sessions there; otherwise it keeps them in memory.
    ``limits``: configuration lines in place of :data:`BROKER_LIMITS` (tests start a broker
    with a small queue, as a distribution's default configuration has)."""
    binary = mosquitto_binary()
    if binary is None:
        raise EmbeddedServerError(_NO_BROKER)
    port = port or free_port()
    with tempfile.TemporaryDirectory(prefix="sourcewatch-mosquitto-") as tmp:
        conf = Path(tmp) / "mosquitto.conf"
        lines = [f"listener {port} 127.0.0.1", "allow_anonymous true", limits]
        if data_dir is not None:
            data_dir.mkdir(parents=True, exist_ok=True)
            _give_to_broker_user(data_dir)
            lines += ["persistence true", f"persistence_location {data_dir}/"]
        else:
            lines.append("persistence false")
        conf.write_text("\n".join(lines) + "\n")
        with open(Path(tmp) / "mosquitto.log", "w+b") as log:
            proc = subprocess.Popen(
                [binary, "-c", str(conf)],
                stdout=log,
                stderr=subprocess.STDOUT,
                process_group=0,  # as Aedes: stopped by us, after the clients, not by Ctrl-C
            )
            try:
                _wait_started(proc, port, log)
                yield f"mqtt://127.0.0.1:{port}"
            finally:
                _stop(proc)


def _wait_started(proc: subprocess.Popen[bytes], port: int, log: IO[bytes]) -> None:
    """Wait until the broker accepts connections; a broker that exits says why."""
    try:
        wait_for_port("127.0.0.1", port, alive=lambda: proc.poll() is None)
    except OSError as exc:
        _stop(proc)
        log.seek(0)
        said = log.read().decode(errors="replace").strip()
        raise EmbeddedServerError(
            f"the MQTT broker did not start on port {port}: {said or exc}"
        ) from exc


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.stdin is not None:
        proc.stdin.close()
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _give_to_broker_user(folder: Path) -> None:
    """Started as root, Mosquitto drops to the ``mosquitto`` user: let it write its data."""
    if os.geteuid() != 0:
        return
    try:
        pwd.getpwnam("mosquitto")
    except KeyError:
        return
    shutil.chown(folder, user="mosquitto")
