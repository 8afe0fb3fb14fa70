"""The worker's MQTT connection in a process of its own: :class:`MqttProcess` offers
:class:`~ingest.mqtt.MqttTransport`'s interface to the worker while the paho client runs in a
child process (``spawn``), so that paho's parsing and dispatch (about a third of the worker's
CPU per frame) no longer share the worker's GIL with its decoding and writing threads.

- **Messages** come over a pipe in batches: the child takes what its inbox holds (at most
  :data:`FORWARD_MOST` at a time) and sends one pickled list of plain tuples per batch.
- **Orders** go the other way: acknowledgements (packet ids and the generation they arrived on,
  sent after commit as before; the child drops those of an older connection), publishes, and
  *credits*: the worker's process credits a forwarded batch once the worker has taken its last
  message. Until then its messages count in the child's inbox, so the Receive Maximum bound of
  :mod:`ingest.mqtt` spans both processes: the child stops reading the socket while more than
  RM messages are in its inbox, on the pipe or in the worker's inbox, and the worker holds, as
  before, at most RM + 1 of them and two batches.
- **Logs** of the child come over a third pipe and are handed to the worker's loggers of the
  same name (their levels when the child started decide what is sent).
- **Failures**: the child never waits on the worker (a forwarding thread sends the batches;
  paho's thread goes on sending PUBACKs and pings). If the child dies, the worker's next look
  at its inbox, acknowledgement or publish raises :class:`MqttProcessLost` and the worker stops
  with an error (the supervisor restarts it; whatever was not acknowledged is re-sent by the
  broker). If the worker's process dies, the child reads the end of its orders and disconnects
  and exits; it ignores SIGINT and SIGTERM (a terminal or a service manager signals the whole
  group): the worker stops it when it stops.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import fcntl
import logging
import logging.handlers
import multiprocessing
import pickle
import queue
import signal
import threading
from datetime import datetime
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event
from typing import Any

from ingest import mqtt_properties
from ingest.mqtt import Inbound, Inbox, MqttOptions, MqttTransport, paho_log

__all__ = ["FORWARD_MOST", "MqttProcess", "MqttProcessLost"]

log = logging.getLogger(__name__)

FORWARD_MOST = 100  # the most messages the child sends in one batch
FORWARD_GATHER_S = 0.002  # after a smaller batch, the forwarding waits this long for more
PIPE_BYTES = 1 << 20  # the messages' pipe (Linux's default maximum for a user)
_STOP_S = 10.0  # the longest stop() waits for the child to disconnect and exit
_LOGGERS = ("", "ingest.mqtt", paho_log.name, __name__)  # whose levels the child takes

_Row = tuple[str, bytes, datetime, int, int, int]  # an Inbound's fields, in order


class MqttProcessLost(RuntimeError):
    """The MQTT process ended while the worker still needed it."""


class MqttProcess:
    """Receive with manual acknowledgement and publish replies through a child process;
    :class:`~ingest.mqtt.MqttTransport`'s interface."""

    def __init__(self, options: MqttOptions) -> None:
        self.options = options
        ctx = multiprocessing.get_context("spawn")  # the worker's process has threads
        self._ctx = ctx
        self.connected: Event = ctx.Event()
        self.subscribed: Event = ctx.Event()  # set once the broker granted the subscriptions
        self._generation: Any = ctx.Value("q", 0, lock=False)  # written by the child only
        self._process: BaseProcess | None = None
        self._orders: Connection | None = None
        self._send_lock = threading.Lock()
        self._reaping = threading.Lock()
        self._stopping = False
        self._relay: threading.Thread | None = None
        self.inbox = _Received(self)

    @property
    def generation(self) -> int:
        return int(self._generation.value)

    def subscriptions(self) -> list[str]:
        group = self.options.shared_group
        return [f"$share/{group}/{t}" if group else t for t in self.options.topics]

    def start(self) -> None:
        messages_in, messages_out = self._ctx.Pipe(duplex=False)
        _widen(messages_in)
        orders_in, orders_out = self._ctx.Pipe(duplex=False)
        logs_in, logs_out = self._ctx.Pipe(duplex=False)
        levels = {name: logging.getLogger(name).getEffectiveLevel() for name in _LOGGERS}
        process = self._ctx.Process(
            target=serve,
            args=(
                self.options,
                messages_out,
                orders_in,
                logs_out,
                self.connected,
                self.subscribed,
                self._generation,
                levels,
            ),
            name=f"sourcewatch-mqtt-{self.options.client_id}",
            daemon=True,  # at exit multiprocessing sends it SIGTERM, ignored: see _stop_at_exit
        )
        process.start()
        atexit.register(self._stop_at_exit)
        for end in (messages_out, orders_in, logs_out):
            end.close()  # the child's: so that its death reads as the end of the pipes
        self._process, self._orders = process, orders_out
        self.inbox.connection = messages_in
        self._relay = threading.Thread(
            target=self._relay_logs, args=(logs_in,), name="mqtt-process-logs", daemon=True
        )
        self._relay.start()

    def stop(self) -> None:
        atexit.unregister(self._stop_at_exit)
        self._stopping = True
        process = self._process
        if process is None:
            return
        with contextlib.suppress(MqttProcessLost):  # already gone: nothing to tell it
            self._send(("stop",))
        process.join(_STOP_S)
        if process.is_alive():
            log.warning("the MQTT process did not stop within %.0f s; killed", _STOP_S)
            process.kill()
            process.join()
        if self._relay is not None:
            self._relay.join(_STOP_S)
        for conn in (self._orders, self.inbox.connection):
            if conn is not None:
                conn.close()
        self.connected.clear()
        self.subscribed.clear()

    def _stop_at_exit(self) -> None:
        """A process that exits without :meth:`stop` (an error before the worker's loop, say)
        stops the child first: multiprocessing ends a daemon child at exit with SIGTERM, which
        the child ignores, then waits for it, and the exit would wait for good."""
        self.stop()

    def ack(self, messages: list[Inbound]) -> int:
        """Acknowledge messages of the current connection (the child drops them if it has
        reconnected meanwhile); returns how many were sent to be acked."""
        current = self.generation
        mids = [m.mid for m in messages if m.qos > 0 and m.generation == current]
        if mids:
            self._send(("ack", current, mids))
        return len(mids)

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> None:
        self._send(("publish", topic, payload, qos))

    def credit(self, n: int) -> None:
        """The worker took ``n`` more forwarded messages: the child may read as many more."""
        self._send(("credit", n))

    @property
    def exitcode(self) -> int | None:
        return None if self._process is None else self._process.exitcode

    def lost(self) -> MqttProcessLost:
        """The error to raise once a pipe to the child has closed (the child has ended)."""
        self.connected.clear()
        self.subscribed.clear()
        with self._reaping:  # one thread reaps it, the other then reads its exit code
            if self._process is not None:
                self._process.join(_STOP_S)  # its pipes closed: it has ended, or is ending
            return MqttProcessLost(f"the MQTT process ended (exit code {self.exitcode})")

    def _send(self, order: tuple[Any, ...]) -> None:
        if self._orders is None:
            raise MqttProcessLost("the MQTT process was not started")
        try:
            with self._send_lock:
                self._orders.send(order)
        except OSError as e:
            raise self.lost() from e

    def _relay_logs(self, conn: Connection) -> None:
        """Hand the child's log records to this process's loggers, until the child ends."""
        while True:
            try:
                record: logging.LogRecord = conn.recv()
            except (EOFError, OSError):
                break
            logger = logging.getLogger(record.name)
            if logger.isEnabledFor(record.levelno):
                logger.handle(record)
        conn.close()
        if not self._stopping:
            log.error("%s; the worker stops", self.lost())


def _widen(conn: Connection) -> None:
    """Give the messages' pipe room for the whole Receive Maximum of typical messages (Linux:
    64 KiB by default, some 100 of them): the worker then takes a batch of what the child
    forwarded without waiting for the child to be scheduled after every 100."""
    try:
        fcntl.fcntl(conn.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    except (AttributeError, OSError):  # not Linux, or above /proc/sys/fs/pipe-max-size
        log.debug("the messages' pipe keeps its default size")


class _Received:
    """The worker's inbox: the batches the child forwards, taken one message at a time
    (``queue.Queue``'s ``get`` and ``get_nowait``, raising ``queue.Empty``) by one thread."""

    def __init__(self, transport: MqttProcess) -> None:
        self.transport = transport
        self.connection: Connection | None = None
        self._items: collections.deque[Inbound] = collections.deque()
        self._batch = 0  # the size of the batch being taken

    def get(self, block: bool = True, timeout: float | None = None) -> Inbound:
        if not self._items:
            self._receive(timeout if block else 0.0)
        item = self._items.popleft()
        if not self._items:
            self.transport.credit(self._batch)
        return item

    def get_nowait(self) -> Inbound:
        return self.get(block=False)

    def _receive(self, timeout: float | None) -> None:
        conn = self.connection
        if conn is None:
            raise MqttProcessLost("the MQTT process was not started")
        try:
            if not conn.poll(timeout):
                raise queue.Empty
            rows: list[_Row] = pickle.loads(conn.recv_bytes())
        except (EOFError, OSError) as e:
            raise self.transport.lost() from e
        self._items.extend(Inbound(*row) for row in rows)
        self._batch = len(rows)


# The child ----------------------------------------------------------------------------------


class _Child(MqttTransport):
    """The transport as it runs in the child: its state flags and generation shared with
    the worker's process."""

    def __init__(
        self, options: MqttOptions, connected: Event, subscribed: Event, generation: Any
    ) -> None:
        super().__init__(options)
        self.connected = connected  # type: ignore[assignment]
        self.subscribed = subscribed  # type: ignore[assignment]
        self._shared_generation = generation

    def _on_connect(self, *args: Any) -> None:
        super()._on_connect(*args)
        self._shared_generation.value = self.generation

    def _on_disconnect(self, *args: Any) -> None:
        super()._on_disconnect(*args)
        self._shared_generation.value = self.generation


class _Sender:
    """A ``QueueHandler``'s queue that is a pipe."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def put_nowait(self, record: logging.LogRecord) -> None:
        try:
            self.conn.send(record)
        except OSError:
            pass  # the worker's process is gone: the child is about to notice


def serve(
    options: MqttOptions,
    messages: Connection,
    orders: Connection,
    logs: Connection,
    connected: Event,
    subscribed: Event,
    generation: Any,
    levels: dict[str, int],
) -> None:
    """The child: connect, forward messages, carry out orders until told to stop or the
    worker's process is gone."""
    for signum in (signal.SIGINT, signal.SIGTERM):  # sent to the group: the worker decides
        signal.signal(signum, signal.SIG_IGN)
    root = logging.getLogger()
    root.handlers = [logging.handlers.QueueHandler(_Sender(logs))]  # type: ignore[arg-type]
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
    mqtt_properties.install()  # only the worker's client runs here
    transport = _Child(options, connected, subscribed, generation)
    inbox = transport.inbox
    done = threading.Event()
    forwarding = threading.Thread(
        target=_forward, args=(inbox, messages, done), name="mqtt-forward", daemon=True
    )
    transport.start()
    forwarding.start()
    try:
        while True:
            try:
                order = orders.recv()
            except (EOFError, OSError):
                log.warning("the worker's process is gone; the MQTT process disconnects")
                break
            kind = order[0]
            if kind == "credit":
                inbox.release(order[1])
            elif kind == "ack":
                transport.ack_ids(order[1], order[2])
            elif kind == "publish":
                transport.publish(order[1], order[2], order[3])
            else:  # "stop"
                break
    finally:
        done.set()
        transport.stop()


def _forward(inbox: Inbox, messages: Connection, done: threading.Event) -> None:
    """Send the inbox's messages to the worker's process in batches, as they come."""
    while not done.is_set():
        batch = inbox.take_away(FORWARD_MOST, 0.2)
        if not batch:
            continue
        rows = [(m.topic, m.payload, m.received_at, m.mid, m.qos, m.generation) for m in batch]
        try:
            messages.send_bytes(pickle.dumps(rows, protocol=pickle.HIGHEST_PROTOCOL))
        except OSError:
            return  # the worker's process is gone; the orders' end says so
        if len(batch) < FORWARD_MOST:
            done.wait(FORWARD_GATHER_S)  # let more come than one per wake-up under load
