"""Watching the broker's own statistics for dropped messages (issue 14): a broker that drops
messages loses data before ingest ever sees it, so ingest reads the broker's counters.

- Mosquitto publishes ``$SYS/broker/publish/messages/dropped`` (retained, every
  ``sys_interval``, 10 s by default): messages it dropped because a client's queue or in-flight
  window was full (``max_queued_messages``, ``max_queued_bytes``).
- EMQX (4.x documents it) publishes per node metrics under ``$SYS/brokers/{node}/metrics/``;
  ingest subscribes to ``…/metrics/messages/dropped`` and ``…/metrics/delivery/dropped``. Not
  verified against a running EMQX 5 here (none was available): the documented way to watch
  EMQX 5 is its Prometheus endpoint (``/api/v5/prometheus/stats``: ``emqx_messages_dropped``,
  ``emqx_delivery_dropped_queue_full``), outside sourcewatch. EMQX lets only local clients read
  ``$SYS`` unless its authorization allows the ingest user (``deploy/compose.emqx.yaml``).

Every reading is exported as ``sourcewatch_broker_dropped_messages`` (labelled by topic);
every increase is logged as an error and counted into the open ``broker-drops`` system alert
(:mod:`schemas.system_alerts`), which staff see at ``GET /v1/staff/system-alerts``. A broker
that publishes none of these topics is simply not watched (``sourcewatch check`` says so).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion

from ingest import metrics
from schemas.core.brokers import broker_address
from schemas.core.db import connect
from schemas.system_alerts import counter_increase, raise_alert

__all__ = ["DROP_TOPICS", "BrokerWatch", "record_drops"]

log = logging.getLogger(__name__)

DROP_TOPICS = (
    "$SYS/broker/publish/messages/dropped",  # Mosquitto
    "$SYS/brokers/+/metrics/messages/dropped",  # EMQX, per node
    "$SYS/brokers/+/metrics/delivery/dropped",
)


def record_drops(
    conn: psycopg.Connection[Any], broker: str, topic: str, value: int, at: datetime
) -> int:
    """Store one reading of a broker's drop counter; raise (or add to) the ``broker-drops``
    system alert when it grew. Returns the increase. The caller commits."""
    metrics.BROKER_DROPPED.labels(topic).set(value)
    increase = counter_increase(conn, f"{broker} {topic}", value, at)
    if increase > 0:
        metrics.BROKER_DROPS_SEEN.inc(increase)
        log.error(
            "the MQTT broker %s dropped %d message(s) (%s = %d): data may be missing until "
            "it is recalled; raise max_queued_messages (Mosquitto) or the session queue "
            "(EMQX mqtt.max_mqueue_len)",
            broker,
            increase,
            topic,
            value,
        )
        raise_alert(
            conn,
            "broker-drops",
            broker,
            increase,
            message_zh=f"MQTT 代理 {broker} 丢弃了消息（累计 {value} 条）：数据可能缺失，需补数",
            message_en=f"the MQTT broker {broker} dropped messages ({value} in all): data may "
            "be missing until recalled",
            details={"topic": topic, "counter": value, "increase": increase},
            at=at,
        )
    return increase


class BrokerWatch:
    """A second, small MQTT client (clean session, QoS 0) subscribed to :data:`DROP_TOPICS`;
    each reading is recorded in the database by :func:`record_drops`. A failed database write
    is logged and the next reading catches up (the counters are cumulative)."""

    def __init__(
        self,
        mqtt_url: str,
        database_url: str,
        *,
        client_id: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        host, port, tls, user, password = broker_address(mqtt_url)
        self.broker = f"{host}:{port}"  # the subject of its alerts: never the credentials
        self.database_url = database_url
        self.clock = clock
        self.readings = 0
        self.subscribed = threading.Event()
        self._conn: psycopg.Connection[Any] | None = None
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
        if tls:
            self._client.tls_set()
        if user is not None:
            self._client.username_pw_set(user, password)
        self._client.reconnect_delay_set(min_delay=1, max_delay=30)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message
        self._host, self._port = host, port

    def start(self) -> None:
        self._client.connect_async(self._host, self._port, keepalive=30)
        self._client.loop_start()

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _on_connect(self, client: mqtt.Client, userdata: Any, *args: Any) -> None:
        client.subscribe([(t, 0) for t in DROP_TOPICS])

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, *args: Any) -> None:
        self.subscribed.set()

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            value = int(bytes(msg.payload).decode().strip())
        except (UnicodeDecodeError, ValueError):
            log.warning("unreadable broker counter on %s: %r", msg.topic, msg.payload[:40])
            return
        try:
            if self._conn is None or self._conn.closed:
                self._conn = connect(
                    self.database_url, application_name="sourcewatch.ingest.broker", autocommit=True
                )
            with self._conn.transaction():
                record_drops(self._conn, self.broker, msg.topic, value, self.clock())
            self.readings += 1
        except psycopg.Error:
            log.warning("could not record the broker counter %s", msg.topic, exc_info=True)
            if self._conn is not None:
                self._conn.close()
                self._conn = None
