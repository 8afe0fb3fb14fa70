"""The private MQTT broker of the embedded default: Mosquitto where installed, else Aedes on
Node.js; and what it says when there is neither. (That Aedes keeps a killed worker's messages
is tested with the other brokers in tests/ingest/test_ingest_resilience.py.)"""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable

import pytest

from sourcewatch import embedded_mqtt
from sourcewatch.embedded_mqtt import aedes_command, embedded_aedes, embedded_broker
from tests.fixtures.mqtt import collector, publisher

needs_aedes = pytest.mark.skipif(
    aedes_command() is None, reason="Aedes is not installed (Node.js >= 20, then make install)"
)
needs_mosquitto = pytest.mark.skipif(
    embedded_mqtt.mosquitto_binary() is None, reason="Mosquitto is not installed"
)


def _processes(pattern: str) -> list[str]:
    found = subprocess.run(["pgrep", "-af", pattern], check=False, capture_output=True, text=True)
    return [line for line in found.stdout.splitlines() if "pgrep" not in line]


def _wait(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _listener(port: int) -> str:
    """Name of the process listening on the loopback ``port`` (ss, from iproute2)."""
    out = subprocess.run(
        ["ss", "-ltnpH", f"sport = :{port}"], check=True, capture_output=True, text=True
    ).stdout
    names = re.findall(r'users:\(\("([^"]+)"', out)
    return names[0] if names else ""


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def _round_trip(url: str) -> None:
    with collector(url, "probe/#") as got, publisher(url) as publish:
        publish("probe/1", b"hello")
        _wait(lambda: ("probe/1", b"hello") in got, "the message")


@needs_mosquitto
def test_auto_starts_mosquitto_where_it_is_installed() -> None:
    with embedded_broker("auto") as url:
        _round_trip(url)
        assert _listener(_port(url)) == "mosquitto"
    assert _listener(_port(url)) == ""


@needs_aedes
def test_auto_falls_back_to_aedes_without_mosquitto(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embedded_mqtt, "mosquitto_binary", lambda: None)
    with embedded_broker("auto") as url:
        _round_trip(url)
        assert _listener(_port(url)) == "node"
        assert _processes(f"broker.mjs {_port(url)}$")
    assert not _processes(f"broker.mjs {_port(url)}$")


def test_no_broker_at_all_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embedded_mqtt, "mosquitto_binary", lambda: None)
    monkeypatch.setattr(embedded_mqtt, "aedes_command", lambda: None)
    with pytest.raises(RuntimeError) as err, embedded_broker("auto"):
        pass
    said = str(err.value)
    assert "apt-get install mosquitto" in said
    assert f"npm ci --prefix {embedded_mqtt.AEDES_FOLDER}" in said
    assert "SOURCEWATCH_MQTT_URL" in said


@needs_aedes
def test_a_broker_that_cannot_start_says_why() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
        port = taken.getsockname()[1]
        with pytest.raises(RuntimeError, match="EADDRINUSE"), embedded_aedes(port):
            pass
    assert not _processes(f"broker.mjs {port}$")


@needs_aedes
def test_aedes_stops_when_its_parent_is_killed() -> None:
    code = (
        "import time\nfrom sourcewatch.embedded_mqtt import embedded_aedes\n"
        "with embedded_aedes() as url:\n    print(url, flush=True)\n    time.sleep(60)"
    )
    with subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True
    ) as parent:
        assert parent.stdout is not None
        url = parent.stdout.readline().strip()
        assert url.startswith("mqtt://127.0.0.1:"), url
        assert _processes(f"broker.mjs {_port(url)}$")
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
    _wait(lambda: not _processes(f"broker.mjs {_port(url)}$"), "the orphaned broker to stop")
