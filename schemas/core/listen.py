"""The LISTEN loop of the long-running workers (the evaluator, the publisher, the notification
dispatcher), and the pieces the API's asynchronous listener shares with it.

:class:`Listener` keeps two connections: one that only LISTENs, and one that ``wake`` works on.
It calls ``wake(conn, notifications)`` once right after (re)connecting, then whenever
notifications arrive, and after ``wait_s`` without any (the periodic sweep; ``notifications``
is then empty). A lost connection (``psycopg.OperationalError``) is logged and both are
reopened after a back-off that grows with each failure in a row; so is any other error ``wake``
raises (a bug must not stop a worker for good). :attr:`Listener.connected` tells readiness.

Nothing committed is missed: LISTEN is in effect before the first ``wake`` reads anything, so a
notification sent after that read waits on the listening connection and ends the next wait at
once; notifications that arrive while ``wake`` runs wait there likewise. After a reconnect the
first ``wake`` finds whatever was committed while the connection was down.
"""

from __future__ import annotations

import logging
import multiprocessing.synchronize
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import psycopg
from psycopg import Notify, sql

from schemas.core.db import connect

__all__ = [
    "KEEPALIVES",
    "Backoff",
    "ConnectionFactory",
    "Flag",
    "Listener",
    "Wake",
    "listen_statement",
]

log = logging.getLogger(__name__)

ConnectionFactory = Callable[[], psycopg.Connection[Any]]
Wake = Callable[[psycopg.Connection[Any], Sequence[Notify]], None]
Flag = threading.Event | multiprocessing.synchronize.Event
"""Where a listener tells it is connected: its own, or one another process reads."""

KEEPALIVES: dict[str, Any] = {
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
}
"""libpq TCP keepalives for a listening connection: it only reads, so without them a peer that
vanished without closing the socket (a dropped NAT entry, a failed-over host) goes unnoticed."""


@dataclass(frozen=True, slots=True)
class Backoff:
    """How long to wait before reconnecting after ``failures`` failures in a row:
    ``first_s``, then twice as long each time, at most ``max_s``."""

    first_s: float = 1.0
    max_s: float = 30.0

    def delay(self, failures: int) -> float:
        return min(self.first_s * 2.0 ** max(failures - 1, 0), self.max_s)


def listen_statement(channels: Iterable[str]) -> sql.Composed:
    """``LISTEN a; LISTEN b`` with the channel names quoted as identifiers."""
    return sql.SQL("; ").join(sql.SQL("LISTEN {}").format(sql.Identifier(c)) for c in channels)


class Listener:
    """LISTENs on ``channels`` and calls ``wake`` on a second connection (both autocommit).

    ``listen`` and ``work`` each open a new connection per call; :meth:`for_database` builds
    them from a database URL. ``name`` labels the log lines;
    ``connected`` is the flag :attr:`connected` reads (one of another process's, if given).
    """

    def __init__(
        self,
        channels: Sequence[str],
        *,
        listen: ConnectionFactory,
        work: ConnectionFactory,
        wait_s: float,
        name: str,
        backoff: Backoff = Backoff(),
        poll_s: float = 0.5,
        connected: Flag | None = None,
    ) -> None:
        self.channels = tuple(channels)
        self.wait_s = wait_s
        self.name = name
        self.backoff = backoff
        self.poll_s = poll_s  # how often a wait looks at the stop event
        self._listen = listen
        self._work = work
        self._connected = connected if connected is not None else threading.Event()

    @classmethod
    def for_database(
        cls,
        conninfo: str,
        channels: Sequence[str],
        *,
        application_name: str,
        wait_s: float,
        name: str,
        backoff: Backoff = Backoff(),
        connected: Flag | None = None,
    ) -> Listener:
        """Connections to ``conninfo``: ``application_name`` works, ``<application_name>.listen``
        listens."""
        return cls(
            channels,
            listen=partial(
                connect,
                conninfo,
                application_name=f"{application_name}.listen",
                autocommit=True,
                **KEEPALIVES,
            ),
            work=partial(connect, conninfo, application_name=application_name, autocommit=True),
            wait_s=wait_s,
            name=name,
            backoff=backoff,
            connected=connected,
        )

    @property
    def connected(self) -> bool:
        """Both connections are open and LISTEN is in effect (readiness)."""
        return self._connected.is_set()

    def run(self, stop: threading.Event, wake: Wake) -> None:
        """Listen and wake until ``stop`` is set."""
        failures = 0
        while not stop.is_set():
            try:
                with self._listen() as listening, self._work() as conn:
                    for c in (listening, conn):
                        if not c.autocommit:
                            c.autocommit = True
                    listening.execute(listen_statement(self.channels))  # before the first wake
                    self._connected.set()
                    try:
                        notes: Sequence[Notify] = ()
                        while not stop.is_set():
                            wake(conn, notes)
                            failures = 0
                            notes = self._wait(listening, stop)
                    finally:
                        self._connected.clear()
            except psycopg.OperationalError as exc:
                failures += 1
                delay = self.backoff.delay(failures)
                log.warning(
                    "%s: database unavailable (%s); reconnecting in %g s", self.name, exc, delay
                )
                stop.wait(delay)
            except Exception:  # a bug or a bad row: never stop the worker for good
                failures += 1
                delay = self.backoff.delay(failures)
                log.exception("%s failed; starting over in %g s", self.name, delay)
                stop.wait(delay)

    def _wait(self, conn: psycopg.Connection[Any], stop: threading.Event) -> list[Notify]:
        """The notifications that end the wait (all that are already there), or none after
        ``wait_s`` or when stopped."""
        deadline = time.monotonic() + self.wait_s
        while not stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            notes = list(conn.notifies(timeout=min(remaining, self.poll_s), stop_after=1))
            if notes:
                notes.extend(conn.notifies(timeout=0))
                return notes
        return []
