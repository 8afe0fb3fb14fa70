"""Issue 15: how many dead letters a sender may leave (ingest/dead_letter_cap.py). The rule by the
clock it is given, then a flood of garbage over a real Mosquitto into a real database."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from prometheus_client import REGISTRY

from ingest.dead_letter_cap import ALL_SOURCES, DeadLetterCap, DeadLetterLimits
from ingest.records import Rejected
from ingest.writer import DEAD_LETTER_MAX_BYTES
from tests.fixtures.mqtt import publisher, running_worker, wait_until
from tests.fixtures.registry import add_outlet
from tests.ingest.test_ingest_mqtt import MN, T0, rtd, scalar


def rejected(i: int = 0) -> Rejected:
    return Rejected("mqtt", "t", datetime(2026, 1, 1, tzinfo=UTC), b"x%d" % i, "format", "bad")


# --- the rule --------------------------------------------------------------------------------


def test_each_source_has_its_own_bucket_refilled_at_the_rate() -> None:
    cap = DeadLetterCap(DeadLetterLimits(per_source_per_minute=3))
    assert [cap.take("a", 0.0) for _ in range(4)] == [None, None, None, "a"]
    assert cap.take("b", 0.0) is None
    assert cap.take("a", 19.0) == "a"
    assert cap.take("a", 20.5) is None


def test_the_total_bucket_bounds_many_sources() -> None:
    """New source names (MQTT topics are chosen by the publisher) do not multiply the rate."""
    cap = DeadLetterCap(DeadLetterLimits(per_source_per_minute=5, total_per_minute=4))
    taken = [cap.take(f"topic-{i}", 0.0) for i in range(100)]
    assert taken[:4] == [None] * 4
    assert set(taken[4:]) == {ALL_SOURCES}
    assert len(cap) == 4  # a source refused by the total leaves no entry behind


def test_keep_drops_only_rejections() -> None:
    cap = DeadLetterCap(DeadLetterLimits(per_source_per_minute=1))
    records: list[object] = [rejected(0), "accepted", rejected(1), "accepted"]
    kept, refused = cap.keep(records, "s", 0.0)
    assert kept == [records[0], "accepted", "accepted"]
    assert refused == ["s"]


def test_an_item_decoded_again_gets_the_same_decisions() -> None:
    """A batch whose write is retried (the database was down) is decoded again: its rejections
    must not take tokens again, nor count their drops twice."""
    cap = DeadLetterCap(DeadLetterLimits(per_source_per_minute=3))
    two = [rejected(0), "accepted", rejected(1)]
    assert cap.keep(two, "s", 0.0, item="message 1") == (two, [])
    assert cap.keep(two, "s", 0.1, item="message 1") == (two, [])  # the retry: no token taken
    three = [rejected(2), rejected(3), rejected(4)]
    assert cap.keep(three, "s", 0.2, item="message 2") == ([three[0]], ["s", "s"])
    assert cap.keep(three, "s", 0.3, item="message 2") == ([three[0]], [])  # not reported again
    assert cap.take("s", 0.3) == "s"
    assert cap.keep(three, "s", 0.4) == ([], ["s", "s", "s"])  # without a key: decided afresh


def test_drops_are_logged_once_per_interval_with_their_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cap = DeadLetterCap(
        DeadLetterLimits(per_source_per_minute=1, log_every_s=60), source_kind="topic"
    )
    with caplog.at_level(logging.WARNING, logger="ingest.dead_letter_cap"):
        for t in (0.0, 0.1, 0.2, 0.3):
            cap.take("hj212/X/up", t)
        assert len(caplog.records) == 1  # the first drop, at once
        assert "1 dead letter(s) of topic 'hj212/X/up' dropped" in caplog.messages[0]
        assert cap.take("hj212/X/up", 30.0) is not None  # half a token: dropped, not logged
        assert cap.take("hj212/X/up", 59.0) is not None
        assert len(caplog.records) == 1
        assert cap.take("hj212/X/up", 61.0) is None  # a token again: stored
        cap.prune(61.0)  # the drops since the first line are told, once a minute has passed
        assert "4 dead letter(s) of topic 'hj212/X/up' dropped" in caplog.messages[1]
        cap.prune(200.0)
    assert len(cap) == 0


def test_sources_are_forgotten_once_their_bucket_is_full() -> None:
    cap = DeadLetterCap(DeadLetterLimits(per_source_per_minute=60))
    assert cap.take("a", 0.0) is None
    cap.prune(0.5)
    assert len(cap) == 1
    cap.prune(61.0)
    assert len(cap) == 0


# --- MQTT, end to end ----------------------------------------------------------------------------


def dropped(limit: str) -> float:
    return (
        REGISTRY.get_sample_value("sourcewatch_ingest_dead_letters_dropped_total", {"limit": limit})
        or 0.0
    )


def dead_letters(db: psycopg.Connection) -> int:
    row = db.execute("SELECT count(*) FROM dead_letters").fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.integration
def test_a_garbage_flood_over_mqtt_leaves_a_bounded_number_of_dead_letters(
    db: psycopg.Connection, database_url: str, mqtt_url: str
) -> None:
    """A logger (or anyone with its broker login) publishing garbage filled dead_letters at line
    rate. Now one topic leaves at most SOURCEWATCH_MQTT_DEAD_LETTERS_PER_MINUTE (60 by default,
    a burst of as many); the rest is acknowledged and counted, and real frames in between are
    stored."""
    add_outlet(db, MN)
    flood, good = 150, 10
    before = dropped("topic")
    started = time.monotonic()
    with running_worker(mqtt_url, database_url) as worker, publisher(mqtt_url) as publish:
        publish(f"hj212/{MN}/up", b"G" * 100_000)  # one large: stored, its first 4 KiB
        for i in range(flood):
            publish(f"hj212/{MN}/up", b"garbage %d, not a frame" % i)
            if i % (flood // good) == 0:
                publish(f"hj212/{MN}/up", rtd(str(i), when=T0 + timedelta(minutes=i)))
        total = 1 + flood + good
        wait_until(lambda: worker.worker.stats.acked == total, what="every message acknowledged")
        # the consumer keeps going: a frame after the flood is stored too
        publish(f"hj212/{MN}/up", rtd("1.0", when=T0 + timedelta(hours=5)))
        wait_until(lambda: worker.worker.stats.acked == total + 1, what="the last one")
    refilled = (time.monotonic() - started) * 60 / 60  # tokens come back at 60 per minute
    assert scalar(db, "SELECT count(*) FROM frames") == good + 1
    stored = dead_letters(db)
    assert 60 <= stored <= 60 + refilled + 1  # the burst, and what the rate refilled meanwhile
    assert dropped("topic") - before == 1 + flood - stored
    [raw] = db.execute("SELECT raw FROM dead_letters WHERE raw_length = 100000").fetchone() or [b""]
    assert bytes(raw) == b"G" * DEAD_LETTER_MAX_BYTES


@pytest.mark.integration
def test_garbage_on_ever_new_topics_is_bounded_in_all(
    db: psycopg.Connection, database_url: str, mqtt_url: str
) -> None:
    add_outlet(db, MN)
    before = dropped("total")
    started = time.monotonic()
    with (
        running_worker(mqtt_url, database_url, dead_letters_per_minute_total=20) as worker,
        publisher(mqtt_url) as publish,
    ):
        for i in range(80):
            publish(f"hj212/NOSUCHMN{i:04d}/up", b"garbage %d" % i)
        publish(f"hj212/{MN}/up", rtd("2.0"))
        wait_until(lambda: worker.worker.stats.acked == 81, what="every message acknowledged")
    refilled = (time.monotonic() - started) * 20 / 60
    assert scalar(db, "SELECT count(*) FROM frames") == 1
    assert 20 <= dead_letters(db) <= 20 + refilled + 1
    assert dropped("total") - before == 80 - dead_letters(db)
