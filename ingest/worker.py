"""The ingest loop: take a batch from the MQTT inbox, store it (:class:`~ingest.store.IngestStore`:
decoded, written in one transaction, retried while the database is down), and only then
acknowledge it to the broker and send the 9014 replies.

- A database outage delays data, never drops it: the batch stays unacknowledged while the store
  retries (the broker keeps it, and re-sends it to whoever reconnects the session).
- A bad message never stops the loop: it becomes a dead letter with the reason.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import queue
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta

from ingest import metrics
from ingest.dead_letter_cap import ALL_SOURCES, DeadLetterCap, DeadLetterLimits
from ingest.metrics import IngestStats
from ingest.mqtt import Inbound, Transport
from ingest.outlets import FindOutlet
from ingest.records import Accepted, Rejected
from ingest.settings import IngestSettings
from ingest.store import RETRY_MAX_DELAY_S, Decoded, IngestStore
from ingest.uplink import FUTURE_TOLERANCE, decode_message

__all__ = ["IngestWorker", "MqttDecoder", "WorkerOptions"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    database_url: str
    batch_max_messages: int
    batch_max_delay_s: float
    registry_refresh_s: float
    future_tolerance: timedelta = FUTURE_TOLERANCE
    batch_min_messages: int = 1
    retry_max_delay_s: float = RETRY_MAX_DELAY_S
    dead_letters_per_minute: float = 60.0
    dead_letters_per_minute_total: float = 600.0

    @classmethod
    def from_settings(cls, s: IngestSettings) -> WorkerOptions:
        return cls(
            database_url=s.database,
            batch_max_messages=s.batch_max_messages,
            batch_max_delay_s=s.batch_max_delay_s,
            registry_refresh_s=s.registry_refresh_s,
            future_tolerance=timedelta(seconds=s.future_tolerance_s),
            dead_letters_per_minute=s.mqtt_dead_letters_per_minute,
            dead_letters_per_minute_total=s.mqtt_dead_letters_per_minute_total,
        )

    @property
    def dead_letter_limits(self) -> DeadLetterLimits:
        return DeadLetterLimits(
            per_source_per_minute=self.dead_letters_per_minute,
            total_per_minute=self.dead_letters_per_minute_total,
        )


class MqttDecoder:
    """MQTT messages: the topic names the outlet; one message may hold several frames. Its
    dead letters are kept within ``cap``, per topic (:mod:`ingest.dead_letter_cap`)."""

    def __init__(
        self, future_tolerance: timedelta = FUTURE_TOLERANCE, cap: DeadLetterCap | None = None
    ) -> None:
        self.future_tolerance = future_tolerance
        self.cap = cap

    def decode(self, item: Inbound, find_outlet: FindOutlet) -> Sequence[Accepted | Rejected]:
        records = decode_message(
            item.topic,
            item.payload,
            item.received_at,
            find_outlet,
            future_tolerance=self.future_tolerance,
        )
        if self.cap is None or not any(isinstance(r, Rejected) for r in records):
            return records  # the usual message: nothing for the cap to decide
        key = (item.generation, item.mid, item.received_at, item.topic)  # decided once per item
        kept, refused = self.cap.keep(records, item.topic, time.monotonic(), item=key)
        for by in refused:
            metrics.MQTT_DEAD_LETTERS_DROPPED.labels(
                "total" if by == ALL_SOURCES else "topic"
            ).inc()
        return kept

    def unreadable(self, item: Inbound, detail: str) -> Rejected:
        return Rejected("mqtt", item.topic, item.received_at, item.payload, "format", detail)


class IngestWorker:
    def __init__(self, options: WorkerOptions, transport: Transport) -> None:
        self.options = options
        self.transport = transport
        self.store = IngestStore(
            options.database_url,
            MqttDecoder(
                options.future_tolerance,
                DeadLetterCap(options.dead_letter_limits, source_kind="topic"),
            ),
            application_name="sourcewatch.ingest",
            registry_refresh_s=options.registry_refresh_s,
            retry_max_delay_s=options.retry_max_delay_s,
        )

    @property
    def stats(self) -> IngestStats:
        return self.store.stats

    def run(self, stop: threading.Event) -> None:
        """Process batches until ``stop`` is set; the batch in hand is finished or abandoned
        unacknowledged (never half-acknowledged).

        One thread writes a batch, acknowledges it once committed and sends its replies. The
        next batch is collected and decoded in the middle of that write, while the server
        inserts the batch's values (:data:`~ingest.writer.Meanwhile`): decoding then overlaps
        the server's work without taking turns with the write on the GIL, as a decoding thread
        did (bench/README.md, "Thirteenth round"). The worker holds the inbox and two batches
        (the one being written, the next one), within the Receive Maximum when the broker keeps
        to it (:mod:`ingest.mqtt` bounds the inbox when it does not); batches are written and
        acknowledged in the order they were received."""
        with _collector_spared():
            try:
                self._run(stop)
            finally:
                self.store.close()

    def _run(self, stop: threading.Event) -> None:
        batch: list[Inbound] = []
        decoded: Decoded | None = None
        while not stop.is_set():
            if not batch:
                batch = self._collect(stop)
                if not batch:
                    continue
                decoded = self.store.predecode(batch)
            ahead = _Ahead(self, stop)
            self._process(batch, stop, decoded, ahead)
            batch, decoded = ahead.taken()

    def _collect(self, stop: threading.Event, wait: bool = True) -> list[Inbound]:
        """Wait for a first message, then take what else is already there (up to the batch
        size), waiting at most ``batch_max_delay_s`` for stragglers only while the batch is
        still small. While a batch is being written the next one accumulates, so batches grow
        with the load and a lone message is written at once. ``wait=False``: only what is
        there, waiting for nothing."""
        inbox = self.transport.inbox
        try:
            batch = [inbox.get(timeout=0.2) if wait else inbox.get_nowait()]
        except queue.Empty:
            return []
        limit = self.options.batch_max_messages
        deadline = time.monotonic() + (self.options.batch_max_delay_s if wait else 0.0)
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

    def _process(
        self,
        batch: list[Inbound],
        stop: threading.Event,
        decoded: Decoded | None = None,
        ahead: _Ahead | None = None,
    ) -> None:
        written = self.store.store(batch, stop, decoded, ahead)
        if written is None:
            log.info("stopping with %d unacknowledged messages; the broker keeps them", len(batch))
            return
        self.stats.acked += self.transport.ack(batch)
        for a in written.accepted:
            if a.reply is not None:
                self.transport.publish(f"hj212/{a.mn}/down", a.reply)
                self.stats.replies += 1


class _Ahead:
    """The next batch: what the inbox holds, taken without waiting and decoded, once, when the
    writer calls this in the middle of the current batch's write, or when it is
    :meth:`taken` if the write did not. An error (the MQTT process lost, say) is raised by
    :meth:`taken`, after the write, not inside it."""

    def __init__(self, worker: IngestWorker, stop: threading.Event) -> None:
        self._worker, self._stop = worker, stop
        self._done = False
        self._batch: list[Inbound] = []
        self._decoded: Decoded | None = None
        self._error: Exception | None = None

    def __call__(self) -> None:
        if self._done:
            return
        self._done = True
        try:
            self._batch = self._worker._collect(self._stop, wait=False)
            if self._batch:
                self._decoded = self._worker.store.predecode(self._batch)
        except Exception as e:  # noqa: BLE001  (raised by taken(), outside the write)
            self._error = e

    def taken(self) -> tuple[list[Inbound], Decoded | None]:
        self()
        if self._error is not None:
            raise self._error
        return self._batch, self._decoded


# Python's cyclic garbage collector walks the objects it tracks every so often: the young ones
# every 700 allocations net of frees, every object of the process in a full pass now and then.
# Ingest allocates many that live for a batch or three (rows, records: ~12 tracked objects a
# frame), and all of them are freed by reference counting, not by the collector; its passes
# cost ~4.5 µs a frame on the 2-core benchmark machine (bench/README.md, "Eleventh round").
# While a worker runs: what the process held when it started (modules, classes, settings)
# is frozen (gc.freeze, after a collection, so that no garbage is frozen with it): full passes
# skip it; and a young pass waits for COLLECT_AFTER allocations net of frees, more than the
# worker's batches in flight hold, so the passes come only as cyclic garbage piles up (at most
# that many objects). The last worker of the process to stop restores both.
COLLECT_AFTER = 50_000
_spared_by = 0
_thresholds = gc.get_threshold()
_spared_lock = threading.Lock()


@contextlib.contextmanager
def _collector_spared() -> Iterator[None]:
    global _spared_by, _thresholds
    with _spared_lock:
        if not _spared_by:
            gc.collect()
            gc.freeze()
            _thresholds = gc.get_threshold()
            gc.set_threshold(max(_thresholds[0], COLLECT_AFTER), *_thresholds[1:])
        _spared_by += 1
    try:
        yield
    finally:
        with _spared_lock:
            _spared_by -= 1
            if not _spared_by:
                gc.set_threshold(*_thresholds)
                gc.unfreeze()
