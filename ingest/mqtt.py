"""The MQTT side of ingest: a paho-mqtt 2 client that hands messages to a bounded queue and
acknowledges them only when told to (after their rows are committed).

- MQTT 5, persistent session (clean start off, session expiry), QoS 1 subscriptions,
  optional shared subscription ``$share/<group>/…`` so that N workers split the load.
- Receive Maximum bounds how many unacknowledged messages the broker pushes to us; the queue
  is sized to hold them (plus 100). It is bounded: should the broker push more (a bench trace
  counted up to 2,601 held with a Receive Maximum of 1,000 on Mosquitto, bench/README.md
  "Fifth round: ingest end to end"), the network thread waits in ``put`` until the worker takes
  a batch, and meanwhile sends no PUBACK or PINGREQ. Memory stays bounded; nothing is lost.
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
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from ingest.settings import IngestSettings
from schemas.core.brokers import broker_address

__all__ = ["Inbound", "MqttOptions", "MqttTransport"]

log = logging.getLogger(__name__)


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


class MqttTransport:
    """Receive with manual acknowledgement; publish replies."""

    def __init__(self, options: MqttOptions) -> None:
        self.options = options
        self.inbox: queue.Queue[Inbound] = queue.Queue(maxsize=options.receive_maximum + 100)
        self.connected = threading.Event()
        self.subscribed = threading.Event()  # set once the broker granted the subscriptions
        self._generation = 0
        self._lock = threading.Lock()
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=options.client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
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
        self._client.disconnect()
        self._client.loop_stop()

    def ack(self, messages: list[Inbound]) -> int:
        """Acknowledge messages of the current connection; returns how many were acked."""
        done = 0
        with self._lock:
            current = self._generation
        for m in messages:
            if m.qos > 0 and m.generation == current:
                self._client.ack(m.mid, m.qos)
                done += 1
        return done

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
        if reason.is_failure:
            log.warning("MQTT connection lost (%s); reconnecting", reason)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        self.inbox.put(
            Inbound(
                topic=msg.topic,
                payload=bytes(msg.payload),
                received_at=datetime.now(UTC),
                mid=msg.mid,
                qos=msg.qos,
                generation=self._generation,
            )
        )
