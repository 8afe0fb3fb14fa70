"""The MQTT channel against the real broker: QoS 1 JSON on the subscription's topic, one
client kept open, and a broker that is not there."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import psycopg
import pytest

from alerts.notify import Dispatcher, MqttChannel, add_subscription, enqueue, render
from tests.alerts.test_notify_notification import OUTAGE, SO2
from tests.fixtures.mqtt import collector, wait_until
from tests.fixtures.notify import Clock, case_event, outbox

pytestmark = pytest.mark.integration


@pytest.fixture
def mqtt_channel(mqtt_url: str) -> Iterator[MqttChannel]:
    channel = MqttChannel(mqtt_url, timeout_s=10)
    try:
        yield channel
    finally:
        channel.close()


def test_publishes_the_json_document_and_keeps_one_client(
    mqtt_url: str, mqtt_channel: MqttChannel
) -> None:
    with collector(mqtt_url, "sourcewatch/alerts/#") as got:
        first = mqtt_channel.send("sourcewatch/alerts/xihu", None, render(SO2))
        client = mqtt_channel._client
        second = mqtt_channel.send("sourcewatch/alerts/binjiang", None, render(OUTAGE))
        wait_until(lambda: len(got) == 2, timeout=10, what="two notifications")
    assert first.ok and second.ok
    assert mqtt_channel._client is client and mqtt_channel.connected.is_set()
    assert sorted((topic, json.loads(payload)["event_id"]) for topic, payload in got) == [
        ("sourcewatch/alerts/binjiang", 8),
        ("sourcewatch/alerts/xihu", 7),
    ]
    by_topic = {topic: json.loads(payload) for topic, payload in got}
    assert by_topic["sourcewatch/alerts/xihu"] == SO2.to_json()


def test_a_broker_that_is_not_there_is_a_failure() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    channel = MqttChannel(f"mqtt://127.0.0.1:{port}", timeout_s=0.3)
    try:
        result = channel.send("sourcewatch/alerts/x", None, render(SO2))
    finally:
        channel.close()
    assert not result.ok and result.retryable
    assert result.error == f"not connected to MQTT broker 127.0.0.1:{port}"


def test_subscribers_of_a_topic_get_the_case_event(
    db: psycopg.Connection, mqtt_url: str, mqtt_channel: MqttChannel
) -> None:
    n = case_event(db)
    add_subscription(db, subscriber="dashboard", channel="mqtt", target="sourcewatch/alerts/all")
    enqueue(db, n)
    with collector(mqtt_url, "sourcewatch/alerts/all") as got:
        d = Dispatcher(lambda: db, {"mqtt": mqtt_channel}, clock=Clock())
        assert d.deliver_due(db).notifications_sent == 1
        wait_until(lambda: len(got) == 1, timeout=10, what="the case event on MQTT")
    assert json.loads(got[0][1]) == n.to_json()
    assert outbox(db)[0][2] == "sent"
