"""TCP gateway for legacy data loggers that speak HJ 212 over a plain socket
(docs/protocol.md#transports).

Per connection a :class:`~ingest.hj212.StreamReader` cuts the stream into packets (glued and
cut frames alike). Each packet is decoded for the outlet its own MN names (PW and CRC policy of
that outlet), stored by the :class:`~ingest.store.IngestStore` (on a small thread pool), and
ONLY after the commit the 9014 (or 9013 for a 1013) goes back on the same socket, when the
Flag's A bit asks for one.

- Unknown MN, wrong PW, bad CRC, garbage: dead letters (transport ``tcp``, topic NULL); the
  connection stays open.
- Database down: the frames are kept and the write retried with backoff; meanwhile nothing is
  acknowledged and the socket is not read (the logger resends; a re-send is a no-op).
- Limits: most buffered bytes per connection, idle time-out, most connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

from ingest import metrics
from ingest.hj212 import CRCPolicy, FrameError, HJ212Error, StreamReader, parse_packet
from ingest.metrics import IngestStats
from ingest.outlets import FindOutlet
from ingest.recall import Recaller, RecallOptions
from ingest.records import Accepted, Rejected
from ingest.settings import IngestSettings
from ingest.store import RETRY_MAX_DELAY_S, IngestStore
from ingest.uplink import accept_frame
from schemas.core.health import serve_health

__all__ = [
    "Gateway",
    "GatewayOptions",
    "TcpDecoder",
    "decode_tcp_packet",
    "run_gateway",
    "tcp_recaller",
]

log = logging.getLogger(__name__)

TRANSPORT = "tcp"


@dataclass(frozen=True, slots=True)
class GatewayOptions:
    database_url: str
    idle_timeout_s: float
    max_connections: int
    batch_max_frames: int
    registry_refresh_s: float
    max_buffered_bytes: int = 1 << 20
    batch_max_delay_s: float = 0.05
    retry_max_delay_s: float = RETRY_MAX_DELAY_S
    db_threads: int = 4

    @classmethod
    def from_settings(cls, s: IngestSettings) -> GatewayOptions:
        return cls(
            database_url=s.database,
            idle_timeout_s=s.gateway_idle_timeout_s,
            max_connections=s.gateway_max_connections,
            batch_max_frames=s.batch_max_messages,
            registry_refresh_s=s.registry_refresh_s,
        )


@dataclass(frozen=True, slots=True)
class _Garbage:
    """Bytes outside any packet, with the framing error that describes them."""

    raw: bytes
    error: FrameError


_Item = tuple[bytes | _Garbage, datetime]


def decode_tcp_packet(
    packet: bytes | _Garbage, received_at: datetime, find_outlet: FindOutlet
) -> Accepted | Rejected:
    """One packet from a TCP stream, for the outlet named by the frame's own MN."""
    if isinstance(packet, _Garbage):
        err = packet.error
        return Rejected(TRANSPORT, None, received_at, packet.raw, err.kind, str(err))
    try:  # lenient first: only to read the MN; the outlet's own policy decides below
        probe = parse_packet(packet, crc_policy=CRCPolicy.LENIENT)
    except HJ212Error as exc:
        return Rejected(TRANSPORT, None, received_at, packet, exc.kind, str(exc))
    mn = probe.mn
    outlet = find_outlet(mn) if mn else None
    if outlet is None:
        return Rejected(
            TRANSPORT, None, received_at, packet, "unknown-mn", f"MN {mn!r} is not registered", mn
        )
    try:
        frame = parse_packet(packet, crc_policy=outlet.crc_policy)
    except HJ212Error as exc:
        return Rejected(TRANSPORT, None, received_at, packet, exc.kind, str(exc), outlet.mn)
    return dataclasses.replace(accept_frame(TRANSPORT, "", received_at, frame, outlet), topic=None)


class TcpDecoder:
    """TCP packets: each names its own outlet; garbage between them is kept as it came."""

    def decode(self, item: _Item, find_outlet: FindOutlet) -> Sequence[Accepted | Rejected]:
        packet, received_at = item
        return [decode_tcp_packet(packet, received_at, find_outlet)]

    def unreadable(self, item: _Item, detail: str) -> Rejected:
        packet, received_at = item
        raw = packet.raw if isinstance(packet, _Garbage) else packet
        return Rejected(TRANSPORT, None, received_at, raw, "format", detail)


class Gateway:
    """The asyncio TCP server. ``await start(host, port)`` returns the bound address."""

    def __init__(self, options: GatewayOptions) -> None:
        self.options = options
        self.store = IngestStore(
            options.database_url,
            TcpDecoder(),
            application_name="sourcewatch.gateway",
            registry_refresh_s=options.registry_refresh_s,
            retry_max_delay_s=options.retry_max_delay_s,
        )
        self._stopping = threading.Event()  # ends the store's retries when the gateway closes
        self._executor = ThreadPoolExecutor(options.db_threads, thread_name_prefix="gateway-db")
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        # The open connection of each logger (by the MN of its latest stored frame): where
        # the history recall's queries go (send_to, from another thread).
        self._links: dict[str, asyncio.StreamWriter] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self, host: str, port: int) -> tuple[str, int]:
        self._loop = asyncio.get_running_loop()
        self._server = await asyncio.start_server(self._accept, host, port)
        bound = self._server.sockets[0].getsockname()
        log.info("TCP gateway listening on %s:%d", bound[0], bound[1])
        return str(bound[0]), int(bound[1])

    @property
    def stats(self) -> IngestStats:
        return self.store.stats

    def connected(self, mn: str) -> bool:
        """Whether the logger ``mn`` has a connection open to this gateway."""
        writer = self._links.get(mn)
        return writer is not None and not writer.is_closing()

    def send_to(self, mn: str, packet: bytes) -> bool:
        """Write ``packet`` on the logger's open connection (from any thread); False when
        it has none."""
        writer, loop = self._links.get(mn), self._loop
        if writer is None or writer.is_closing() or loop is None or loop.is_closed():
            return False
        loop.call_soon_threadsafe(writer.write, packet)
        return True

    async def close(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        await asyncio.get_running_loop().run_in_executor(None, self._shutdown_executor)

    def _shutdown_executor(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
        self.store.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        if len(self._tasks) >= self.options.max_connections:
            metrics.GATEWAY_CONNECTIONS.labels("limit_exceeded").inc()
            log.warning("refusing %s: %d connections open", peer, len(self._tasks))
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        metrics.GATEWAY_CONNECTIONS_OPEN.inc()
        outcome = "error"
        try:
            outcome = await self._serve(reader, writer, peer)
        except asyncio.CancelledError:
            outcome = "closed"
        except (ConnectionError, OSError) as exc:
            log.info("connection %s lost: %s", peer, exc)
        finally:
            for mn in [mn for mn, w in self._links.items() if w is writer]:
                del self._links[mn]
            metrics.GATEWAY_CONNECTIONS_OPEN.dec()
            metrics.GATEWAY_CONNECTIONS.labels(outcome).inc()
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(OSError, asyncio.CancelledError):
                await writer.wait_closed()

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: object
    ) -> str:
        """Serve one connection; how it ended (a ``GATEWAY_CONNECTIONS`` outcome)."""
        framer = StreamReader()
        window = b""  # the bytes the framer holds plus the last read: to cut out garbage
        fed = 0  # stream offset after the last read
        pending: list[_Item] = []
        pending_bytes = 0
        first_at = 0.0
        opts = self.options
        while True:
            if pending:
                timeout = max(0.0, first_at + opts.batch_max_delay_s - time.monotonic())
            else:
                timeout = opts.idle_timeout_s
            try:
                data = await asyncio.wait_for(reader.read(65536), timeout)
            except TimeoutError:
                if pending:
                    await self._flush(pending, writer)
                    pending, pending_bytes = [], 0
                    continue
                log.info("closing idle connection %s (%.0f s)", peer, opts.idle_timeout_s)
                return "idle_timeout"
            now = datetime.now(UTC)
            if data:
                start = fed - framer.pending
                window = (window[len(window) - framer.pending :] if framer.pending else b"") + data
                fed += len(data)
                found = framer.feed(data)
                metrics.GATEWAY_BYTES.inc(len(data))
            else:
                window = window[len(window) - framer.pending :] if framer.pending else b""
                start = fed - framer.pending
                found = framer.finish()
            metrics.GATEWAY_FRAMES.inc(len(found))
            for item in found:
                packet: bytes | _Garbage
                if isinstance(item, FrameError):
                    packet = _Garbage(_cut(window, start, item), item)
                else:
                    packet = item
                if not pending:
                    first_at = time.monotonic()
                pending.append((packet, now))
                pending_bytes += len(packet.raw if isinstance(packet, _Garbage) else packet)
            if pending_bytes + framer.pending > opts.max_buffered_bytes:
                log.warning(
                    "closing %s: %d bytes buffered (limit %d); nothing of it acknowledged",
                    peer,
                    pending_bytes + framer.pending,
                    opts.max_buffered_bytes,
                )
                return "limit_exceeded"
            if not data:
                if pending:
                    await self._flush(pending, writer)
                return "closed"
            if len(pending) >= opts.batch_max_frames:
                await self._flush(pending, writer)
                pending, pending_bytes = [], 0

    async def _flush(self, items: list[_Item], writer: asyncio.StreamWriter) -> None:
        """Store ``items`` (retrying while the database is down), then send the replies they
        call for, in order."""
        loop = asyncio.get_running_loop()
        written = await loop.run_in_executor(
            self._executor, self.store.store, items, self._stopping
        )
        if written is None:  # the gateway is closing: nothing committed, nothing answered
            return
        for a in written.accepted:
            self._links[a.mn] = writer
        replies = [a.reply for a in written.accepted if a.reply is not None]
        if replies and not writer.is_closing():
            writer.write(b"".join(replies))
            await writer.drain()
            self.stats.replies += len(replies)
            metrics.GATEWAY_REPLIES.inc(len(replies))


def _cut(window: bytes, start: int, error: FrameError) -> bytes:
    """The garbage bytes ``error`` describes: from its position to the next "##"."""
    if error.position is None or not start <= error.position < start + len(window):
        return str(error).encode()
    rel = error.position - start
    end = window.find(b"##", rel + 1)
    chunk = window[rel : end if end != -1 else len(window)].rstrip(b" \t\r\n\x00")
    return chunk or str(error).encode()


def tcp_recaller(settings: IngestSettings, gateway: Gateway) -> Recaller:
    """The history recall of loggers connected to ``gateway``: queries go on their socket."""
    return Recaller(
        RecallOptions.from_settings(settings),
        transport="tcp",
        send=gateway.send_to,
        reachable=gateway.connected,
    )


def run_gateway(settings: IngestSettings, stop: threading.Event) -> int:
    """Serve ``settings.gateway_host:gateway_port`` until ``stop`` is set."""
    options = GatewayOptions.from_settings(settings)

    async def main() -> None:
        gateway = Gateway(options)
        await gateway.start(settings.gateway_host, settings.gateway_port)
        stop_health = serve_health(settings.metrics_port, host=settings.metrics_host)
        if settings.recall_enabled:
            recaller = tcp_recaller(settings, gateway)
            threading.Thread(
                target=recaller.run,
                args=(settings.database, stop, "sourcewatch.gateway.recall"),
                name="recall",
                daemon=True,
            ).start()
        try:
            while not stop.is_set():
                await asyncio.sleep(0.2)
        finally:
            stop_health()
            await gateway.close()
            log.info("gateway stopped: %s", gateway.stats)

    asyncio.run(main())
    return 0
