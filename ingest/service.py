"""Wires the ingest worker from settings: MQTT transport + worker loop, until stopped."""

from __future__ import annotations

import logging
import threading

from ingest.broker_watch import BrokerWatch
from ingest.mqtt import MqttOptions, Transport
from ingest.mqtt_process import MqttProcess
from ingest.recall import Recaller, RecallOptions
from ingest.settings import IngestSettings
from ingest.uplink import JSON_TOPIC, RAW_TOPIC
from ingest.worker import IngestWorker, WorkerOptions
from schemas.core.health import serve_health

__all__ = ["build_worker", "mqtt_recaller", "run_ingest"]

log = logging.getLogger(__name__)


def build_worker(settings: IngestSettings) -> IngestWorker:
    transport = MqttProcess(MqttOptions.from_settings(settings, (RAW_TOPIC, JSON_TOPIC)))
    return IngestWorker(WorkerOptions.from_settings(settings), transport)


def run_ingest(settings: IngestSettings, stop: threading.Event) -> int:
    worker = build_worker(settings)
    stop_health = serve_health(
        settings.metrics_port, ready=lambda: _ready(worker), host=settings.metrics_host
    )
    worker.transport.start()
    watch = None
    if settings.mqtt_watch_drops:
        watch = BrokerWatch(
            settings.broker, settings.database, client_id=f"{settings.mqtt_client_id}-watch"
        )
        watch.start()
    reporter = threading.Thread(target=_report, args=(worker, stop), daemon=True)
    reporter.start()
    if settings.recall_enabled:
        recaller = mqtt_recaller(settings, worker.transport)
        threading.Thread(
            target=recaller.run,
            args=(settings.database, stop, "sourcewatch.ingest.recall"),
            name="recall",
            daemon=True,
        ).start()
    try:
        worker.run(stop)
    finally:
        if watch is not None:
            watch.stop()
        worker.transport.stop()
        stop_health()
    log.info("ingest stopped: %s", worker.stats)
    return 0


def mqtt_recaller(settings: IngestSettings, transport: Transport) -> Recaller:
    """The history recall of outlets whose loggers report over MQTT: queries go to
    ``hj212/{MN}/down``, where the loggers listen for the 9014 answers too."""

    def send(mn: str, packet: bytes) -> bool:
        if not transport.connected.is_set():
            return False
        transport.publish(f"hj212/{mn}/down", packet)
        return True

    return Recaller(RecallOptions.from_settings(settings), transport="mqtt", send=send)


def _ready(worker: IngestWorker) -> bool:
    """Ready: subscribed at the broker, and the last write (if any) succeeded."""
    return worker.transport.subscribed.is_set() and worker.stats.last_write_ok


def _report(worker: IngestWorker, stop: threading.Event, every_s: float = 60.0) -> None:
    last = 0
    while not stop.wait(every_s):
        s = worker.stats
        log.info(
            "ingest: %d messages (+%d), %d values new, %d revised, %d dead letters, "
            "%d write retries",
            s.messages,
            s.messages - last,
            s.written.values_inserted,
            s.written.values_revised,
            s.written.dead_letters,
            s.write_retries,
        )
        last = s.messages
