"""The MQTT side of ingest: a paho-mqtt 2 client that hands messages to the worker's inbox and
acknowledges them only when told to (after their rows are committed).

- MQTT 5, persistent session (clean start off, session expiry), QoS 1 subscriptions,
  optional shared subscription ``$share/<group>/…`` so that N workers split the load.
- Receive Maximum (RM) asks the broker to push at most that many unacknowledged messages. Not
  every broker keeps to it: Mosquitto before 2.0.13 (Debian 12 ships 2.0.11) lets up to RM more
  into flight on each PUBACK of a message that is not the newest in flight (it counts the
  messages sent *before* the acknowledged one, not all of them; eclipse/mosquitto#2306), so a
  worker acknowledging in order is pushed its session's whole queue; Aedes 2.0 (the embedded
  fallback) keeps to it in its live deliveries (``sourcewatch/broker/broker.mjs`` holds them)
  but sends a session's stored queue at once when the worker connects. The worker says so in a
  warning, once per connection. The bound is kept here in any case: paho's network thread
  stops *reading* the socket while the inbox holds more than RM messages (TCP then holds the
  rest at the broker) and reads again once the worker has taken some. A broker that keeps to
  RM never makes it pause, so the SUBACK or PINGRESP behind RM messages is read even before the
  worker takes any. The thread never waits on the worker otherwise: handing a message over
  does not block, and while reading is paused it still sends, within :data:`READ_PAUSE_S`, the
  PUBACKs queued by :meth:`MqttTransport.ack` and paho's PINGREQs. The socket is read ahead (up
  to :data:`READ_AHEAD_BYTES` a ``recv``, see ``_Client``), but only parsed messages reach the
  inbox, and a packet is parsed only while it has room. One read takes one packet, or
  as many as this client has QoS 1 messages of its own awaiting the broker's PUBACK (the 9014
  replies): the inbox may pass RM + 1 by that many. So the worker holds at most RM + 1 messages
  in its inbox and two batches in hand (one being written, the next one collected and decoded
  in the middle of that write); with a broker that keeps to RM, at most RM in all. The service runs this client in
  a process of its own (:mod:`ingest.mqtt_process`): the inbox then goes on through a pipe into
  the worker's process, and what was forwarded counts until the worker has taken it. Only the
  current connection's messages count: when a connection is lost, what the worker has not
  taken yet is set aside (:meth:`Inbox.set_aside`), because the next connection's CONNACK and
  PINGRESPs must be read while the worker, its writes stalled by a database outage say, still
  holds them; otherwise paho closes that connection at every keep-alive until the writes
  resume. The broker re-sends those messages on the new connection, so each connection lost
  while the worker is stalled adds at most RM + 1 held messages, written again idempotently.
- Keep-alive: paho 2.2 sends a PINGREQ every keep-alive period however busy the connection. The
  broker queues the PINGRESP behind what it already pushed: with a broker that pushes past RM,
  behind all of that, minutes late. paho re-sends the PINGREQ while bytes keep arriving, but a
  check that falls between its reading the time and renewing the ping closes the connection
  ("Keep alive timeout"); the session is then resumed (nothing is lost; see below).
  Only a broker that keeps to RM avoids this (bench/README.md, "Sixth round: the worker's MQTT
  flow control").
- Every message carries the connection *generation* it arrived on. After a reconnect the
  broker re-sends whatever was not acknowledged, with packet ids that are only meaningful on
  the new connection; acknowledgements for an older generation are therefore dropped (the
  re-sent copy is written again, idempotently, and acknowledged then).
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from ingest.settings import IngestSettings
from schemas.core.brokers import broker_address

__all__ = [
    "READ_AHEAD_BYTES",
    "READ_PAUSE_S",
    "Inbound",
    "Inbox",
    "MqttOptions",
    "MqttTransport",
    "Transport",
]

log = logging.getLogger(__name__)
# paho's own log (every packet at DEBUG), passed on only when someone listens at DEBUG.
paho_log = logging.getLogger(f"{__name__}.paho")

READ_PAUSE_S = 0.05  # the longest the network thread waits for room in the inbox per loop
READ_AHEAD_BYTES = 1 << 16  # the most one read of the socket takes


@dataclass(frozen=True, slots=True)
class Inbound:
    topic: str
    payload: bytes
    received_at: datetime
    mid: int
    qos: int
    generation: int


@dataclass(frozen=True, slots=True)
class MqttOptions:
    url: str
    client_id: str
    topics: tuple[str, ...]
    shared_group: str
    receive_maximum: int
    session_expiry_s: int
    keepalive_s: int = 30

    @classmethod
    def from_settings(cls, s: IngestSettings, topics: tuple[str, ...]) -> MqttOptions:
        return cls(
            url=s.broker,
            client_id=s.mqtt_client_id,
            topics=topics,
            shared_group=s.mqtt_shared_group,
            receive_maximum=s.mqtt_receive_maximum,
            session_expiry_s=s.mqtt_session_expiry_s,
        )


class Inbox(queue.Queue[Inbound]):
    """The worker's inbox; unbounded in count (the reading bounds it). Messages taken with
    :meth:`take_away` still count until :meth:`release`d: in a process of its own
    (:mod:`ingest.mqtt_process`) the inbox goes on in the worker's process.

    Messages of a lost connection (:meth:`set_aside`) no longer count: the broker re-sends
    them on the next connection, whose CONNACK, SUBACK and PINGRESPs must be read while the
    worker still holds the old ones (with its writes stalled, say). They are the oldest, so
    they leave first, whether taken with ``get`` or released."""

    def __init__(self) -> None:
        super().__init__()
        self.away = 0  # taken with take_away, not yet released
        self.aside = 0  # of those waiting or away, how many came on a lost connection

    def wait_for_room(self, limit: int, timeout: float) -> bool:
        """Whether at most ``limit`` messages of the current connection wait, within
        ``timeout`` (woken by a ``get`` or a release)."""
        with self.not_full:
            return self.not_full.wait_for(
                lambda: self._qsize() + self.away - self.aside <= limit, timeout
            )

    def set_aside(self) -> None:
        """The connection that brought every message waiting or away is lost."""
        with self.not_full:
            self.aside = self._qsize() + self.away
            self.not_full.notify_all()

    def _get(self) -> Inbound:  # queue.Queue's hook for get, under its lock
        self.aside = max(0, self.aside - 1)
        return super()._get()

    def take_away(self, most: int, timeout: float) -> list[Inbound]:
        """Up to ``most`` messages, waiting at most ``timeout`` for a first one; they count
        as waiting until released."""
        with self.not_empty:
            if not self.not_empty.wait_for(self._qsize, timeout):
                return []
            move = super()._get  # moved, not gone: still counted, aside or not, as before
            taken = [move() for _ in range(min(most, self._qsize()))]
            self.away += len(taken)
            return taken

    def release(self, n: int) -> None:
        """``n`` messages taken away were taken from the inbox's far end."""
        with self.not_full:
            self.away -= n
            self.aside = max(0, self.aside - n)
            self.not_full.notify_all()


class Transport(Protocol):
    """What the worker and the service use of an MQTT connection: :class:`MqttTransport` in
    the worker's process, or :class:`ingest.mqtt_process.MqttProcess` in a child process."""

    options: MqttOptions

    @property
    def inbox(self) -> Taking: ...
    @property
    def connected(self) -> Flag: ...
    @property
    def subscribed(self) -> Flag: ...
    @property
    def generation(self) -> int: ...
    def start(self) -> None: ...
    def stop(self) -> None: ...
    def ack(self, messages: list[Inbound]) -> int: ...
    def publish(self, topic: str, payload: bytes, qos: int = 1) -> None: ...
    def subscriptions(self) -> list[str]: ...


class Taking(Protocol):
    """An inbox as the worker takes from it (``queue.Queue``'s ``get``)."""

    def get(self, block: bool = True, timeout: float | None = None) -> Inbound: ...
    def get_nowait(self) -> Inbound: ...


class Flag(Protocol):
    """A state the transport sets (a ``threading.Event`` or a ``multiprocessing`` one)."""

    def is_set(self) -> bool: ...
    def wait(self, timeout: float | None = None) -> bool: ...


def _how(flags: mqtt.DisconnectFlags, reason: ReasonCode) -> str:
    """How a connection was lost, as paho tells: "Unspecified error" without a DISCONNECT is
    a socket closed under the client (by the broker, which does so after 1.5 keep-alives
    without a packet from the client, or by the network), not paho's own keep-alive check."""
    if flags.is_disconnect_packet_from_server:
        return "the broker's DISCONNECT"
    if reason == "Keep alive timeout":
        return "no keep-alive answer in time: closed here"
    return "the socket closed without a DISCONNECT"


class _Client(mqtt.Client):
    """paho's client, leaving the socket unread while ``inbox`` holds more than ``limit``, and
    reading the socket ahead.

    paho's network loop calls :meth:`loop_read` when the socket is readable (one ``select``),
    then writes what is queued and checks the keep-alive; only the reading is skipped. paho
    reads a packet in three or more ``recv`` calls (its first byte, its length byte by byte,
    the rest) and one packet per ``loop_read``: here each ``recv`` takes what the socket holds,
    up to :data:`READ_AHEAD_BYTES`, and :meth:`loop_read` goes on through the packets read
    ahead while the inbox has room, so a burst costs one ``select`` and one ``recv`` instead of
    some five system calls a packet. Bytes read ahead are not messages yet: only parsed ones
    reach the inbox, and the bound on it holds as before. While reading is paused with bytes
    read ahead, ``select`` would not see them, so :meth:`loop_read` waits for room itself,
    sending the queued PUBACKs and checking the keep-alive (paho's public ``loop_write`` and
    ``loop_misc``) every :data:`READ_PAUSE_S`.

    The read-ahead overrides paho's private ``_sock_recv`` (every read of ``_packet_read``
    goes through it, on the socket ``_sock``); tests/ingest/test_mqtt_read_ahead.py fails if
    paho reads otherwise."""

    def __init__(self, inbox: Inbox, limit: int, client_id: str) -> None:
        super().__init__(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5, manual_ack=True
        )
        self._sw_inbox, self._sw_limit = inbox, limit
        self.stopping = False  # set before disconnecting: a paused read then returns
        self.socket_reads = 0  # recv calls on the socket (the tests count them)
        self._sw_data = b""  # read ahead from the socket _sw_sock, from _sw_pos on
        self._sw_pos = 0
        self._sw_sock: object = None

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        while True:
            if not self._sw_inbox.wait_for_room(self._sw_limit, READ_PAUSE_S):
                if self.stopping or not self.read_ahead():
                    return MQTTErrorCode.MQTT_ERR_SUCCESS  # the broker keeps the rest
                rc = self.loop_write() if self.want_write() else MQTTErrorCode.MQTT_ERR_SUCCESS
                if rc == MQTTErrorCode.MQTT_ERR_SUCCESS:
                    rc = self.loop_misc()
                if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                    return rc
                continue
            rc = super().loop_read(max_packets)
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS or not self.read_ahead():
                return rc

    def read_ahead(self) -> bool:
        """Whether bytes read from the current connection's socket wait to be parsed."""
        return self._sw_pos < len(self._sw_data) and self._sw_sock is self.socket()

    def _sock_recv(self, bufsize: int) -> bytes:
        data, pos = self._sw_data, self._sw_pos
        if pos >= len(data) or self._sw_sock is not self.socket():  # a new connection's socket
            self.socket_reads += 1
            data = super()._sock_recv(max(bufsize, READ_AHEAD_BYTES))
            self._sw_sock, pos = self.socket(), 0
            if len(data) <= bufsize:  # b"": the connection's end
                self._sw_data, self._sw_pos = b"", 0
                return data
        end = pos + bufsize
        self._sw_data, self._sw_pos = (data, end) if end < len(data) else (b"", 0)
        return data[pos:end]


class MqttTransport:
    """Receive with manual acknowledgement; publish replies."""

    def __init__(self, options: MqttOptions) -> None:
        self.options = options
        # Bounded by the reading (see the module's docstring), so put never blocks.
        self.inbox = Inbox()
        self.connected = threading.Event()
        self.subscribed = threading.Event()  # set once the broker granted the subscriptions
        self._generation = 0
        self._unacked = 0  # QoS 1 messages of the current connection not yet acknowledged
        self._overshoot_logged = False
        self._lock = threading.Lock()
        self._client = _Client(self.inbox, options.receive_maximum, options.client_id)
        host, port, tls, user, password = broker_address(options.url)
        self._host, self._port = host, port
        if tls:
            self._client.tls_set()
        if user is not None:
            self._client.username_pw_set(user, password)
        self._client.reconnect_delay_set(min_delay=1, max_delay=30)
        self._client.max_inflight_messages_set(100)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._client.on_subscribe = self._on_subscribe
        if paho_log.isEnabledFor(logging.DEBUG):
            self._client.enable_logger(paho_log)

    @property
    def generation(self) -> int:
        return self._generation

    def start(self) -> None:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self.options.session_expiry_s
        props.ReceiveMaximum = self.options.receive_maximum
        self._client.connect_async(
            self._host,
            self._port,
            keepalive=self.options.keepalive_s,
            clean_start=False,
            properties=props,
        )
        self._client.loop_start()

    def stop(self) -> None:
        self._client.stopping = True
        self._client.disconnect()
        self._client.loop_stop()

    def ack(self, messages: list[Inbound]) -> int:
        """Acknowledge messages of the current connection; returns how many were acked."""
        current = self._generation
        return self.ack_ids(
            current, [m.mid for m in messages if m.qos > 0 and m.generation == current]
        )

    def ack_ids(self, generation: int, mids: list[int]) -> int:
        """Acknowledge QoS 1 messages by packet id, if they arrived on the current connection
        (``generation``); returns how many were acked."""
        with self._lock:
            if generation != self._generation:
                return 0
            self._unacked -= len(mids)  # before the broker can push their successors
        for mid in mids:
            self._client.ack(mid, 1)
        return len(mids)

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> None:
        self._client.publish(topic, payload, qos=qos)

    def subscriptions(self) -> list[str]:
        group = self.options.shared_group
        return [f"$share/{group}/{t}" if group else t for t in self.options.topics]

    # paho callbacks, on the network thread ------------------------------------------------

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            log.error("MQTT connection refused: %s", reason)
            return
        with self._lock:
            self._generation += 1
            self._unacked = 0
            self._overshoot_logged = False  # said once per connection
        log.info(
            "MQTT connected to %s:%s (session present: %s)",
            self._host,
            self._port,
            flags.session_present,
        )
        client.subscribe([(t, 1) for t in self.subscriptions()])
        self.connected.set()

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reasons: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        refused = [r for r in reasons if r.is_failure]
        if refused:
            log.error("MQTT subscription refused: %s", ", ".join(str(r) for r in refused))
        else:
            self.subscribed.set()

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self.connected.clear()
        self.subscribed.clear()
        with self._lock:
            self._generation += 1  # un-acked messages of the old connection will be re-sent
        self.inbox.set_aside()  # so the next connection is read while the worker holds them
        if reason.is_failure:
            log.warning("MQTT connection lost (%s, %s); reconnecting", reason, _how(flags, reason))

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        self.inbox.put_nowait(
            Inbound(
                topic=msg.topic,
                payload=bytes(msg.payload),
                received_at=datetime.now(UTC),
                mid=msg.mid,
                qos=msg.qos,
                generation=self._generation,
            )
        )
        if msg.qos > 0:
            with self._lock:
                self._unacked += 1
                unacked, logged = self._unacked, self._overshoot_logged
                self._overshoot_logged |= unacked > self.options.receive_maximum
            # Said at the first message past RM, so without a count: it would always read
            # RM + 1 (the broker may have sent more, unread while reading pauses).
            if unacked > self.options.receive_maximum and not logged:
                log.warning(
                    "the MQTT broker pushed more than the Receive Maximum of %d unacknowledged "
                    "messages (Mosquitto before 2.0.13 does: eclipse/mosquitto#2306; Aedes does "
                    "with the session's stored queue as it connects); reading pauses while the "
                    "inbox is full, and keep-alive answers can be late behind the surplus: use "
                    "Mosquitto 2.0.13 or later",
                    self.options.receive_maximum,
                )
