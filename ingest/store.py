"""The ingest store: what the MQTT worker and the TCP gateway share between receiving data and
answering it. :meth:`IngestStore.store` decodes a batch for the outlets its frames name, writes
it in one transaction, and returns only once it is committed:

- A database outage delays data, never drops it: the connection is dropped, and the same batch
  is decoded and written again after a back-off (:func:`backoff`), until it commits or the
  caller stops; then nothing of the batch is answered, and its sender sends it again.
- A batch the database refuses for a non-transient reason is written frame by frame; a frame
  that still fails becomes a dead letter (:func:`~ingest.writer.write_isolating`).
- A decoder bug makes the item a dead letter; it never stops ingest.
- Each count is made once: :class:`~ingest.metrics.IngestStats` keeps this store's totals and
  updates the process's Prometheus metrics in the same call.

Connections: one per thread that calls :meth:`IngestStore.store` (the worker's one thread, the
gateway's small pool), and one more for :meth:`IngestStore.predecode` (the worker decodes its
next batch while its write is in the middle of a COPY), opened on first use and again after a
failure. The outlet directory is shared.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Generic, Protocol, TypeVar

import psycopg

from ingest.metrics import IngestStats
from ingest.outlets import FindOutlet, OutletDirectory
from ingest.records import Accepted, Rejected
from ingest.writer import Meanwhile, WriteError, Written, write_isolating

__all__ = [
    "FIRST_RETRY_DELAY_S",
    "RETRY_MAX_DELAY_S",
    "Decoded",
    "Decoder",
    "IngestStore",
    "backoff",
]

log = logging.getLogger(__name__)

FIRST_RETRY_DELAY_S = 0.2
RETRY_MAX_DELAY_S = 10.0  # the longest wait between two attempts while the database is down
_WRITING, _AHEAD = "writing", "ahead"  # the names of a thread's two connections

T = TypeVar("T")
T_contra = TypeVar("T_contra", contravariant=True)


class Decoder(Protocol[T_contra]):
    """How the items of one transport become records."""

    def decode(self, item: T_contra, find_outlet: FindOutlet) -> Sequence[Accepted | Rejected]:
        """The frames of ``item`` (accepted or rejected) for the outlets their MN names."""
        ...

    def unreadable(self, item: T_contra, detail: str) -> Rejected:
        """The whole of ``item`` as a dead letter, when decoding it failed."""
        ...


def backoff(first: float, most: float) -> Iterator[float]:
    """The waits between attempts: ``first``, doubling each time, at most ``most``."""
    delay = first
    while True:
        yield min(delay, most)
        delay = min(delay * 2, most)


@dataclass(frozen=True, slots=True)
class Decoded:
    """The records of a batch, before they are written."""

    accepted: list[Accepted]
    rejected: list[Rejected]


class IngestStore(Generic[T]):
    def __init__(
        self,
        database_url: str,
        decoder: Decoder[T],
        *,
        application_name: str,
        registry_refresh_s: float,
        retry_max_delay_s: float = RETRY_MAX_DELAY_S,
    ) -> None:
        self.database_url = database_url
        self.decoder = decoder
        self.application_name = application_name
        self.retry_max_delay_s = retry_max_delay_s
        self.directory = OutletDirectory(refresh_s=registry_refresh_s)
        self.stats = IngestStats()
        self._local = threading.local()  # this thread's connection
        self._connections: list[psycopg.Connection] = []
        self._lock = threading.Lock()  # the list above and the stats

    def decode(self, items: Sequence[T], *, ahead: bool = False) -> Decoded:
        """The records of ``items`` for the outlets their MNs name, on this thread's writing
        connection (the outlet directory may need it), or its decoding one (``ahead``). Raises
        psycopg.Error when the database is down."""
        conn = self._connection(ahead)
        self.directory.refresh_if_due(conn)
        find_outlet: FindOutlet = partial(self.directory.lookup, conn)
        decoded = Decoded([], [])
        for item in items:
            for record in self._decode(item, find_outlet):
                if isinstance(record, Accepted):
                    decoded.accepted.append(record)
                else:
                    decoded.rejected.append(record)
        return decoded

    def predecode(self, items: Sequence[T]) -> Decoded | None:
        """:meth:`decode` on this thread's decoding connection, so that it can run while a write
        of this thread waits on the server; None when the database is unavailable (the
        connection is dropped; :meth:`store` then decodes the items itself, retrying)."""
        try:
            return self.decode(items, ahead=True)
        except psycopg.Error as exc:
            log.warning("batch of %d not decoded ahead (%s)", len(items), exc)
            self._drop(ahead=True)
            return None

    def store(
        self,
        items: Sequence[T],
        stop: threading.Event,
        decoded: Decoded | None = None,
        meanwhile: Meanwhile | None = None,
    ) -> Written | None:
        """Decode and commit ``items`` in one transaction, retrying while the database is
        unavailable. What is returned is durable; None when ``stop`` was set before the
        commit (nothing was committed then: answer nothing). ``decoded``: what
        :meth:`predecode` made of the same ``items`` (while the previous batch was being
        written); the first attempt writes it, a retry decodes again. ``meanwhile``: given to
        the writer (:data:`~ingest.writer.Meanwhile`)."""
        started = time.monotonic()
        delays = backoff(FIRST_RETRY_DELAY_S, self.retry_max_delay_s)
        while True:
            try:
                given, decoded = decoded, None  # a retry decodes again
                written = self._write(items, given, meanwhile)
            except (WriteError, psycopg.OperationalError) as exc:
                self._drop()
                with self._lock:
                    self.stats.write_failed(str(exc))
                delay = next(delays)
                log.warning(
                    "batch of %d not written (%s); retrying in %.1fs", len(items), exc, delay
                )
                if stop.wait(delay):
                    return None
                continue
            with self._lock:
                self.stats.committed(len(items), written, time.monotonic() - started)
            return written

    def close(self) -> None:
        """Close every connection (call once no thread stores any more)."""
        with self._lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            with contextlib.suppress(psycopg.Error):
                conn.close()

    def _write(
        self, items: Sequence[T], decoded: Decoded | None, meanwhile: Meanwhile | None
    ) -> Written:
        if decoded is None:
            decoded = self.decode(items)
        return write_isolating(self._connection(), decoded.accepted, decoded.rejected, meanwhile)

    def _decode(self, item: T, find_outlet: FindOutlet) -> Sequence[Accepted | Rejected]:
        try:
            return self.decoder.decode(item, find_outlet)
        except psycopg.Error:
            raise
        except Exception as exc:  # a decoder bug must not stop ingest: keep the item
            log.exception("decoder failed; the item is kept as a dead letter")
            return [self.decoder.unreadable(item, f"decoder error: {exc!r}")]

    def _connection(self, ahead: bool = False) -> psycopg.Connection:
        """This thread's writing connection, or its decoding one (``ahead``)."""
        name = _AHEAD if ahead else _WRITING
        conn: psycopg.Connection | None = getattr(self._local, name, None)
        if conn is None or conn.closed:
            conn = psycopg.connect(
                self.database_url,
                application_name=self.application_name,
                connect_timeout=5,
                autocommit=True,
            )
            setattr(self._local, name, conn)
            with self._lock:
                self._connections.append(conn)
        return conn

    def _drop(self, ahead: bool = False) -> None:
        """Close this thread's writing connection, or its decoding one (``ahead``), after a
        failure: the next attempt opens one."""
        name = _AHEAD if ahead else _WRITING
        conn: psycopg.Connection | None = getattr(self._local, name, None)
        setattr(self._local, name, None)
        if conn is not None:
            with self._lock:
                if conn in self._connections:
                    self._connections.remove(conn)
            with contextlib.suppress(psycopg.Error):
                conn.close()
