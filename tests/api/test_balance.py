"""The workers' least-connections accept (api/balance.py): the board's seats and decisions, and
one listener leaving a connection to a worker that holds fewer."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
from collections.abc import Callable
from typing import Any

from api.balance import BalancedLoop, Board


def _dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()  # reaped: no such process any more
    return child.pid


def test_each_process_takes_its_own_seat_and_a_dead_ones() -> None:
    board = Board(seats=3)
    first = board.take_seat(pid=os.getpid())
    second = board.take_seat(pid=os.getppid())
    assert first is not None and second is not None
    assert first.index != second.index
    dead = board.take_seat(pid=_dead_pid())
    assert dead is not None
    # the board is full, but one holder is dead: its seat is taken over, count and all
    dead.set(7)
    again = board.take_seat(pid=os.getpid())
    assert again is not None and again.index == dead.index
    assert not again.busier_than_another()
    assert board.take_seat(pid=os.getpid()) is None  # full, every holder alive


def test_a_worker_defers_only_to_a_live_worker_holding_fewer() -> None:
    board = Board(seats=4)
    mine = board.take_seat(pid=os.getpid())
    other = board.take_seat(pid=os.getppid())
    assert mine is not None and other is not None
    assert not mine.busier_than_another()  # 0 and 0
    mine.set(1)
    assert mine.busier_than_another()  # 1 against 0
    other.set(1)
    assert not mine.busier_than_another()  # a tie: either may accept
    other.set(3)
    assert not mine.busier_than_another()
    assert other.busier_than_another()
    mine.leave()  # a worker that stopped accepting is no longer deferred to
    assert not other.busier_than_another()
    gone = board.take_seat(pid=_dead_pid())
    assert gone is not None
    assert not other.busier_than_another()  # a dead worker's 0 neither


async def _until(condition: Callable[[], bool], what: str) -> None:
    for _ in range(2000):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError(what)


def test_a_listener_leaves_a_connection_to_a_worker_with_fewer_then_takes_it() -> None:
    """Our worker holds one connection, the other none: the next connection is left pending
    (the listener stops watching the socket) until the other takes it, or, as here where the
    other is not a real worker, until the deferral ends and ours takes it after all."""
    board = Board(seats=2)
    other = board.take_seat(pid=os.getppid())  # a live process that holds no connection
    assert other is not None
    listening = socket.create_server(("127.0.0.1", 0))
    port = listening.getsockname()[1]
    loop = BalancedLoop(board, defer_s=3600.0)
    accepted: list[asyncio.Transport] = []

    class Echo(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            accepted.append(transport)  # type: ignore[arg-type]

    async def scenario() -> None:
        server = await loop.create_server(Echo, sock=listening)
        listener = server
        clients = [socket.create_connection(("127.0.0.1", port))]
        await _until(lambda: len(accepted) == 1, "the first connection was not accepted")
        assert board._counts[1 - other.index] == 1
        clients.append(socket.create_connection(("127.0.0.1", port)))
        await _until(lambda: listener._timer is not None, "the second was not left")  # type: ignore[attr-defined]
        assert len(accepted) == 1
        # the deferral ends (as after defer_s): ours accepts what is still pending
        listener._deferred_until = 0.0  # type: ignore[attr-defined]
        await _until(lambda: len(accepted) == 2, "the second was not taken after all")
        # another worker that takes a connection ends the deferral at once
        other.set(0)
        clients.append(socket.create_connection(("127.0.0.1", port)))
        await _until(lambda: listener._timer is not None, "the third was not left")  # type: ignore[attr-defined]
        assert len(accepted) == 2
        other.set(2)
        await _until(lambda: len(accepted) == 3, "the third was not taken")
        # a connection closed is counted off
        accepted[0].close()
        await _until(lambda: board._counts[1 - other.index] == 2, "not counted off")
        server.close()
        await server.wait_closed()
        assert board._pids[1 - other.index] == 0  # the seat is free again
        for c in clients:
            c.close()
        for t in accepted[1:]:
            t.close()
        await asyncio.sleep(0)

    try:
        loop.run_until_complete(scenario())
    finally:
        loop.close()
        listening.close()


def _served_as_asyncio_does(board: Board, **where: Any) -> None:
    loop = BalancedLoop(board)

    async def scenario() -> None:
        server = await loop.create_server(asyncio.Protocol, **where)
        assert isinstance(server, asyncio.Server)
        server.close()
        await server.wait_closed()

    try:
        loop.run_until_complete(scenario())
    finally:
        loop.close()


def test_anything_but_a_shared_socket_is_served_as_asyncio_does() -> None:
    _served_as_asyncio_does(Board(seats=1), host="127.0.0.1", port=0)


def test_a_full_board_leaves_the_socket_to_asyncio() -> None:
    board = Board(seats=1)
    assert board.take_seat(pid=os.getppid()) is not None
    with socket.create_server(("127.0.0.1", 0)) as listening:
        _served_as_asyncio_does(board, sock=listening)
