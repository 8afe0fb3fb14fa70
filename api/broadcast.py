"""One LISTEN connection per API process, fanned out to the clients of live streams.

A :class:`Broadcast` holds one asynchronous connection that LISTENs on one channel. It is opened
when the first client subscribes, reopened after a back-off when it is lost, and closed in the
app's lifespan. Each notification's payload goes to every :class:`Subscription`, a bounded
queue: the listener never waits for a client. A client that falls more than ``queue_max``
payloads behind is dropped (:class:`Overflow`); it resumes where it was with ``Last-Event-ID``.

Notifications sent while the connection is down are lost, so after every (re)connect each
subscription is told to ``resync``: its client reads what it missed from the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections import deque
from dataclasses import dataclass

import psycopg

from schemas.core.listen import KEEPALIVES, Backoff, listen_statement

__all__ = ["Broadcast", "Delivery", "Overflow", "Subscription"]

log = logging.getLogger(__name__)


class Overflow(Exception):
    """The client fell too far behind and was dropped."""


@dataclass(frozen=True, slots=True)
class Delivery:
    payloads: list[str]  # in the order they were notified
    resync: bool  # the listener (re)connected since: read what was committed meanwhile


class Subscription:
    """One client's queue of payloads; :meth:`close` it when the client goes."""

    def __init__(self, broadcast: Broadcast, queue_max: int) -> None:
        self._broadcast = broadcast
        self._queue_max = queue_max
        self._payloads: deque[str] = deque()
        self._resync = False
        self._ready = asyncio.Event()
        self.overflowed = False

    def push(self, payload: str) -> None:
        if self.overflowed:
            return
        if len(self._payloads) >= self._queue_max:
            self.overflowed = True
            self._payloads.clear()
        else:
            self._payloads.append(payload)
        self._ready.set()

    def resync(self) -> None:
        self._resync = True
        self._ready.set()

    async def next(self, timeout_s: float) -> Delivery | None:
        """What arrived since the previous call, waiting up to ``timeout_s`` for something
        (``None`` if nothing came). Raises :class:`Overflow` once the queue overflowed."""
        if not self._ready.is_set():
            try:
                await asyncio.wait_for(self._ready.wait(), timeout_s)
            except TimeoutError:
                return None
        if self.overflowed:
            raise Overflow(f"more than {self._queue_max} notifications behind")
        self._ready.clear()
        payloads, self._payloads = list(self._payloads), deque()
        resync, self._resync = self._resync, False
        return Delivery(payloads, resync)

    def close(self) -> None:
        self._broadcast.unsubscribe(self)


class Broadcast:
    """Fans the notifications of ``channel`` out to subscriptions, over one connection."""

    def __init__(
        self,
        conninfo: str,
        channel: str,
        *,
        application_name: str,
        queue_max: int = 1000,
        backoff: Backoff | None = None,
    ) -> None:
        self.conninfo = conninfo
        self.channel = channel
        self.application_name = application_name
        self.queue_max = queue_max
        self.backoff = backoff or Backoff()
        self.connected = False
        # weak: a subscription whose stream never ran (and never closed it) goes with it
        self._subscriptions: weakref.WeakSet[Subscription] = weakref.WeakSet()
        self._task: asyncio.Task[None] | None = None

    def subscribe(self) -> Subscription:
        """A new subscription, receiving from now on; starts the listener if needed."""
        subscription = Subscription(self, self.queue_max)
        self._subscriptions.add(subscription)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._listen(), name=f"listen {self.channel}"
            )
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)

    @property
    def subscribers(self) -> int:
        return len(self._subscriptions)

    async def close(self) -> None:
        """Stop listening (the app's lifespan, at shutdown)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _listen(self) -> None:
        failures = 0
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self.conninfo,
                    autocommit=True,
                    application_name=self.application_name,
                    connect_timeout=10,
                    **KEEPALIVES,
                ) as conn:
                    await conn.execute(listen_statement([self.channel]))
                    failures = 0
                    await self._fan_out(conn)
            except psycopg.OperationalError as exc:
                failures += 1
                delay = self.backoff.delay(failures)
                log.warning(
                    "listening on %s: database unavailable (%s); reconnecting in %g s",
                    self.channel,
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)
            except Exception:  # a bug: log it, never stop listening for good
                failures += 1
                delay = self.backoff.delay(failures)
                log.exception("listening on %s failed; starting over in %g s", self.channel, delay)
                await asyncio.sleep(delay)

    async def _fan_out(self, conn: psycopg.AsyncConnection) -> None:
        """Hand every notification to every subscription, for as long as ``conn`` lasts."""
        self.connected = True
        try:
            for subscription in list(self._subscriptions):
                subscription.resync()
            async for note in conn.notifies():
                for subscription in list(self._subscriptions):
                    subscription.push(note.payload)
        finally:
            self.connected = False
