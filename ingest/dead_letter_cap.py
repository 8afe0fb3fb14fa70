"""How many dead letters a sender may leave (issue 15): the one rule for the TCP gateway (per IP,
:mod:`ingest.tcp_peers`) and the MQTT worker (per topic, and all topics together,
:mod:`ingest.worker`).

- Each source has a token bucket of ``per_source_per_minute`` (a burst of as many): a rejected
  record takes a token and is stored; without a token it is dropped.
- ``total_per_minute`` (when > 0) is a second bucket shared by every source, so that a sender
  who can pick new source names (MQTT topics) cannot multiply the rate; a record dropped by it
  takes no token of its own source and leaves no entry behind.
- A dropped record is counted (the caller's metric) and logged: the first drop of a source
  at once, then at most one line per source and ``log_every_s`` saying how many were dropped
  since the last line; a source forgotten with drops not yet logged gets its last line then.
  A dropped dead letter is not lost data: it is a rejected message, only not kept.

The size of each stored dead letter is capped where it is written
(:data:`ingest.writer.DEAD_LETTER_MAX_BYTES`), for every transport.

Decided once per item: when the caller names what the records were decoded from (``item`` of
:meth:`DeadLetterCap.keep`, a small key, never the payload: it is remembered), decoding the
same item again — its batch's write retried after a database failure — keeps and drops the same
records, taking no token and reporting no drop a second time (the decisions of the last
:data:`MEMO_SIZE` items with rejections are remembered).

In memory, per process; times are ``time.monotonic()`` seconds, passed in so that the rule can be
tested without waiting. Thread-safe. Sources with a full bucket and nothing left to log are
forgotten (:meth:`DeadLetterCap.prune`, also run by :meth:`~DeadLetterCap.take` once per
minute), so the table does not grow with every source ever seen.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from ingest.records import Rejected

__all__ = ["ALL_SOURCES", "DeadLetterCap", "DeadLetterLimits"]

log = logging.getLogger(__name__)

ALL_SOURCES = "*"  # the name of the total bucket in logs and in dropped counts
PRUNE_EVERY_S = 60.0
MEMO_SIZE = 4096  # items whose decisions are remembered (a batch or more of them)

R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class DeadLetterLimits:
    per_source_per_minute: float = 60.0
    total_per_minute: float = 0.0  # 0: no total cap
    log_every_s: float = 60.0


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float
    dropped: int = 0  # dropped since the last log line
    logged_at: float | None = None


class DeadLetterCap:
    def __init__(self, limits: DeadLetterLimits, *, source_kind: str = "source") -> None:
        self.limits = limits
        self.source_kind = source_kind  # "IP", "topic": how log lines name a source
        self._buckets: dict[str, _Bucket] = {}
        self._total: _Bucket | None = None
        self._lock = threading.Lock()
        self._pruned_at: float | None = None
        self._decided: OrderedDict[Hashable, list[bool]] = OrderedDict()  # item -> kept or not

    def take(self, source: str, now: float) -> str | None:
        """Count one dead letter of ``source`` at ``now``: None when it may be stored, else the
        bucket that refused it (``source`` itself, or :data:`ALL_SOURCES`)."""
        with self._lock:
            if self._pruned_at is None or now - self._pruned_at >= PRUNE_EVERY_S:
                self._prune(now)
            total = self._total_bucket(now)
            if total is not None and total.tokens < 1.0:
                self._dropped(ALL_SOURCES, total, now)
                return ALL_SOURCES
            bucket = self._bucket(source, now)
            if bucket.tokens < 1.0:
                self._dropped(source, bucket, now)
                return source
            bucket.tokens -= 1.0
            if total is not None:
                total.tokens -= 1.0
            return None

    def keep(
        self, records: Iterable[R], source: str, now: float, *, item: Hashable | None = None
    ) -> tuple[list[R], list[str]]:
        """``records`` without the :class:`~ingest.records.Rejected` ones over the cap, and for
        each one newly dropped the bucket that refused it (``source`` or :data:`ALL_SOURCES`).
        With ``item`` (a small key naming what ``records`` were decoded from), the decisions
        made for it before are kept, and their drops not reported again."""
        records = list(records)
        count = sum(isinstance(r, Rejected) for r in records)
        earlier = self._recall(item, count)
        kept: list[R] = []
        refused: list[str] = []
        decisions: list[bool] = []
        for r in records:
            if not isinstance(r, Rejected):
                kept.append(r)
                continue
            if earlier is not None:
                keep = earlier[len(decisions)]
            else:
                by = self.take(source, now)
                keep = by is None
                if by is not None:
                    refused.append(by)
            decisions.append(keep)
            if keep:
                kept.append(r)
        if earlier is None and count:
            self._remember(item, decisions)
        return kept, refused

    def _recall(self, item: Hashable | None, count: int) -> list[bool] | None:
        if item is None or count == 0:
            return None
        with self._lock:
            try:
                earlier = self._decided.get(item)
            except TypeError:  # not hashable after all: decided afresh
                return None
        return earlier if earlier is not None and len(earlier) == count else None

    def _remember(self, item: Hashable | None, decisions: list[bool]) -> None:
        if item is None:
            return
        with self._lock:
            try:
                self._decided[item] = decisions
            except TypeError:
                return
            while len(self._decided) > MEMO_SIZE:
                self._decided.popitem(last=False)

    def prune(self, now: float) -> None:
        """Forget the sources with a full bucket and no drop left to log."""
        with self._lock:
            self._prune(now)

    def sources(self) -> set[str]:
        """The sources remembered now."""
        with self._lock:
            return set(self._buckets)

    def __len__(self) -> int:
        with self._lock:
            return len(self._buckets)

    # under the lock --------------------------------------------------------------------------

    def _refill(self, bucket: _Bucket, per_minute: float, now: float) -> None:
        burst = max(1.0, per_minute)
        bucket.tokens = min(burst, bucket.tokens + max(0.0, now - bucket.at) * per_minute / 60.0)
        bucket.at = now

    def _bucket(self, source: str, now: float) -> _Bucket:
        rate = self.limits.per_source_per_minute
        bucket = self._buckets.get(source)
        if bucket is None:
            bucket = self._buckets[source] = _Bucket(max(1.0, rate), now)
        else:
            self._refill(bucket, rate, now)
        return bucket

    def _total_bucket(self, now: float) -> _Bucket | None:
        rate = self.limits.total_per_minute
        if rate <= 0:
            return None
        if self._total is None:
            self._total = _Bucket(max(1.0, rate), now)
        else:
            self._refill(self._total, rate, now)
        return self._total

    def _dropped(self, source: str, bucket: _Bucket, now: float) -> None:
        bucket.dropped += 1
        if self._log_due(bucket, now):
            self._log(source, bucket, now)

    def _log_due(self, bucket: _Bucket, now: float) -> bool:
        return bucket.logged_at is None or now - bucket.logged_at >= self.limits.log_every_s

    def _log(self, source: str, bucket: _Bucket, now: float) -> None:
        if source == ALL_SOURCES:
            who, rate = f"all {self.source_kind}s together", self.limits.total_per_minute
        else:
            who, rate = f"{self.source_kind} {source!r}", self.limits.per_source_per_minute
        log.warning(
            "%d dead letter(s) of %s dropped: over %g per minute (counted, not stored)",
            bucket.dropped,
            who,
            rate,
        )
        bucket.dropped = 0
        bucket.logged_at = now

    def _prune(self, now: float) -> None:
        self._pruned_at = now
        rate = self.limits.per_source_per_minute
        for source, bucket in list(self._buckets.items()):
            self._refill(bucket, rate, now)
            if bucket.dropped and self._log_due(bucket, now):
                self._log(source, bucket, now)
            if bucket.tokens >= max(1.0, rate) and not bucket.dropped:
                del self._buckets[source]
        total = self._total
        if total is not None and total.dropped and self._log_due(total, now):
            self._log(ALL_SOURCES, total, now)
