"""TCP gateway for legacy data loggers that speak HJ 212 over a plain socket
(docs/protocol.md#transports, docs/security.md#the-tcp-gateway).

Per connection a :class:`~ingest.hj212.StreamReader` cuts the stream into packets (glued and
cut frames alike). Each packet is decoded for the outlet its own MN names (PW and CRC policy of
that outlet), stored by the :class:`~ingest.store.IngestStore` (on a small thread pool), and
ONLY after the commit the 9014 (or 9013 for a 1013) goes back on the same socket, when the
Flag's A bit asks for one.

- Unknown MN, wrong PW, an outlet with no PW (TCP needs one), bad CRC, garbage: dead letters
  (transport ``tcp``, topic NULL), and all answered alike: with nothing. The connection stays
  open, until its IP has had too many rejected frames lately: then nothing more is answered
  for it, and its connections are closed after a delay (:mod:`ingest.tcp_peers`).
- Database down: the frames are kept and the write retried with backoff; meanwhile nothing is
  acknowledged and the socket is not read (the logger resends; a re-send is a no-op).
- Limits: most buffered bytes per connection, idle time-out, a deadline for the first valid
  frame, most connections per IP and in all (when full, the oldest connection that has not
  sent a valid frame yet makes room), most dead letters per IP and minute, and in all.
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
from datetime import UTC, datetime, timedelta

from ingest import metrics
from ingest.hj212 import CRCPolicy, FrameError, HJ212Error, StreamReader, parse_packet
from ingest.metrics import IngestStats
from ingest.outlets import FindOutlet
from ingest.recall import Recaller, RecallOptions
from ingest.records import Accepted, Rejected
from ingest.settings import IngestSettings
from ingest.store import RETRY_MAX_DELAY_S, IngestStore
from ingest.tcp_peers import PeerLimits, Peers
from ingest.uplink import FUTURE_TOLERANCE, accept_frame
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
    first_frame_timeout_s: float = 60.0
    max_connections_per_ip: int = 20
    max_rejections: int = 10
    rejection_window_s: float = 600.0
    throttle_delay_s: float = 5.0
    dead_letters_per_minute: float = 60.0
    dead_letters_per_minute_total: float = 600.0
    future_tolerance: timedelta = FUTURE_TOLERANCE

    @classmethod
    def from_settings(cls, s: IngestSettings) -> GatewayOptions:
        return cls(
            database_url=s.database,
            idle_timeout_s=s.gateway_idle_timeout_s,
            max_connections=s.gateway_max_connections,
            batch_max_frames=s.batch_max_messages,
            registry_refresh_s=s.registry_refresh_s,
            first_frame_timeout_s=s.gateway_first_frame_timeout_s,
            max_connections_per_ip=s.gateway_max_connections_per_ip,
            max_rejections=s.gateway_max_rejections,
            rejection_window_s=s.gateway_rejection_window_s,
            throttle_delay_s=s.gateway_throttle_delay_s,
            dead_letters_per_minute=s.gateway_dead_letters_per_minute,
            dead_letters_per_minute_total=s.gateway_dead_letters_per_minute_total,
            future_tolerance=timedelta(seconds=s.future_tolerance_s),
        )

    @property
    def peer_limits(self) -> PeerLimits:
        return PeerLimits(
            max_per_ip=self.max_connections_per_ip,
            max_rejections=self.max_rejections,
            window_s=self.rejection_window_s,
            throttle_delay_s=self.throttle_delay_s,
            dead_letters_per_minute=self.dead_letters_per_minute,
            dead_letters_per_minute_total=self.dead_letters_per_minute_total,
        )


@dataclass(frozen=True, slots=True)
class _Garbage:
    """Bytes outside any packet, with the framing error that describes them."""

    raw: bytes
    error: FrameError


_Item = tuple[bytes | _Garbage, datetime, str]  # packet, received at, the sender's IP


@dataclass(slots=True)
class _Connection:
    ip: str
    opened_at: float  # time.monotonic()
    identified: bool = False  # has sent a frame that was accepted


def decode_tcp_packet(
    packet: bytes | _Garbage,
    received_at: datetime,
    find_outlet: FindOutlet,
    future_tolerance: timedelta = FUTURE_TOLERANCE,
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
    if not outlet.password:
        detail = "the outlet has no PW registered; the TCP gateway accepts only outlets with one"
        return Rejected(TRANSPORT, None, received_at, packet, "no-pw", detail, outlet.mn)
    try:
        frame = parse_packet(packet, crc_policy=outlet.crc_policy)
    except HJ212Error as exc:
        return Rejected(TRANSPORT, None, received_at, packet, exc.kind, str(exc), outlet.mn)
    accepted = accept_frame(
        TRANSPORT, "", received_at, frame, outlet, future_tolerance=future_tolerance
    )
    return dataclasses.replace(accepted, topic=None)


class TcpDecoder:
    """TCP packets: each names its own outlet; garbage between them is kept as it came, within
    the dead-letter rate of the sender's IP (``peers``)."""

    def __init__(
        self, peers: Peers | None = None, future_tolerance: timedelta = FUTURE_TOLERANCE
    ) -> None:
        self.peers = peers
        self.future_tolerance = future_tolerance

    def decode(self, item: _Item, find_outlet: FindOutlet) -> Sequence[Accepted | Rejected]:
        packet, received_at, ip = item
        record = decode_tcp_packet(packet, received_at, find_outlet, self.future_tolerance)
        if self.peers is None or not isinstance(record, Rejected):
            return [record]
        raw = packet.raw if isinstance(packet, _Garbage) else packet
        key = (received_at, ip, len(raw), hash(raw))  # decided once per packet
        kept, refused = self.peers.dead_letters.keep([record], ip, time.monotonic(), item=key)
        metrics.GATEWAY_DEAD_LETTERS_DROPPED.inc(len(refused))
        return kept

    def unreadable(self, item: _Item, detail: str) -> Rejected:
        packet, received_at, _ = item
        raw = packet.raw if isinstance(packet, _Garbage) else packet
        return Rejected(TRANSPORT, None, received_at, raw, "format", detail)


class Gateway:
    """The asyncio TCP server. ``await start(host, port)`` returns the bound address."""

    def __init__(self, options: GatewayOptions) -> None:
        self.options = options
        self.peers = Peers(options.peer_limits)
        self.store = IngestStore(
            options.database_url,
            TcpDecoder(self.peers, options.future_tolerance),
            application_name="sourcewatch.gateway",
            registry_refresh_s=options.registry_refresh_s,
            retry_max_delay_s=options.retry_max_delay_s,
        )
        self._stopping = threading.Event()  # ends the store's retries when the gateway closes
        self._executor = ThreadPoolExecutor(options.db_threads, thread_name_prefix="gateway-db")
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._connections: dict[asyncio.Task[None], _Connection] = {}  # those counted as open
        self._accepted = 0
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
        ip = str(peer[0]) if isinstance(peer, tuple) and peer else "?"
        opts = self.options
        self._accepted += 1
        if self._accepted % 256 == 0:
            self.peers.prune(time.monotonic())
        if not self.peers.open(ip):
            metrics.GATEWAY_CONNECTIONS.labels("ip_limit").inc()
            log.warning(
                "refusing %s: %d connections open from %s", peer, opts.max_connections_per_ip, ip
            )
            await _close(writer)
            return
        task = asyncio.current_task()
        assert task is not None
        try:
            if self.peers.throttled(ip, time.monotonic()):
                metrics.GATEWAY_CONNECTIONS.labels("throttled").inc()
                self._tasks.add(task)  # held, not served: close() ends the wait
                try:
                    await asyncio.sleep(opts.throttle_delay_s)  # answer nothing, slowly
                finally:
                    self._tasks.discard(task)
                    await _close(writer)
                return
            if len(self._connections) >= opts.max_connections and not self._evict():
                metrics.GATEWAY_CONNECTIONS.labels("limit_exceeded").inc()
                log.warning("refusing %s: %d connections open", peer, len(self._connections))
                await _close(writer)
                return
            connection = _Connection(ip, time.monotonic())
            self._tasks.add(task)
            self._connections[task] = connection
            metrics.GATEWAY_CONNECTIONS_OPEN.inc()
            outcome = "error"
            try:
                outcome = await self._serve(reader, writer, peer, connection)
            except asyncio.CancelledError:
                outcome = "evicted" if task not in self._connections else "closed"
            except (ConnectionError, OSError) as exc:
                log.info("connection %s lost: %s", peer, exc)
            finally:
                for mn in [mn for mn, w in self._links.items() if w is writer]:
                    del self._links[mn]
                metrics.GATEWAY_CONNECTIONS_OPEN.dec()
                metrics.GATEWAY_CONNECTIONS.labels(outcome).inc()
                self._tasks.discard(task)
                self._connections.pop(task, None)
                await _close(writer)
        finally:
            self.peers.closed(ip)

    def _evict(self) -> bool:
        """Close the oldest connection that has not sent a valid frame yet (False: none)."""
        waiting = [(c.opened_at, t) for t, c in self._connections.items() if not c.identified]
        if not waiting:
            return False
        _, task = min(waiting, key=lambda w: w[0])
        del self._connections[task]  # no longer counted: the new connection takes its place
        task.cancel()
        return True

    async def _serve(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        peer: object,
        connection: _Connection,
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
            expired = "idle_timeout"
            if pending:
                timeout = max(0.0, first_at + opts.batch_max_delay_s - time.monotonic())
            else:
                timeout = opts.idle_timeout_s
                if not connection.identified:
                    left = connection.opened_at + opts.first_frame_timeout_s - time.monotonic()
                    if left < timeout:
                        timeout, expired = max(0.0, left), "first_frame_timeout"
            try:
                data = await asyncio.wait_for(reader.read(65536), timeout)
            except TimeoutError:
                if pending:
                    if not await self._flush(pending, writer, connection):
                        return await self._throttle(peer, connection)
                    pending, pending_bytes = [], 0
                    continue
                log.info("closing %s: %s", peer, expired)
                return expired
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
                pending.append((packet, now, connection.ip))
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
                    await self._flush(pending, writer, connection)
                return "closed"
            if len(pending) >= opts.batch_max_frames:
                if not await self._flush(pending, writer, connection):
                    return await self._throttle(peer, connection)
                pending, pending_bytes = [], 0

    async def _throttle(self, peer: object, connection: _Connection) -> str:
        log.warning("closing %s: too many rejected frames from %s", peer, connection.ip)
        await asyncio.sleep(self.options.throttle_delay_s)
        return "throttled"

    async def _flush(
        self, items: list[_Item], writer: asyncio.StreamWriter, connection: _Connection
    ) -> bool:
        """Store ``items`` (retrying while the database is down), then send the replies they
        call for, in order. False when the connection's IP is throttled: then nothing is
        answered (what was stored is a no-op when sent again)."""
        loop = asyncio.get_running_loop()
        written = await loop.run_in_executor(
            self._executor, self.store.store, items, self._stopping
        )
        if written is None:  # the gateway is closing: nothing committed, nothing answered
            return True
        now = time.monotonic()
        self.peers.reject(connection.ip, len(items) - len(written.accepted), now)
        if self.peers.throttled(connection.ip, now):
            return False
        if written.accepted:
            connection.identified = True
        for a in written.accepted:
            self._links[a.mn] = writer
        replies = [a.reply for a in written.accepted if a.reply is not None]
        if replies and not writer.is_closing():
            writer.write(b"".join(replies))
            await writer.drain()
            self.stats.replies += len(replies)
            metrics.GATEWAY_REPLIES.inc(len(replies))
        return True


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError, asyncio.CancelledError):
        await writer.wait_closed()


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
