"""``sourcewatch up``: everything in one process, for trying sourcewatch out.

Creates the configured database if it does not exist, migrates it, imports simulated
enterprises as a registry (each outlet bound to the standard and category it names, as
``sourcewatch registry import`` binds them), and runs the ingest worker,
the evaluator (one, whatever ``SOURCEWATCH_EVALUATOR_PROCESSES`` says) and the notification
dispatcher beside simulated data loggers until stopped.
If the ingest worker fails (its MQTT process lost, say), there is no supervisor here to
restart it: everything stops and ``up`` exits with 1, so the demo never runs on without ingest.
The loggers first upload the recent past (``--history``, 24 h by default; after a previous run,
only what is missing since its newest data), so the portal, the hourly judgement and the cases
have something to show at once, then publish in real time.
With no database configured (``SOURCEWATCH_DATABASE_URL`` unset) it starts a private PostgreSQL
cluster kept in the data folder (``--data``, default ``./var``); with no broker configured
(``SOURCEWATCH_MQTT_URL`` unset) it starts a private broker: Mosquitto where installed, else
Aedes on Node.js (``--broker`` chooses). The settings say what is set; the environment is not
read here.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import uvicorn
from psycopg import sql

from alerts.process import SIGNAL_CHECK_S, run_alerts
from api.server import build_server
from ingest.broker_watch import BrokerWatch
from ingest.mqtt import Transport
from ingest.mqtt_process import MqttProcess, MqttProcessLost
from ingest.service import build_worker, mqtt_recaller
from ingest.simulation import SimulatorOptions, make_enterprises, run_simulator
from ingest.simulation.history import History
from ingest.simulation.publisher import recall_rates
from schemas.core.db import connect
from schemas.core.localtime import LOCAL_TZ
from schemas.core.migrate import migrate
from schemas.disclosure.keys import default_key_path, generate_key
from schemas.reference import load_reference_data
from schemas.registry.entries import EnterpriseIn, import_registry
from sourcewatch.embedded_mqtt import BrokerChoice, embedded_broker
from sourcewatch.embedded_postgres import embedded_postgres
from sourcewatch.settings import AllSettings

__all__ = [
    "DEFAULT_DATA_DIR",
    "DEFAULT_HISTORY",
    "DEMO_EXCEEDANCE_RATE",
    "history_start",
    "report_until_stopped",
    "run_up",
    "safe_url",
    "simulate",
    "wait_listening",
    "wait_subscribed",
]

log = logging.getLogger(__name__)

DEFAULT_DATA_DIR = Path("var")
DEFAULT_HISTORY = timedelta(hours=24)
# Demo traffic exceeds more often than real plants (0.25 per outlet-day), so that a day of
# simulated past shows exceedance cases.
DEMO_EXCEEDANCE_RATE = 1.0
REPORT_EVERY_S = 60.0  # how often the main loop logs the ingest worker's counts
WAITING_SAY_EVERY_S = 30.0  # how often `up` says it still waits for the worker's subscription


def ensure_database(url: str) -> None:
    """Create the database named in ``url`` when the server does not have it yet."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    try:
        psycopg.connect(url, connect_timeout=5).close()
        return
    except psycopg.OperationalError as exc:
        if f'database "{name}" does not exist' not in str(exc):
            raise
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    log.info("created database %s", name)


def run_up(
    settings: AllSettings,
    stop: threading.Event,
    *,
    enterprises: int = 5,
    seed: int = 1,
    data_dir: Path = DEFAULT_DATA_DIR,
    broker: BrokerChoice = "auto",
    history: timedelta = DEFAULT_HISTORY,
) -> int:
    with ExitStack() as stack:
        if settings.database_url is None:
            log.info("data folder: %s", data_dir.resolve())
            url = stack.enter_context(embedded_postgres(data_dir))
            settings = settings.model_copy(update={"database_url": url})
            log.info("started a private PostgreSQL at %s", url)
        ensure_database(settings.database)
        with connect(settings.database, application_name="sourcewatch.up", autocommit=True) as conn:
            migrate(conn)
            load_reference_data(conn)
            simulated = [
                EnterpriseIn.model_validate(e) for e in make_enterprises(enterprises, seed)
            ]
            report = import_registry(conn, simulated)  # binds each outlet as it names it
            since = history_start(conn, datetime.now(LOCAL_TZ), history)
        log.info("registry: %s", report.summary().replace("\n", "; "))
        if settings.signing_key_file is None:  # the demo's key lives with its data
            settings = settings.model_copy(
                update={"signing_key_file": data_dir / "signing-key.pem"}
            )
        key_file = default_key_path(settings.signing_key_file)
        if not key_file.exists():
            log.info("new publication signing key %s (id %s)", key_file, generate_key(key_file))
        if settings.mqtt_url is None:
            url = stack.enter_context(embedded_broker(broker))
            # One in-process worker: no shared group (Aedes offers none).
            settings = settings.model_copy(update={"mqtt_url": url, "mqtt_shared_group": ""})
        worker = build_worker(settings)
        worker.transport.start()
        stack.callback(worker.transport.stop)
        # The simulated loggers publish their history at once: the worker's session must
        # exist first, or the broker drops the history (no subscriber yet).
        try:
            if not wait_subscribed(worker.transport, stop):
                return 0  # stopped (Ctrl-C) before the worker subscribed
        except MqttProcessLost as e:
            log.error("the ingest worker stopped (%s): stopping sourcewatch up", e)
            return 1
        failed: list[BaseException] = []  # why the ingest worker stopped, if it failed

        def ingest_until_stopped() -> None:
            try:
                worker.run(stop)
            except Exception as e:  # noqa: BLE001  (no supervisor here to restart it)
                log.error("the ingest worker stopped (%s): stopping sourcewatch up", e)
                failed.append(e)
                stop.set()

        ingest = threading.Thread(target=ingest_until_stopped, name="ingest")
        ingest.start()
        if settings.mqtt_watch_drops:  # the broker's $SYS drop counters (issue 14)
            watch = BrokerWatch(
                settings.broker, settings.database, client_id=f"{settings.mqtt_client_id}-watch"
            )
            watch.start()
            stack.callback(watch.stop)
        if settings.recall_enabled:  # history recall of gaps from the simulated loggers
            recaller = mqtt_recaller(settings, worker.transport)
            threading.Thread(
                target=recaller.run,
                args=(settings.database, stop, "sourcewatch.up.recall"),
                name="recall",
                daemon=True,
            ).start()
        options = SimulatorOptions(
            enterprises=enterprises,
            seed=seed,
            interval_s=30.0,
            exceedance_rate=DEMO_EXCEEDANCE_RATE,
        )
        simulator = threading.Thread(
            target=simulate,
            args=(options, settings.broker, stop, since),
            name="simulator",
            daemon=True,
        )
        simulator.start()
        # One evaluator, in this process (SOURCEWATCH_EVALUATOR_PROCESSES is `alerts`' own).
        one_evaluator = settings.model_copy(update={"evaluator_processes": 1})
        alerts = threading.Thread(target=run_alerts, args=(one_evaluator, stop), name="alerts")
        alerts.start()
        server = build_server(settings)
        web = threading.Thread(target=server.run, name="api")
        web.start()
        stack.callback(web.join)
        stack.callback(setattr, server, "should_exit", True)
        base = f"http://{settings.api_host}:{settings.api_port}"
        if not wait_listening(server, web, stop):
            if not stop.is_set():  # uvicorn has logged why (a port taken, say)
                log.error(
                    "the API could not listen on %s:%d (SOURCEWATCH_API_HOST, "
                    "SOURCEWATCH_API_PORT choose another address): stopping sourcewatch up",
                    settings.api_host,
                    settings.api_port,
                )
                failed.append(RuntimeError("the API could not listen"))
                stop.set()
            ingest.join()
            alerts.join()
            return 1 if failed else 0
        log.info(
            "sourcewatch is up: %d simulated enterprises publishing to %s, stored in %s; "
            "portal %s/portal/, API %s/v1/enterprises, docs %s/docs, feeds "
            "%s/v1/feeds/exceedances.atom and %s/v1/feeds/disclosures.atom, widgets script "
            "%s/widgets/sourcewatch-widgets.js (Ctrl-C stops)",
            enterprises,
            settings.broker,
            safe_url(settings.database),
            *[base] * 6,
        )

        def log_counts() -> None:
            s = worker.stats
            log.info(
                "ingest: %d messages, %d values, %d dead letters",
                s.messages,
                s.written.values_inserted,
                s.written.dead_letters,
            )

        report_until_stopped(stop, log_counts)
        ingest.join()
        alerts.join()
    return 1 if failed else 0


def wait_subscribed(
    transport: Transport, stop: threading.Event, say_every_s: float = WAITING_SAY_EVERY_S
) -> bool:
    """Wait until the ingest worker's subscriptions are granted; False when ``stop`` is set
    first. No time limit: the MQTT process takes 0.3 s to start and subscribe on an idle
    machine, minutes on a starved one, and history published before it would be lost; it says
    every ``say_every_s`` that it still waits, and raises once the MQTT process has ended."""
    started = time.monotonic()
    said = started
    while not transport.subscribed.wait(SIGNAL_CHECK_S):
        if stop.is_set():
            return False
        if isinstance(transport, MqttProcess) and transport.exitcode is not None:
            raise transport.lost()
        if time.monotonic() - said >= say_every_s:
            said = time.monotonic()
            log.info(
                "waiting for the ingest worker to subscribe at %s (%.0f s)",
                safe_url(transport.options.url),
                said - started,
            )
    return True


def wait_listening(server: uvicorn.Server, thread: threading.Thread, stop: threading.Event) -> bool:
    """Wait until the API's server (run by ``thread``) listens; False when it cannot (uvicorn
    logs why, a port already taken say, and ends its thread) or ``stop`` is set first. Before,
    ``up`` went on without its API and pointed at the port, where another server may answer."""
    while not server.started:
        if stop.is_set() or not thread.is_alive():
            return False
        thread.join(SIGNAL_CHECK_S / 10)
    return True


def report_until_stopped(
    stop: threading.Event, report: Callable[[], None], every_s: float = REPORT_EVERY_S
) -> None:
    """Call ``report`` every ``every_s`` until ``stop`` is set, waiting :data:`SIGNAL_CHECK_S`
    at a time: the main thread runs a signal's handler only when it runs Python code, and a
    SIGTERM the kernel hands to another thread (one sent while the process was stopped, say)
    would otherwise wait for the next report to be acted on."""
    due = time.monotonic() + every_s
    while not stop.wait(SIGNAL_CHECK_S):
        if time.monotonic() >= due:
            report()
            due = time.monotonic() + every_s


def history_start(conn: psycopg.Connection, now: datetime, history: timedelta) -> datetime | None:
    """Where the simulated past starts: ``history`` before ``now``, or at the minute of the
    newest stored value when that is later (an earlier run); None when there is nothing to add."""
    row = conn.execute("SELECT max(ts) FROM measurements").fetchone()
    start = now - history
    if row is not None and row[0] is not None:
        start = max(start, row[0])
    start = start.astimezone(LOCAL_TZ).replace(second=0, microsecond=0)
    return start if history > timedelta(0) and start < now - timedelta(minutes=1) else None


def simulate(
    options: SimulatorOptions, mqtt_url: str, stop: threading.Event, since: datetime | None
) -> None:
    """The simulated loggers: the past from ``since`` as fast as the broker takes it, then
    real time from the minute the past ended."""
    now = datetime.now(LOCAL_TZ).replace(second=0, microsecond=0)
    history = History(rates=recall_rates(options), seed=options.seed)  # kept across both runs
    if since is not None and since < now:
        log.info("simulated loggers upload their data since %s", since.isoformat())
        past = replace(
            options, realtime=False, start=since, duration_s=(now - since).total_seconds()
        )
        if run_simulator(past, mqtt_url, stop=stop, history=history) != 0:
            log.warning("simulated history incomplete; real time goes on")
    if not stop.is_set():
        run_simulator(replace(options, start=now), mqtt_url, stop=stop, history=history)


def safe_url(url: str) -> str:
    """``url`` without its password, to be logged: the user name stays, so that the private
    database's URL `up` prints can be copied into ``SOURCEWATCH_DATABASE_URL`` as it is
    (without ``postgres@`` psycopg logs in as the system user, a role the cluster lacks)."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if ":" in netloc:  # an IPv6 address
        netloc = f"[{netloc}]"
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    if parts.username:
        netloc = f"{parts.username}@{netloc}"
    return urlunsplit(parts._replace(netloc=netloc))
