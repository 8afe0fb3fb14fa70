"""``sourcewatch up``: everything in one process, for trying sourcewatch out.

Creates the configured database if it does not exist, migrates it, registers simulated
enterprises, and runs the ingest worker beside simulated data loggers until stopped. With no
broker configured (``SOURCEWATCH_MQTT_URL`` unset) it starts a private Mosquitto.
"""

from __future__ import annotations

import logging
import os
import threading
from contextlib import ExitStack
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from ingest.service import build_worker
from ingest.simulation import SimulatorOptions, make_enterprises, run_simulator
from schemas.db import connect
from schemas.migrate import migrate
from schemas.reference import load_reference_data
from schemas.registry import EnterpriseIn, import_registry
from schemas.settings import Settings
from sourcewatch.embedded import embedded_mosquitto

__all__ = ["run_up"]

log = logging.getLogger(__name__)


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
    settings: Settings, stop: threading.Event, *, enterprises: int = 5, seed: int = 1
) -> int:
    ensure_database(settings.database_url)
    with connect(settings.database_url, application_name="sourcewatch.up", autocommit=True) as conn:
        migrate(conn)
        load_reference_data(conn)
        simulated = [EnterpriseIn.model_validate(e) for e in make_enterprises(enterprises, seed)]
        report = import_registry(conn, simulated)
    log.info("registry: %s", report.summary().replace("\n", "; "))
    with ExitStack() as stack:
        if "SOURCEWATCH_MQTT_URL" not in os.environ:
            url = stack.enter_context(embedded_mosquitto())
            settings = settings.model_copy(update={"mqtt_url": url})
            log.info("started a private Mosquitto at %s", url)
        worker = build_worker(settings)
        worker.transport.start()
        stack.callback(worker.transport.stop)
        ingest = threading.Thread(target=worker.run, args=(stop,), name="ingest")
        ingest.start()
        options = SimulatorOptions(enterprises=enterprises, seed=seed, interval_s=30.0)
        simulator = threading.Thread(
            target=run_simulator, args=(options, settings.mqtt_url), kwargs={"stop": stop},
            name="simulator", daemon=True,
        )  # fmt: skip
        simulator.start()
        log.info(
            "sourcewatch is up: %d simulated enterprises publishing to %s, stored in %s "
            "(Ctrl-C stops)", enterprises, settings.mqtt_url, _safe(settings.database_url),
        )  # fmt: skip
        while not stop.wait(60):
            s = worker.stats
            log.info("ingest: %d messages, %d values, %d dead letters", s.messages,
                     s.values_inserted, s.dead_letters)  # fmt: skip
        ingest.join()
    return 0


def _safe(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    return urlunsplit(parts._replace(netloc=f"{host}:{parts.port}" if parts.port else host))
