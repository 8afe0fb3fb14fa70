"""The private PostgreSQL cluster of the embedded default, and ``sourcewatch up`` with nothing
configured, against the machine's real server binaries (skipped where there are none)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from schemas.migrate import migrate
from sourcewatch.embedded import free_port
from sourcewatch.embedded_mqtt import aedes_command, mosquitto_binary
from sourcewatch.embedded_postgres import (
    ServerUser,
    as_user,
    embedded_postgres,
    find_server_binaries,
    server_user,
)

ROOT = Path(__file__).resolve().parents[1]

needs_server = pytest.mark.skipif(
    find_server_binaries() is None,
    reason="no PostgreSQL server binaries (apt-get install postgresql, or sourcewatch[embedded])",
)


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A folder the unprivileged server user can reach (pytest's own tmp is root-only)."""
    folder = Path(tempfile.mkdtemp(prefix="sourcewatch-data-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _server_processes(folder: Path) -> list[str]:
    found = subprocess.run(
        ["pgrep", "-af", str(folder)], check=False, capture_output=True, text=True
    )
    return [line for line in found.stdout.splitlines() if line.strip()]


def test_as_user_leaves_this_process_user_alone() -> None:
    me = ServerUser("me", os.geteuid(), os.getegid())
    assert as_user(["initdb", "-D", "x"], me) == ["initdb", "-D", "x"]


@pytest.mark.skipif(os.geteuid() != 0, reason="only root drops privileges")
def test_root_runs_the_server_as_an_unprivileged_user() -> None:
    user = server_user()
    assert user.uid != 0 and user.name in ("postgres", "nobody")
    out = subprocess.run(as_user(["id", "-u"], user), capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str(user.uid)


@needs_server
@pytest.mark.skipif(os.geteuid() != 0, reason="only root drops privileges")
def test_a_folder_the_server_user_cannot_reach_is_refused_clearly() -> None:
    with tempfile.TemporaryDirectory() as tmp:  # mode 0700, owned by root
        Path(tmp).chmod(0o700)
        with pytest.raises(RuntimeError, match="cannot enter"), embedded_postgres(Path(tmp) / "d"):
            pass


@needs_server
def test_cluster_keeps_its_data_across_runs_and_stops_on_exit(data_dir: Path) -> None:
    with embedded_postgres(data_dir) as url:
        assert url.startswith("postgresql://postgres@127.0.0.1:") and url.endswith("/sourcewatch")
        with psycopg.connect(url, autocommit=True) as conn:
            assert migrate(conn)  # a fresh database: every migration applies
            conn.execute("CREATE TABLE kept (note text)")
            conn.execute("INSERT INTO kept VALUES ('still here')")
        assert _server_processes(data_dir)
    assert not _server_processes(data_dir)
    assert (data_dir / "postgres" / "PG_VERSION").exists()

    with embedded_postgres(data_dir) as again, psycopg.connect(again, autocommit=True) as conn:
        assert migrate(conn) == []  # nothing left to apply
        assert conn.execute("SELECT note FROM kept").fetchall() == [("still here",)]
        listen = conn.execute("SHOW listen_addresses").fetchone()
        assert listen == ("127.0.0.1",)
    assert not _server_processes(data_dir)


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read()
    except OSError:
        return 0, b""


@needs_server
@pytest.mark.parametrize(
    "broker",
    [
        pytest.param("mosquitto", marks=pytest.mark.skipif(
            mosquitto_binary() is None, reason="Mosquitto is not installed")),
        pytest.param("aedes", marks=pytest.mark.skipif(
            aedes_command() is None, reason="Aedes is not installed (Node.js, make install)")),
    ],
)  # fmt: skip
def test_up_with_nothing_configured(data_dir: Path, broker: str) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in ("SOURCEWATCH_DATABASE_URL", "SOURCEWATCH_MQTT_URL")}  # fmt: skip
    # TMPDIR under the data folder: the private Mosquitto's command line names it too.
    env |= {"SOURCEWATCH_API_PORT": str(port), "TMPDIR": str(data_dir)}
    cmd = [sys.executable, "-m", "sourcewatch.cli", "up", "--data", str(data_dir / "var"),
           "--enterprises", "1", "--broker", broker]  # fmt: skip
    log = data_dir / "up.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while _get(f"{base}/readyz")[0] != 200:
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
            status, body = _get(f"{base}/v1/enterprises")
            assert status == 200, body
            assert len(json.loads(body)["results"]) == 1
            running = "\n".join(_server_processes(data_dir))
            assert "postgres -D" in running, running
            children = subprocess.run(["pgrep", "-P", str(proc.pid), "-a"], capture_output=True,
                                      text=True, check=False).stdout  # fmt: skip
            brokers = [line.split()[0] for line in children.splitlines()
                       if ("mosquitto -c" if broker == "mosquitto" else "broker.mjs") in line]  # fmt: skip
            assert len(brokers) == 1, children
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                code = proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise
    assert code == 0, log.read_text()
    assert not _server_processes(data_dir), log.read_text()
    assert not Path(f"/proc/{brokers[0]}").exists(), log.read_text()
    assert (data_dir / "var" / "signing-key.pem").exists()  # the demo's key stays with its data
