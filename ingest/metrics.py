"""What ingest counts: the running totals of one store (:class:`IngestStats`) and the Prometheus
metrics of the ingest processes (the default registry, served by
:func:`schemas.core.health.serve_health`): what came in, what was stored, what was refused, and how
far behind the data is when it is committed. :class:`IngestStats` updates both in one call, so
each count is made once."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from prometheus_client import Counter, Gauge, Histogram

from ingest.writer import BatchResult, Written

__all__ = ["GATEWAY_OUTCOMES", "IngestStats"]

MESSAGES = Counter(
    "sourcewatch_ingest_messages",
    "Messages (MQTT) and packets (TCP gateway) committed, before their acknowledgement.",
)
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
    "idle_timeout, first_frame_timeout (no valid frame in time), limit_exceeded (too many bytes "
    "buffered, or refused over the connection limit), ip_limit (refused over the limit per IP), "
    "evicted (closed, not yet identified, to make room for a new connection), throttled (too "
    "many rejected frames from its IP), error (the socket failed).",
    ["outcome"],
)
GATEWAY_FRAMES = Counter(
    "sourcewatch_gateway_frames", "Packets (frames and garbage) cut from the TCP streams."
)
GATEWAY_BYTES = Counter("sourcewatch_gateway_received_bytes", "Bytes read from the TCP streams.")
GATEWAY_REPLIES = Counter(
    "sourcewatch_gateway_replies", "Replies (9014, 9013) sent back on the TCP streams."
)
GATEWAY_DEAD_LETTERS_DROPPED = Counter(
    "sourcewatch_gateway_dead_letters_dropped",
    "Rejected TCP packets not kept as dead letters: over the dead-letter rate of their IP.",
)
MQTT_DEAD_LETTERS_DROPPED = Counter(
    "sourcewatch_ingest_dead_letters_dropped",
    "Rejected MQTT messages and frames not kept as dead letters (counted and logged, still "
    "acknowledged), by the limit they were over: topic (SOURCEWATCH_MQTT_DEAD_LETTERS_PER_MINUTE) "
    "or total (SOURCEWATCH_MQTT_DEAD_LETTERS_PER_MINUTE_TOTAL).",
    ["limit"],
)
GATEWAY_OUTCOMES = (
    "closed",
    "idle_timeout",
    "first_frame_timeout",
    "limit_exceeded",
    "ip_limit",
    "evicted",
    "throttled",
    "error",
)
# The broker's own statistics (ingest/broker_watch.py).
BROKER_DROPPED = Gauge(
    "sourcewatch_broker_dropped_messages",
    "The broker's count of messages it dropped (its $SYS counter, by topic), as last read.",
    ["topic"],
)
BROKER_DROPS_SEEN = Counter(
    "sourcewatch_broker_drops_seen",
    "Increases of the broker's dropped-message counters seen by this process.",
)
# History recall (ingest/recall.py).
RECALL_QUERIES = Counter(
    "sourcewatch_recall_queries", "HJ 212 history queries sent to data loggers.", ["transport"]
)
RECALL_OUTCOMES = Counter(
    "sourcewatch_recall_tries",
    "Recall tries settled, by outcome: healed, refused, no-answer, partial.",
    ["outcome"],
)

for _o in GATEWAY_OUTCOMES:
    GATEWAY_CONNECTIONS.labels(_o)
for _v in ("new", "duplicate", "rejected"):
    FRAMES.labels(_v)
for _l in ("topic", "total"):
    MQTT_DEAD_LETTERS_DROPPED.labels(_l)
for _r in ("inserted", "revised", "unchanged"):
    VALUES.labels(_r)
LAST_WRITE_OK.set(1)


@dataclass(slots=True)
class IngestStats:
    """One store's totals since it started. :meth:`committed` and :meth:`write_failed` also
    update the process's Prometheus metrics."""

    messages: int = 0  # items committed: MQTT messages, TCP packets
    batches: int = 0
    written: BatchResult = field(default_factory=BatchResult)  # frames, values, dead letters
    by_reason: dict[str, int] = field(default_factory=dict)  # dead letters by reason
    write_retries: int = 0
    last_error: str | None = None
    last_write_ok: bool = True  # part of readiness: no write failed since the last commit
    acked: int = 0  # MQTT messages acknowledged to the broker after their commit
    replies: int = 0  # 9014/9013 replies sent after the commit

    def write_failed(self, error: str) -> None:
        self.write_retries += 1
        self.last_error = error
        self.last_write_ok = False
        LAST_WRITE_OK.set(0)
        WRITE_RETRIES.inc()

    def committed(
        self, items: int, written: Written, seconds: float, *, now: datetime | None = None
    ) -> None:
        """``items`` were committed as ``written`` after ``seconds`` (retries included)."""
        result = written.result
        LAST_WRITE_OK.set(1)
        MESSAGES.inc(items)
        FRAMES.labels("new").inc(result.frames_new)
        FRAMES.labels("duplicate").inc(result.frames_duplicate)
        FRAMES.labels("rejected").inc(result.dead_letters)
        VALUES.labels("inserted").inc(result.values_inserted)
        VALUES.labels("revised").inc(result.values_revised)
        VALUES.labels("unchanged").inc(result.values_unchanged)
        for r in written.rejected:
            DEAD_LETTERS.labels(r.reason).inc()
            self.by_reason[r.reason] = self.by_reason.get(r.reason, 0) + 1
        BATCH.observe(seconds)
        at = now or datetime.now(UTC)
        for a in written.accepted:
            if a.data_time is not None:
                LAG.observe(max((at - a.data_time).total_seconds(), 0.0))
        self.written.add(result)
        self.batches += 1
        self.last_write_ok = True
        self.messages += items
