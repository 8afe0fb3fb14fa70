"""MQTT channel: publish the JSON document at QoS 1 to the subscription's topic.

One paho-mqtt client is kept open (connected on first use, reconnected by paho's network
thread). ``send`` waits until the broker acknowledges the publish (PUBACK) or the timeout
passes. Delivery is at least once: a publish that timed out may still reach the broker and
is then sent again on retry; receivers dedupe on ``event_id``.
"""

from __future__ import annotations

import logging
import threading
import uuid
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from alerts.notify.channels.base import DeliveryResult
from alerts.notify.message import Message
from schemas.core.brokers import broker_address

__all__ = ["MqttChannel"]

log = logging.getLogger(__name__)


class MqttChannel:
    def __init__(
        self, url: str, *, client_id: str = "", timeout_s: float = 10.0, qos: int = 1
    ) -> None:
        self.timeout_s = timeout_s
        self.qos = qos
        self.connected = threading.Event()
        self._lock = threading.Lock()
        self._started = False
        self._host, self._port, tls, user, password = broker_address(url)
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"sourcewatch-notify-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv5,
        )
        if tls:
            self._client.tls_set()
        if user is not None:
            self._client.username_pw_set(user, password)
        self._client.reconnect_delay_set(min_delay=1, max_delay=30)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect

    def send(self, target: str, secret: str | None, message: Message) -> DeliveryResult:
        with self._lock:
            if not self._started:
                self._client.connect_async(self._host, self._port, keepalive=30)
                self._client.loop_start()
                self._started = True
        if not self.connected.wait(self.timeout_s):
            return DeliveryResult.failure(f"not connected to MQTT broker {self._host}:{self._port}")
        try:
            info = self._client.publish(target, message.json_bytes(), qos=self.qos)
            info.wait_for_publish(self.timeout_s)
        except (ValueError, RuntimeError, OSError) as exc:
            return DeliveryResult.failure(f"MQTT publish to {target!r} failed: {exc}")
        if not info.is_published():
            return DeliveryResult.failure(f"MQTT publish to {target!r} not acknowledged in time")
        return DeliveryResult(True, None, f"published mid {info.mid}")

    def close(self) -> None:
        with self._lock:
            if self._started:
                self._client.disconnect()
                self._client.loop_stop()
                self._started = False
                self.connected.clear()

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
        self.connected.set()

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self.connected.clear()
        if reason.is_failure:
            log.warning("MQTT connection lost (%s); reconnecting", reason)
