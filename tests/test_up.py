"""``sourcewatch up`` with nothing configured: private PostgreSQL and MQTT broker, simulated
loggers whose recent past shows at once on the public endpoints, with an exceedance case opened
by the evaluator; Ctrl-C stops every process it started, and so does a lost MQTT process of
the ingest worker (exit code 1). Run with each private broker."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import uvicorn

from ingest.mqtt import MqttOptions
from ingest.mqtt_process import MqttProcess, MqttProcessLost
from ingest.simulation import EpisodeKind, EpisodeRates, episodes_between, make_enterprises
from schemas.core.localtime import LOCAL_TZ as SHANGHAI
from sourcewatch import checks
from sourcewatch.embedded import free_port
from sourcewatch.embedded_mqtt import aedes_command, mosquitto_binary
from sourcewatch.embedded_postgres import find_server_binaries
from sourcewatch.up import (
    DEMO_EXCEEDANCE_RATE,
    history_start,
    report_until_stopped,
    safe_url,
    wait_listening,
    wait_subscribed,
)
from tests.fixtures.processes import STALL_S, WAIT_S, HangGuard, cpu_ticks, signal_thread
from tests.fixtures.registry import add_outlet

ROOT = Path(__file__).resolve().parents[1]
HISTORY = timedelta(hours=4)
MARGIN = timedelta(minutes=10)
RATES = EpisodeRates(
    exceedance=DEMO_EXCEEDANCE_RATE
)  # `up` reads the clock a little after the test does

needs_server = pytest.mark.skipif(
    find_server_binaries() is None,
    reason="no PostgreSQL server binaries (apt-get install postgresql, or sourcewatch[embedded])",
)


def seed_with_an_exceeded_hour(now: datetime) -> tuple[int, str, str]:
    """A seed whose one simulated enterprise has a gas outlet (hourly limits) exceeding for a
    whole clock hour inside the simulated past: (seed, outlet code, pollutant)."""
    first, last = now - HISTORY + MARGIN, now - MARGIN
    for seed in range(1, 5000):
        for outlet in make_enterprises(1, seed)[0]["outlets"]:
            if outlet.get("limit_category") != "ultra-low-coal":
                continue
            episodes = episodes_between(seed, outlet["mn"], "gas", first, last, RATES)
            for ep in episodes:
                hour = ep.start.astimezone(SHANGHAI).replace(minute=0, second=0, microsecond=0)
                hour += timedelta(hours=1)
                # an hour that another episode (a calibration, an outage …) cuts into may have
                # fewer than 45 valid minutes: no mean, no case (seen at 03:44 Shanghai)
                overlapped = any(
                    other is not ep and other.start < hour + timedelta(hours=1) and other.end > hour
                    for other in episodes
                )
                if (
                    ep.kind is EpisodeKind.EXCEEDANCE
                    and first <= hour
                    and hour + timedelta(hours=1) <= min(ep.end, last)
                    and not overlapped
                ):
                    return seed, outlet["code"], ep.factors[0]
    raise AssertionError("no seed with an exceedance in the window")


# A hang guard on `up`'s progress (it logs each step of its start, then the ingest worker's
# counts every minute; or it runs: its imports say nothing) and on what is asked once of it,
# and one on each wait in all (STALL_S, WAIT_S); neither is a timing.


def _progress(log: Path, pid: int) -> tuple[int, int]:
    """`up`'s progress: the lines it has logged (less the access log of the test's own
    requests), and the CPU time (clock ticks) of it and its processes (initdb, ...)."""
    said = sum(" uvicorn.access: " not in line for line in log.read_text().splitlines())
    return said, cpu_ticks(pid)


def _get(url: str, timeout: float = 5) -> tuple[int, Any]:
    """Status and JSON body; 0 for no answer within ``timeout`` (a poll asks again)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, None
    except OSError:
        return 0, None


def _processes(folder: Path) -> str:
    """Command lines of the processes that name ``folder`` (the private PostgreSQL's -D)."""
    return subprocess.run(
        ["pgrep", "-af", str(folder)], capture_output=True, text=True, check=False
    ).stdout


def _children(pid: int) -> list[tuple[int, str]]:
    out = subprocess.run(
        ["pgrep", "-P", str(pid), "-a"], capture_output=True, text=True, check=False
    ).stdout
    return [(int(line.split()[0]), line) for line in out.splitlines()]


@needs_server
@pytest.mark.parametrize(
    "broker",
    [
        pytest.param(
            "mosquitto",
            marks=pytest.mark.skipif(
                mosquitto_binary() is None, reason="Mosquitto is not installed"
            ),
        ),
        pytest.param(
            "aedes",
            marks=pytest.mark.skipif(
                aedes_command() is None, reason="Aedes is not installed (Node.js, make install)"
            ),
        ),
    ],
)
def test_up_with_nothing_configured(data_dir: Path, broker: str) -> None:
    seed, code, pollutant = seed_with_an_exceeded_hour(datetime.now(SHANGHAI))
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("SOURCEWATCH_DATABASE_URL", "SOURCEWATCH_MQTT_URL")
    }
    env |= {"SOURCEWATCH_API_PORT": str(port), "TMPDIR": str(data_dir)}
    cmd = [
        sys.executable,
        "-m",
        "sourcewatch.cli",
        "up",
        "--data",
        str(data_dir / "var"),
        "--enterprises",
        "1",
        "--seed",
        str(seed),
        "--history",
        "4h",
        "--broker",
        broker,
    ]
    log = data_dir / "up.log"
    base = f"http://127.0.0.1:{port}"

    def wait_for(what: str, check: Any) -> Any:
        """Wait while `up` runs and goes on: fail as soon as it ends (each of its steps has
        its own guard and says what failed), once it has neither logged a line nor had the
        CPU for STALL_S (a hang), or after WAIT_S in all. Its start is a chain of process
        starts (Python's imports, initdb, PostgreSQL, the broker, the spawned MQTT process):
        15 s at load 7, 5 min when it gets 2 % of a core (3 min of them importing, silent);
        a fixed 120 s for the chain was a timing, not a hang guard."""
        guard = HangGuard(lambda: _progress(log, proc.pid))
        while not (found := check()):
            assert proc.poll() is None, log.read_text()
            guard.check(f"no {what}", log.read_text)
            time.sleep(0.5)
        return found

    with open(log, "wb") as out:
        # Its own process group, stopped as a terminal's Ctrl-C stops it: SIGINT to the group.
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            wait_for("readiness", lambda: _get(f"{base}/readyz")[0] == 200)
            # asked once: the hang guard, not a poll's 5 s (the first answers of a starved `up`)
            status, enterprises = _get(f"{base}/v1/enterprises", STALL_S)
            assert status == 200 and len(enterprises["results"]) == 1, enterprises
            outlets = _get(f"{base}/v1/outlets", STALL_S)[1]["results"]
            outlet = next(o for o in outlets if o["code"] == code)

            def hourly_values() -> list[dict[str, Any]]:
                _, got = _get(
                    f"{base}/v1/outlets/{outlet['id']}/measurements"
                    f"?pollutant={pollutant}&resolution=hour"
                )
                return got["results"] if got else []

            # Four hours of past: at least three whole hours, each a mean with its coverage.
            wait_for("hourly values of the simulated past", lambda: len(hourly_values()) >= 3)

            def case() -> list[dict[str, Any]]:
                _, got = _get(f"{base}/v1/exceedances?outlet_id={outlet['id']}")
                return [
                    c for c in (got or {}).get("results", []) if c["pollutant"]["code"] == pollutant
                ]

            assert wait_for("exceedance case", case)
            check_the_demo(log.read_text(), data_dir / "var" / "signing-key.pem")
            brokers = [
                pid
                for pid, line in _children(proc.pid)
                if ("mosquitto -c" if broker == "mosquitto" else "broker.mjs") in line
            ]
            assert len(brokers) == 1, _children(proc.pid)
            assert "postgres -D" in _processes(data_dir)
            if broker == "mosquitto":
                # With Mosquitto the run ends another way: its ingest worker's MQTT process
                # is lost, and with no supervisor to restart the worker, everything stops.
                mqtt = [pid for pid, line in _children(proc.pid) if "spawn_main" in line]
                assert len(mqtt) == 1, _children(proc.pid)
                os.kill(mqtt[0], signal.SIGKILL)
                exit_code = proc.wait(timeout=STALL_S)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGINT)
                try:
                    exit_code = proc.wait(timeout=STALL_S)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                    raise
    if broker == "mosquitto":
        assert exit_code == 1, log.read_text()
        assert "the ingest worker stopped (the MQTT process ended" in log.read_text()
    else:
        assert exit_code == 0, log.read_text()
        # The private broker is not in the terminal's group: it outlives its clients.
        assert "MQTT connection lost" not in log.read_text(), log.read_text()
    gone = [pid for pid in brokers if Path(f"/proc/{pid}").exists()]
    assert not gone, log.read_text()
    assert "postgres" not in _processes(data_dir), log.read_text()
    assert (data_dir / "var" / "signing-key.pem").exists()  # the demo's key stays with its data


def check_the_demo(log: str, key: Path) -> None:
    """``sourcewatch check`` on the running demo: every outlet judged and reporting, the
    broker dropping nothing, the key in place; only a calendar that chinesecalendar does not
    know this year may be reported, as it is true (next year's, from 1 December, is a note)."""
    database = re.search(r"started a private PostgreSQL at (\S+)", log)
    broker = re.search(r"publishing to (\S+), stored in", log)
    assert database and broker, log
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("SOURCEWATCH_DATABASE_URL", "SOURCEWATCH_MQTT_URL")
    }
    env |= {
        "SOURCEWATCH_DATABASE_URL": database[1],
        "SOURCEWATCH_MQTT_URL": broker[1],
        "SOURCEWATCH_SIGNING_KEY_FILE": str(key),
    }
    done = subprocess.run(
        [sys.executable, "-m", "sourcewatch.cli", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=WAIT_S,  # a Python process's start: minutes of imports when starved
        check=False,
    )
    problems = {line for line in done.stdout.splitlines() if line.startswith("problem:")}
    today = datetime.now(SHANGHAI).date()
    expected = {str(f) for f in checks.calendar(today) if f.level == "problem"}
    assert problems == expected, done.stdout + done.stderr
    assert done.returncode == (1 if expected else 0), done.stdout + done.stderr


def test_history_starts_where_the_last_run_stopped(db: psycopg.Connection) -> None:
    now = datetime(2026, 11, 28, 20, 30, 15, tzinfo=SHANGHAI)
    day = timedelta(days=1)
    assert history_start(db, now, day) == datetime(2026, 11, 27, 20, 30, tzinfo=SHANGHAI)
    assert history_start(db, now, timedelta(0)) is None

    outlet = add_outlet(db, "010000A8900016F000169DC1")
    newest = datetime(2026, 11, 28, 18, 7, 45, tzinfo=SHANGHAI)
    db.execute(
        "INSERT INTO measurements (outlet_id, pollutant, kind, ts, value, flag, received_at) "
        "VALUES (%s, 'a21026', 'rtd', %s, 1.5, 'N', now())",
        (outlet, newest),
    )
    # After an earlier run only the missing part, from the minute of the newest value...
    assert history_start(db, now, day) == datetime(2026, 11, 28, 18, 7, tzinfo=SHANGHAI)
    # ...unless that is older than the history asked for, or nothing is missing.
    assert history_start(db, now, timedelta(hours=1)) == datetime(
        2026, 11, 28, 19, 30, tzinfo=SHANGHAI
    )
    assert history_start(db, newest + timedelta(seconds=5), day) is None


def test_the_main_loop_stops_on_a_signal_taken_by_another_thread() -> None:
    """The kernel may hand a process's SIGTERM to any of its threads (one sent while the
    process was stopped, to whichever runs first); Python runs the handler in the main thread
    when that thread next runs Python code. `up`'s main loop used to wait for its next report
    (60 s): it then reported once before it stopped. Here another thread takes the signal
    (tgkill) while the main thread waits in the loop; the loop must stop before any report."""
    stop = threading.Event()
    reports: list[None] = []
    main = threading.get_native_id()

    def waiting() -> bool:  # the main thread sleeps (in the loop's wait, once it is there)
        with open(f"/proc/self/task/{main}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "S"

    def take_the_signal() -> None:
        while not (stop.is_set() or waiting()):
            time.sleep(0.01)
        time.sleep(0.2)  # the main thread in the loop's wait
        signal_thread(os.getpid(), threading.get_native_id(), signal.SIGUSR1)

    previous = signal.signal(signal.SIGUSR1, lambda *_: stop.set())
    try:
        other = threading.Thread(target=take_the_signal)
        other.start()
        report_until_stopped(stop, lambda: reports.append(None), every_s=60)
        other.join()
    finally:
        signal.signal(signal.SIGUSR1, previous)
    assert stop.is_set() and reports == []


def test_up_waits_for_the_subscription_as_long_as_the_mqtt_process_lives() -> None:
    """`up` published its history 60 s after starting the worker's MQTT process even when
    that process had not subscribed yet (a spawned process starved of CPU takes minutes), and
    the broker dropped the history. Now it waits, saying so, until the subscription, a stop,
    or the end of that process (an error, not a wait for good)."""
    port = free_port()  # nothing listens there: the process connects, and retries, for good
    options = MqttOptions(f"mqtt://127.0.0.1:{port}", "up-wait", ("t",), "", 10, 60)
    transport = MqttProcess(options)
    transport.start()
    try:
        stop = threading.Event()

        class StopOnceSaid(logging.Handler):  # Ctrl-C once `up` has said that it waits
            def emit(self, record: logging.LogRecord) -> None:
                said.append(record.getMessage())
                stop.set()

        said: list[str] = []
        up_log = logging.getLogger("sourcewatch.up")
        handler, level = StopOnceSaid(), up_log.level
        up_log.addHandler(handler)
        up_log.setLevel(logging.INFO)
        try:
            assert wait_subscribed(transport, stop, say_every_s=0.5) is False
        finally:
            up_log.removeHandler(handler)
            up_log.setLevel(level)
        assert said[0].startswith(
            f"waiting for the ingest worker to subscribe at mqtt://127.0.0.1:{port}"
        )
        assert transport._process is not None
        os.kill(transport._process.pid or 0, signal.SIGKILL)
        with pytest.raises(MqttProcessLost, match="the MQTT process ended"):
            wait_subscribed(transport, threading.Event())
    finally:
        transport.stop()


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The smallest ASGI app: it takes lifespan events (and is never asked anything else)."""
    while scope["type"] == "lifespan":
        message = await receive()
        await send({"type": message["type"] + ".complete"})
        if message["type"] == "lifespan.shutdown":
            return


def _run(server: uvicorn.Server) -> None:
    """``server.run`` as `up`'s API thread runs it; uvicorn ends with SystemExit when it cannot
    start, which a thread takes silently (here said, for pytest's unhandled-exception check)."""
    try:
        server.run()
    except SystemExit as e:
        logging.getLogger(__name__).info("the server ended: exit %s", e.code)


def test_up_stops_when_its_api_cannot_listen() -> None:
    """With the API's port taken (another `make run`, another service), uvicorn logged the error
    and ended its thread, and `up` went on without its API, announcing the port, where the
    other server answered. Now `up` waits until its API listens before it says it is up, and
    a server that cannot listen makes it stop (exit 1)."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(_app, host="127.0.0.1", port=port, log_config=None))
        thread = threading.Thread(target=_run, args=(server,))
        thread.start()
        assert wait_listening(server, thread, threading.Event()) is False
        thread.join(60)
        assert not thread.is_alive()
    server = uvicorn.Server(
        uvicorn.Config(_app, host="127.0.0.1", port=free_port(), log_config=None)
    )
    thread = threading.Thread(target=_run, args=(server,))
    thread.start()
    try:
        assert wait_listening(server, thread, threading.Event()) is True
    finally:
        server.should_exit = True
        thread.join(60)


def test_the_urls_up_prints_keep_the_user_and_drop_the_password() -> None:
    """`up` printed its private database as postgresql://127.0.0.1:PORT/sourcewatch: copied into
    SOURCEWATCH_DATABASE_URL (`sourcewatch staff add`, say), psycopg logged in as the system
    user, a role the cluster lacks. The user stays; a password never shows."""
    assert (
        safe_url("postgresql://postgres@127.0.0.1:5433/sourcewatch")
        == "postgresql://postgres@127.0.0.1:5433/sourcewatch"
    )
    assert safe_url("postgresql://u:secret@db/x?sslmode=require") == (
        "postgresql://u@db/x?sslmode=require"
    )
    assert safe_url("mqtt://[::1]:1883") == "mqtt://[::1]:1883"
    assert safe_url("mqtt://user:pw@127.0.0.1") == "mqtt://user@127.0.0.1"
