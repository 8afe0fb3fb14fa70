"""Broker drop detection (issue 14): the broker's own counter of dropped messages is read,
exported, logged and raised as a staff-visible system alert, counted once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
import psycopg
import pytest
from fastapi.testclient import TestClient
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from prometheus_client import REGISTRY

from api.app import create_app
from api.settings import ApiSettings
from ingest.broker_watch import BrokerWatch, record_drops
from schemas.core.brokers import broker_address
from sourcewatch.embedded_mqtt import embedded_mosquitto
from tests.fixtures.mqtt import client, wait_until
from tests.fixtures.staff import staff_headers

pytestmark = pytest.mark.integration

MOSQUITTO = "$SYS/broker/publish/messages/dropped"
AT = datetime(2026, 12, 3, 8, tzinfo=UTC)
SMALL_QUEUE = "max_queued_messages 10\nsys_interval 1\n"  # like a distribution's default, smaller


def alerts(db: psycopg.Connection) -> list[tuple[str, str, str, int]]:
    return [
        (r[0], r[1], r[2], r[3])
        for r in db.execute("SELECT kind, subject, state, count FROM system_alerts ORDER BY id")
    ]


def test_drops_are_counted_once_per_increase_and_after_a_broker_restart(
    db: psycopg.Connection,
) -> None:
    readings = [0, 5, 5, 12, 3]  # 3: the broker restarted, its counter began again
    increases = []
    for i, value in enumerate(readings):
        with db.transaction():
            increases.append(record_drops(db, "b:1883", MOSQUITTO, value, AT + timedelta(i)))
    assert increases == [0, 5, 0, 7, 3]
    assert alerts(db) == [("broker-drops", "b:1883", "open", 15)]
    last = db.execute("SELECT first_at, last_at, message_en, details FROM system_alerts").fetchone()
    assert last is not None and last[0] == AT + timedelta(1) and last[1] == AT + timedelta(4)
    assert "dropped messages" in last[2] and last[3]["counter"] == 3
    gauge = REGISTRY.get_sample_value("sourcewatch_broker_dropped_messages", {"topic": MOSQUITTO})
    assert gauge == 3


@pytest.fixture
def small_broker() -> Iterator[str]:
    with embedded_mosquitto(limits=SMALL_QUEUE) as url:
        yield url


def test_a_broker_that_drops_raises_a_system_alert_staff_see(
    db: psycopg.Connection, database_url: str, small_broker: str, role_urls: dict[str, str]
) -> None:
    subscribed: list[int] = []
    host, port, _, _, _ = broker_address(small_broker)
    worker = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="away", protocol=mqtt.MQTTv5)
    worker.on_subscribe = lambda *a: subscribed.append(1)
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = 3600
    worker.connect(host, port, clean_start=False, properties=props)
    worker.loop_start()
    worker.subscribe("hj212/+/up", qos=1)
    wait_until(lambda: bool(subscribed), what="the worker's subscription")
    worker.disconnect()
    worker.loop_stop()

    pub = client(small_broker)
    for i in range(50):
        pub.publish("hj212/0123/up", b"frame %d" % i, qos=1).wait_for_publish(5)
    pub.disconnect()
    pub.loop_stop()

    watch = BrokerWatch(small_broker, role_urls["ingest"], client_id="watch")
    watch.start()
    try:
        wait_until(
            lambda: alerts(db) == [("broker-drops", f"127.0.0.1:{port}", "open", 40)],
            what="the drops recorded",
        )
    finally:
        watch.stop()

    headers = staff_headers(db, "ops.wang", "viewer")
    api = ApiSettings(database_url=role_urls["api"], api_rate_limit_per_minute=10_000)
    with TestClient(create_app(api)) as http:
        page = http.get("/v1/staff/system-alerts?state=open", headers=headers)
        assert page.status_code == 200, page.text
        (alert,) = page.json()["results"]
        assert alert["kind"] == "broker-drops" and alert["count"] == 40
        assert alert["subject"] == f"127.0.0.1:{port}" and "丢弃" in alert["message_zh"]
        assert http.get("/v1/staff/system-alerts").status_code == 401
        assert http.get("/v1/staff/system-alerts?kind=x", headers=headers).status_code == 422

        close = f"/v1/staff/system-alerts/{alert['id']}/close"
        assert http.post(close, headers=headers).status_code == 403  # a viewer may not
        admin = staff_headers(db, "ops.zhao", "admin")
        closed = http.post(close, headers=admin)
        assert closed.status_code == 200, closed.text
        assert (closed.json()["state"], closed.json()["closed_by"]) == ("closed", "ops.zhao")
        assert http.post(close, headers=admin).json()["state"] == "closed"  # again: unchanged
        assert http.post("/v1/staff/system-alerts/999/close", headers=admin).status_code == 404
    audit = db.execute(
        "SELECT actor, action, object_id FROM staff_audit WHERE object_type = %s", ("system_alert",)
    ).fetchall()
    assert audit == [("ops.zhao", "system_alert.close", str(alert["id"]))]
    with db.transaction():  # the next drop opens a new alert
        record_drops(db, f"127.0.0.1:{port}", MOSQUITTO, 45, AT)
    assert [a[2:] for a in alerts(db)] == [("closed", 40), ("open", 5)]
