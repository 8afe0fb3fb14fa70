"""Prometheus metrics of the ingest worker (the default registry, served by
:func:`schemas.core.health.serve_health`): what came in, what was stored, what was refused, and how
far behind the data is when it is committed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from prometheus_client import Counter, Gauge, Histogram

from ingest.records import Accepted, Rejected
from ingest.writer import BatchResult

__all__ = ["GATEWAY_OUTCOMES", "IngestMetrics"]

MESSAGES = Counter("sourcewatch_ingest_messages", "MQTT messages taken and acknowledged.")
FRAMES = Counter(
    "sourcewatch_ingest_frames",
    "Frames by verdict: new (stored), duplicate (already stored), rejected (dead letter).",
    ["verdict"],
)
VALUES = Counter(
    "sourcewatch_ingest_values",
    "Measurement values by result: inserted, revised (changed re-send), unchanged.",
    ["result"],
)
DEAD_LETTERS = Counter(
    "sourcewatch_ingest_dead_letters", "Messages kept as dead letters, by reason.", ["reason"]
)
WRITE_RETRIES = Counter(
    "sourcewatch_ingest_write_retries", "Batches retried after a database failure."
)
LAG = Histogram(
    "sourcewatch_ingest_lag_seconds",
    "From a frame's DataTime to the commit that stored it.",
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 6 * 3600, 24 * 3600, 7 * 24 * 3600),
)
BATCH = Histogram(
    "sourcewatch_ingest_batch_seconds",
    "Decoding and writing one batch (retries included), to its commit.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
LAST_WRITE_OK = Gauge(
    "sourcewatch_ingest_last_write_ok", "1 when the last batch write succeeded, 0 when it failed."
)

# The HJ 212 TCP gateway (ingest/tcp.py).
GATEWAY_CONNECTIONS_OPEN = Gauge(
    "sourcewatch_gateway_connections_open", "Data logger TCP connections open now."
)
GATEWAY_CONNECTIONS = Counter(
    "sourcewatch_gateway_connections",
    "Data logger TCP connections ended, by outcome: closed (by the logger or at shutdown), "
    "idle_timeout, limit_exceeded (too many bytes buffered, or refused over the connection "
    "limit), error (the socket failed).",
    ["outcome"],
)
GATEWAY_FRAMES = Counter(
    "sourcewatch_gateway_frames", "Packets (frames and garbage) cut from the TCP streams."
)
GATEWAY_BYTES = Counter("sourcewatch_gateway_received_bytes", "Bytes read from the TCP streams.")
GATEWAY_REPLIES = Counter(
    "sourcewatch_gateway_replies", "Replies (9014, 9013) sent back on the TCP streams."
)
GATEWAY_OUTCOMES = ("closed", "idle_timeout", "limit_exceeded", "error")

for _o in GATEWAY_OUTCOMES:
    GATEWAY_CONNECTIONS.labels(_o)
for _v in ("new", "duplicate", "rejected"):
    FRAMES.labels(_v)
for _r in ("inserted", "revised", "unchanged"):
    VALUES.labels(_r)
LAST_WRITE_OK.set(1)


class IngestMetrics:
    """Updates the metrics for one worker and remembers whether its last write succeeded
    (part of its readiness)."""

    def __init__(self) -> None:
        self.last_write_ok = True  # nothing failed yet

    def write_failed(self) -> None:
        self.last_write_ok = False
        LAST_WRITE_OK.set(0)
        WRITE_RETRIES.inc()

    def batch_written(
        self,
        messages: int,
        result: BatchResult,
        accepted: Sequence[Accepted],
        rejected: Sequence[Rejected],
        seconds: float,
        *,
        now: datetime | None = None,
    ) -> None:
        self.last_write_ok = True
        LAST_WRITE_OK.set(1)
        MESSAGES.inc(messages)
        FRAMES.labels("new").inc(result.frames_new)
        FRAMES.labels("duplicate").inc(result.frames_duplicate)
        FRAMES.labels("rejected").inc(len(rejected))
        VALUES.labels("inserted").inc(result.values_inserted)
        VALUES.labels("revised").inc(result.values_revised)
        VALUES.labels("unchanged").inc(result.values_unchanged)
        for r in rejected:
            DEAD_LETTERS.labels(r.reason).inc()
        BATCH.observe(seconds)
        committed = now or datetime.now(UTC)
        for a in accepted:
            if a.data_time is not None:
                LAG.observe(max((committed - a.data_time).total_seconds(), 0.0))
