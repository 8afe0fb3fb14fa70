"""paho's MQTT 5 properties with shared tables (:mod:`ingest.mqtt_properties`) behave as
paho's own; these tests fail if paho's ``Properties`` or its packet decoders change what the
sharing relies on."""

from __future__ import annotations

import struct
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import paho.mqtt._packet as paho_packet
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ingest import mqtt_properties
from ingest.mqtt_properties import TABLES, SharedTables
from tests.fixtures.mqtt import client, publisher, wait_until

PACKET_TYPES = [*PacketTypes.indexes, PacketTypes.WILLMESSAGE]


def publish_properties() -> Properties:
    props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    props.MessageExpiryInterval = 30
    props.ContentType = "text/plain"
    props.UserProperty = [("a", "1"), ("b", "2")]
    return props


@pytest.fixture
def installed() -> Iterator[None]:
    before = paho_packet.Properties  # type: ignore[attr-defined]
    mqtt_properties.install()
    try:
        yield
    finally:
        paho_packet.Properties = before  # type: ignore[attr-defined]


@pytest.mark.parametrize("packet_type", PACKET_TYPES)
def test_a_new_instance_is_paho_s_own(packet_type: int) -> None:
    ours, paho = SharedTables(packet_type), Properties(packet_type)  # type: ignore[no-untyped-call]
    assert vars(ours) == vars(paho)
    assert set(vars(paho)) == set(TABLES)  # paho's own attributes: no property set yet


def test_properties_unpacked_set_and_cleared_as_paho_s() -> None:
    wire = publish_properties().pack()  # type: ignore[no-untyped-call]
    ours, paho = SharedTables(PacketTypes.PUBLISH), Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    assert ours.unpack(wire) == (ours, len(wire))  # type: ignore[no-untyped-call]
    paho.unpack(wire)  # type: ignore[no-untyped-call]
    assert vars(ours) == vars(paho)
    assert vars(ours)["MessageExpiryInterval"] == 30
    assert vars(ours)["UserProperty"] == [("a", "1"), ("b", "2")]
    ours.unpack(b"\x00")  # type: ignore[no-untyped-call]  # the next packet's: none
    assert set(vars(ours)) == set(TABLES)
    ours.ContentType = "x"  # paho's checks still apply
    with pytest.raises(Exception, match="does not apply"):
        ours.SessionExpiryInterval = 5


def test_the_shared_tables_are_not_changed_by_use() -> None:
    fresh = {t: vars(Properties(t)) for t in PACKET_TYPES}  # type: ignore[no-untyped-call]
    wire = publish_properties().pack()  # type: ignore[no-untyped-call]
    for _ in range(3):
        props = SharedTables(PacketTypes.PUBLISH)
        props.unpack(wire)  # type: ignore[no-untyped-call]
        props.clear()
        assert str(SharedTables(PacketTypes.PUBLISH)) == str(Properties(PacketTypes.PUBLISH))  # type: ignore[no-untyped-call]
    for t in PACKET_TYPES:
        assert vars(SharedTables(t)) == fresh[t]


def test_paho_s_decoders_build_what_install_sets(installed: None) -> None:
    """paho's PUBLISH decoder looks ``Properties`` up in its module when it runs."""
    topic, payload = b"hj212/MN/up", b"##0101QN=..."
    props = publish_properties().pack()  # type: ignore[no-untyped-call]
    wire = struct.pack("!H", len(topic)) + topic + struct.pack("!H", 7) + props + payload
    packet = paho_packet.decode_publish(0x32, wire, MQTTProtocolVersion.MQTTv5)
    assert type(packet.properties) is SharedTables
    assert (packet.topic, packet.mid, packet.qos, packet.payload) == (topic, 7, 1, payload)
    expected = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    expected.unpack(props)  # type: ignore[no-untyped-call]
    assert vars(packet.properties) == vars(expected)


@pytest.mark.integration
def test_paho_s_client_receives_with_what_install_sets(installed: None, mqtt_url: str) -> None:
    """paho's client decodes a PUBLISH through ``paho.mqtt._packet``: once installed, the
    messages it hands over carry these properties, with the publisher's values."""
    got: list[mqtt.MQTTMessage] = []
    topic = f"properties-test/{uuid.uuid4().hex[:8]}"
    with collecting(mqtt_url, topic, got):
        with publisher(mqtt_url) as publish:
            publish(topic, b"payload")
        wait_until(lambda: len(got) == 1, timeout=10, what="the message")
    assert type(got[0].properties) is SharedTables
    assert got[0].payload == b"payload"


@contextmanager
def collecting(url: str, topic: str, got: list[mqtt.MQTTMessage]) -> Iterator[None]:
    c = client(url)
    subscribed = threading.Event()
    c.on_message = lambda _c, _u, m: got.append(m)
    c.on_subscribe = lambda *_: subscribed.set()
    c.subscribe(topic, qos=1)
    assert subscribed.wait(10)
    try:
        yield
    finally:
        c.disconnect()
        c.loop_stop()
