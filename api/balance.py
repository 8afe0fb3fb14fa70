"""Least-connections accept for the API's worker processes.

uvicorn's workers share one listening socket, and whichever worker's event loop runs first
after a connection arrives accepts it (asyncio accepts every pending connection at each
wake-up). Keep-alive clients therefore land on the workers at random: four connections on two
workers split 3 to 1 or 4 to 0 about as often as 2 to 2, and then one core does most of the
work (bench/README.md, eighth to tenth rounds).

Here each worker's event loop (:class:`BalancedLoop`, uvicorn's custom loop) accepts on the
shared socket itself, one connection at a time, and keeps its count of open connections in a
table in shared memory (:class:`Board`, a seat per worker process). A worker that holds more
connections than another live worker does not accept at once: it stops watching the socket
until it holds no more than the others (the one with fewer took the connection), or for at
most :data:`ACCEPT_DEFER_S`, then accepts what is still pending, so a connection waits at most
that long when the other worker is slow to wake. uvicorn's supervisor is unchanged (start,
graceful stop, a dead worker restarted: the new process takes the dead one's seat, found dead
by its pid; a worker that stops accepting leaves its seat).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import multiprocessing
import os
import socket
import ssl
from collections.abc import Callable
from typing import Any

import uvicorn

__all__ = ["ACCEPT_DEFER_S", "BalancedLoop", "Board", "Seat", "WorkersConfig"]

logger = logging.getLogger(__name__)

# How long at most a worker holding more connections than another leaves a new connection to
# it. The other's event loop wakes within a GIL switch interval (5 ms) even while a request
# thread computes, so on an idle machine this is not waited in full; on a loaded one the other
# process may wait longer for a core: 20 ms was too short at a load average of 6, and 50 ms
# when connections came while both workers computed pages on a machine shared with other work
# (a 3-to-1 split of four keep-alive connections in 4 of 16 trials at load 1.3–5.5; none in 16 at
# 250 ms: bench/README.md, twelfth round). It bounds what a connection waits when the other
# worker is stuck, or dead and not yet reaped.
ACCEPT_DEFER_S = 0.25
# How often a deferring worker looks whether it still holds more than another (once another
# took the connection, it accepts again at once).
_RECHECK_S = 0.002
SEATS = 64  # worker processes a board can hold (uvicorn adds one on SIGTTIN)
_BURST = 100  # connections accepted at one wake-up at most, as asyncio's backlog
_RESOURCE_ERRORS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Board:
    """Open connections per worker process, in shared memory: seat ``i`` holds a worker's pid
    (0 when free) and its count. Built by the supervisor, given to the workers when they are
    spawned (it pickles only then)."""

    def __init__(self, seats: int = SEATS) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._pids = ctx.RawArray("i", seats)
        self._counts = ctx.RawArray("i", seats)
        self._lock = ctx.Lock()

    def take_seat(self, pid: int | None = None) -> Seat | None:
        """A free seat, or a dead worker's, for this process; None when all are taken."""
        pid = os.getpid() if pid is None else pid
        with self._lock:
            for i, holder in enumerate(self._pids):
                if holder == 0 or (holder != pid and not _alive(holder)):
                    self._counts[i] = 0
                    self._pids[i] = pid
                    return Seat(self, i)
        return None

    def _busier_than_another(self, i: int) -> bool:
        """Whether seat ``i`` holds more connections than another live worker's seat."""
        mine = self._counts[i]
        if mine == 0:
            return False
        for j, count in enumerate(self._counts):
            if count < mine and j != i:
                holder = self._pids[j]
                if holder and _alive(holder):
                    return True
        return False


class Seat:
    """One worker's place on the board: only its owner writes it."""

    def __init__(self, board: Board, index: int) -> None:
        self._board = board
        self.index = index

    def set(self, count: int) -> None:
        self._board._counts[self.index] = count

    def busier_than_another(self) -> bool:
        return self._board._busier_than_another(self.index)

    def leave(self) -> None:
        """No longer accepting: others stop leaving connections to this worker."""
        self._board._counts[self.index] = 0
        self._board._pids[self.index] = 0


class _Counted(asyncio.Protocol):
    """The server's protocol of one connection, counting it off when it is lost."""

    def __init__(self, inner: asyncio.Protocol, lost: Callable[[], None]) -> None:
        self._inner = inner
        self._lost = lost

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        try:
            self._inner.connection_lost(exc)
        finally:
            self._lost()


class _Listener(asyncio.AbstractServer):
    """Accepts on a listening socket shared with other worker processes, leaving a connection
    to a worker that holds fewer (see the module's docstring)."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        protocol_factory: Callable[[], asyncio.Protocol],
        seat: Seat,
        ssl_context: ssl.SSLContext | None,
        defer_s: float,
    ) -> None:
        self._loop = loop
        self._sock = sock
        self._fd = sock.fileno()
        self._factory = protocol_factory
        self._seat = seat
        self._ssl = ssl_context
        self._defer_s = defer_s
        self._open = 0  # connections accepted and not yet lost
        self._timer: asyncio.TimerHandle | None = None
        self._deferred_until = 0.0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._serving = False
        self._closed = False
        sock.setblocking(False)

    # asyncio.AbstractServer
    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._serving:
            self._serving = False
            self._loop.remove_reader(self._fd)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._seat.leave()  # the seat may be another process's from now on
        self._sock.close()

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def is_serving(self) -> bool:
        return self._serving

    async def start_serving(self) -> None:
        if not self._serving and not self._closed:
            self._serving = True
            self._loop.add_reader(self._fd, self._readable)

    async def serve_forever(self) -> None:
        await self.start_serving()
        await asyncio.Future()

    async def wait_closed(self) -> None:
        return None  # connections are the protocol's: uvicorn waits for them itself

    # accepting
    def _readable(self) -> None:
        for _ in range(_BURST):
            if self._seat.busier_than_another():
                self._defer()
                return
            if not self._accept():
                return

    def _defer(self) -> None:
        """Stop watching the socket, leaving what is pending to the others, until this worker
        holds no more than any other (looked at every :data:`_RECHECK_S`) or for at most
        ``defer_s``, then accept one connection if one is still pending."""
        self._loop.remove_reader(self._fd)
        self._deferred_until = self._loop.time() + self._defer_s
        self._timer = self._loop.call_later(_RECHECK_S, self._recheck)

    def _recheck(self) -> None:
        self._timer = None
        if not self._serving:
            return
        if self._seat.busier_than_another():
            left = self._deferred_until - self._loop.time()
            if left > 0:
                self._timer = self._loop.call_later(min(_RECHECK_S, left), self._recheck)
                return
            self._accept()  # the others had their chance
        if self._timer is None:  # (else _accept paused after a resource error)
            self._loop.add_reader(self._fd, self._readable)

    def _resume(self) -> None:
        self._timer = None
        if self._serving:
            self._loop.add_reader(self._fd, self._readable)

    def _accept(self) -> bool:
        """Accept one pending connection; False when there is none (or no more for now)."""
        try:
            conn, _ = self._sock.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return False
        except OSError as exc:
            if exc.errno not in _RESOURCE_ERRORS:
                raise
            # as asyncio does: out of descriptors or memory, try again in a second
            logger.error("accept failed (%s): not accepting for 1 s", exc)
            self._loop.remove_reader(self._fd)
            self._timer = self._loop.call_later(1.0, self._resume)
            return False
        conn.setblocking(False)
        self._counted(+1)
        task = self._loop.create_task(self._connect(conn))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def _connect(self, conn: socket.socket) -> None:
        try:
            await self._loop.connect_accepted_socket(
                lambda: _Counted(self._factory(), self._lost), conn, ssl=self._ssl
            )
        except Exception:
            conn.close()
            self._lost()
            logger.exception("could not set up an accepted connection")

    def _lost(self) -> None:
        self._counted(-1)

    def _counted(self, change: int) -> None:
        self._open += change
        if not self._closed:
            self._seat.set(self._open)


class BalancedLoop(asyncio.SelectorEventLoop):
    """asyncio's event loop whose ``create_server(sock=…)`` accepts as :class:`_Listener`
    does, seated on ``board``; anything else as asyncio's."""

    def __init__(self, board: Board, defer_s: float = ACCEPT_DEFER_S) -> None:
        super().__init__()
        self._board = board
        self._defer_s = defer_s

    async def create_server(  # type: ignore[override]
        self,
        protocol_factory: Callable[[], asyncio.Protocol],
        host: Any = None,
        port: Any = None,
        **kwargs: Any,
    ) -> asyncio.AbstractServer:
        sock: socket.socket | None = kwargs.get("sock")
        seat = self._board.take_seat() if sock is not None and host is None else None
        if sock is None or seat is None:
            return await super().create_server(protocol_factory, host, port, **kwargs)
        sock.listen(kwargs.get("backlog", 100))
        listener = _Listener(self, sock, protocol_factory, seat, kwargs.get("ssl"), self._defer_s)
        if kwargs.get("start_serving", True):
            await listener.start_serving()
        return listener


class WorkersConfig(uvicorn.Config):
    """uvicorn's configuration of the worker processes, whose event loops accept in turn
    (:class:`BalancedLoop`) on ``board``; it travels to each worker with the configuration
    when uvicorn spawns it. It lives here, not beside the app: unpickling it in a new worker
    imports this module only, before the worker answers its supervisor's health checks (the
    app is imported after, while they are answered; a worker slow to answer is killed)."""

    def __init__(self, *args: Any, board: Board, defer_s: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.board = board
        self.defer_s = defer_s

    def get_loop_factory(self) -> Callable[[], asyncio.AbstractEventLoop] | None:
        board, defer_s = self.board, self.defer_s
        return lambda: BalancedLoop(board, defer_s)
