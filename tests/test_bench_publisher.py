"""The benchmarks' lean publisher (``bench.mqtt_publisher``) delivers what paho would: every
message at QoS 1, in order, acknowledged before it returns."""

from __future__ import annotations

import time

from bench.mqtt_publisher import RawPublisher, _receive_maximum
from schemas.core.brokers import broker_address
from tests.fixtures.mqtt import collector


def test_every_message_arrives_once_and_in_order(mqtt_url: str) -> None:
    host, port, _, _, _ = broker_address(mqtt_url)
    n = 2_500
    with collector(mqtt_url, "bench/pub/+") as got:
        pub = RawPublisher(host, port, "bench-publisher-test", window=100)
        packets = (pub.packet(f"bench/pub/{i % 7}", b"%06d" % i + b"x" * 500) for i in range(n))
        assert pub.publish_all(packets) == n
        pub.close()
        deadline = time.monotonic() + 10
        while len(got) < n and time.monotonic() < deadline:
            time.sleep(0.05)
    assert [int(payload[:6]) for _, payload in got] == list(range(n))
    assert [topic for topic, _ in got][:8] == [f"bench/pub/{i % 7}" for i in range(8)]


def test_packet_ids_wrap_around_within_sixteen_bits(mqtt_url: str) -> None:
    host, port, _, _, _ = broker_address(mqtt_url)
    pub = RawPublisher(host, port, "bench-publisher-ids")
    try:
        pub._mid = 65_534
        ids = [int.from_bytes(pub.packet("t", b"")[5:7], "big") for _ in range(3)]
    finally:
        pub.close()
    assert ids == [65_535, 1, 2]


def test_the_brokers_receive_maximum_is_read_from_connack() -> None:
    # properties: length 8; Topic Alias Maximum (0x22) = 10, Receive Maximum (0x21) = 20,
    # Maximum QoS (0x24) = 1, then nothing else
    props = bytes([8, 0x22, 0, 10, 0x21, 0, 20, 0x24, 1])
    assert _receive_maximum(props) == 20
    assert _receive_maximum(bytes([0])) == 65_535
    assert _receive_maximum(b"") == 65_535
