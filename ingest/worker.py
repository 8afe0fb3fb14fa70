"""The ingest loop: take a batch from the MQTT inbox, decode it, write it in one transaction,
and only then acknowledge it to the broker and send the 9014 replies.

- A database outage delays data, never drops it: the batch is retried with backoff and stays
  unacknowledged (the broker keeps it, and re-sends it to whoever reconnects the session).
- A batch the database refuses for a non-transient reason is split and retried message by
  message; a message that still fails goes to the dead letters with the reason.
- A bad message never stops the loop.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import psycopg

from ingest.metrics import IngestMetrics
from ingest.mqtt import Inbound, MqttTransport
from ingest.outlets import OutletDirectory
from ingest.records import Accepted, Rejected
from ingest.settings import IngestSettings
from ingest.uplink import decode_message
from ingest.writer import BatchResult, WriteError, write_isolating

__all__ = ["IngestWorker", "WorkerOptions", "WorkerStats"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    database_url: str
    batch_max_messages: int
    batch_max_delay_s: float
    registry_refresh_s: float
    batch_min_messages: int = 1
    retry_max_delay_s: float = 10.0

    @classmethod
    def from_settings(cls, s: IngestSettings) -> WorkerOptions:
        return cls(
            database_url=s.database,
            batch_max_messages=s.batch_max_messages,
            batch_max_delay_s=s.batch_max_delay_s,
            registry_refresh_s=s.registry_refresh_s,
        )


@dataclass(slots=True)
class WorkerStats:
    messages: int = 0
    batches: int = 0
    frames_new: int = 0
    frames_duplicate: int = 0
    values_inserted: int = 0
    values_revised: int = 0
    dead_letters: int = 0
    acked: int = 0
    write_retries: int = 0
    last_error: str | None = None
    by_reason: dict[str, int] = field(default_factory=dict)

    def add(self, result: BatchResult, rejected: Sequence[Rejected]) -> None:
        self.frames_new += result.frames_new
        self.frames_duplicate += result.frames_duplicate
        self.values_inserted += result.values_inserted
        self.values_revised += result.values_revised
        self.dead_letters += result.dead_letters
        for r in rejected:
            self.by_reason[r.reason] = self.by_reason.get(r.reason, 0) + 1


class IngestWorker:
    def __init__(
        self,
        options: WorkerOptions,
        transport: MqttTransport,
    ) -> None:
        self.options = options
        self.transport = transport
        self.stats = WorkerStats()
        self.metrics = IngestMetrics()
        self.directory = OutletDirectory(refresh_s=options.registry_refresh_s)
        self._conn: psycopg.Connection | None = None

    def run(self, stop: threading.Event) -> None:
        """Process batches until ``stop`` is set; the batch in hand is finished or abandoned
        unacknowledged (never half-acknowledged)."""
        try:
            while not stop.is_set():
                batch = self._collect(stop)
                if batch:
                    self._process(batch, stop)
        finally:
            self._close()

    def _collect(self, stop: threading.Event) -> list[Inbound]:
        """Wait for a first message, then take what else is already there (up to the batch
        size), waiting at most ``batch_max_delay_s`` for stragglers only while the batch is
        still small. While a batch is being written the next one accumulates, so batches grow
        with the load and a lone message is written at once."""
        inbox = self.transport.inbox
        try:
            batch = [inbox.get(timeout=0.2)]
        except queue.Empty:
            return []
        limit = self.options.batch_max_messages
        deadline = time.monotonic() + self.options.batch_max_delay_s
        while len(batch) < limit and not stop.is_set():
            try:
                batch.append(inbox.get_nowait())
                continue
            except queue.Empty:
                pass
            remaining = deadline - time.monotonic()
            if remaining <= 0 or len(batch) >= self.options.batch_min_messages:
                break
            try:
                batch.append(inbox.get(timeout=min(remaining, 0.005)))
            except queue.Empty:
                continue
        return batch

    def _process(self, batch: list[Inbound], stop: threading.Event) -> None:
        delay = 0.2
        started = time.monotonic()
        while True:
            try:
                conn = self._connection()
                accepted, rejected = self._decode(conn, batch)
                result = write_isolating(conn, accepted, rejected)
                break
            except (WriteError, psycopg.OperationalError) as exc:
                self._close()
                self.stats.write_retries += 1
                self.metrics.write_failed()
                self.stats.last_error = str(exc)
                log.warning(
                    "batch of %d not written (%s); retrying in %.1fs", len(batch), exc, delay
                )
                if stop.wait(delay):
                    log.info(
                        "stopping with %d unacknowledged messages; the broker keeps them",
                        len(batch),
                    )
                    return
                delay = min(delay * 2, self.options.retry_max_delay_s)
        self.stats.add(result, rejected)
        self.metrics.batch_written(
            len(batch), result, accepted, rejected, time.monotonic() - started
        )
        self.stats.messages += len(batch)
        self.stats.batches += 1
        self.stats.acked += self.transport.ack(batch)
        for a in accepted:
            if a.reply is not None:
                self.transport.publish(f"hj212/{a.mn}/down", a.reply)

    def _decode(
        self, conn: psycopg.Connection, batch: Sequence[Inbound]
    ) -> tuple[list[Accepted], list[Rejected]]:
        self.directory.refresh_if_due(conn)
        accepted: list[Accepted] = []
        rejected: list[Rejected] = []
        for m in batch:
            try:
                items = decode_message(
                    m.topic, m.payload, m.received_at, lambda mn: self.directory.lookup(conn, mn)
                )
            except psycopg.Error:
                raise
            except Exception as exc:  # a decoder bug must not stop ingest: keep the message
                log.exception("decoder failed on a message from %s", m.topic)
                items = [
                    Rejected(
                        "mqtt",
                        m.topic,
                        m.received_at,
                        m.payload,
                        "format",
                        f"decoder error: {exc!r}",
                    )
                ]
            for item in items:
                if isinstance(item, Accepted):
                    accepted.append(item)
                else:
                    rejected.append(item)
        return accepted, rejected

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(
                self.options.database_url,
                application_name="sourcewatch.ingest",
                connect_timeout=5,
                autocommit=True,
            )
        return self._conn

    def _close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except psycopg.Error:
                pass
            self._conn = None
