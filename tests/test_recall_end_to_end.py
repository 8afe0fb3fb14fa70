"""Issue 14 end to end: a broker with a small queue drops part of a burst, the drops are
detected and reported, the gaps are recalled from the simulated loggers, the database ends
complete, and the hours judged on what arrived are judged again: the exceedance the missing
minutes hid opens a case. Real Mosquitto (a private one, small ``max_queued_messages``), real
PostgreSQL, the real ingest worker, evaluator and TCP gateway."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest

from alerts.evaluator import Evaluator, EvaluatorOptions
from alerts.settings import AlertsSettings
from ingest.broker_watch import BrokerWatch
from ingest.service import mqtt_recaller
from ingest.settings import IngestSettings
from ingest.simulation.frames import SimMessage, upload
from ingest.simulation.history import History, MqttLoggers, TcpLogger
from ingest.simulation.timebase import to_ms
from ingest.tcp import tcp_recaller
from schemas.limits.rules import bind_outlet
from sourcewatch.embedded_mqtt import embedded_mosquitto
from tests.fixtures.mqtt import publisher, running_worker, wait_until
from tests.fixtures.registry import add_outlet
from tests.ingest.test_recall import running_gateway

pytestmark = pytest.mark.integration

MN = "0100000000000000000000E2"
ULTRA_LOW = "煤电节能减排升级与改造行动计划(2014—2020年)"
NOW = datetime.now(UTC)
H0 = NOW.replace(minute=0, second=0, microsecond=0) - timedelta(hours=5)
QUEUE = 20
# Hours 0 and 1 exceed (40 mg/m³ at 9 % O₂ is 50 at 6 %, against 35); hours 2 and 3 comply.
SO2 = {0: "40", 1: "40", 2: "20", 3: "20"}


def minute_uploads() -> list[SimMessage]:
    return [
        upload(
            mn=MN,
            pw="123456",
            st="31",
            cn="2051",
            data_ms=to_ms(H0 + timedelta(minutes=m)),
            qn_ms=to_ms(H0 + timedelta(minutes=m + 1)),
            items={
                "a21026": {"Avg": SO2[m // 60], "Flag": "N"},
                "a19001": {"Avg": "9", "Flag": "N"},
            },
            note="",
            as_json=False,
        )
        for m in range(4 * 60)
    ]


def stored_minutes(db: psycopg.Connection) -> int:
    row = db.execute("SELECT count(DISTINCT ts) FROM measurements WHERE kind = 'min'").fetchone()
    return int(row[0]) if row else 0


def cases(db: psycopg.Connection) -> list[tuple[str, datetime]]:
    return [(r[0], r[1]) for r in db.execute("SELECT state, first_at FROM cases ORDER BY id")]


def hour0(db: psycopg.Connection) -> tuple[bool, int] | None:
    row = db.execute(
        "SELECT valid, valid_count FROM hourly_means WHERE pollutant = 'a21026' AND hour_start = %s",
        (H0,),
    ).fetchone()
    return None if row is None else (row[0], row[1])


def evaluate(database_url: str, db: psycopg.Connection) -> None:
    options = EvaluatorOptions.from_settings(AlertsSettings(database_url=database_url))
    Evaluator(options, clock=lambda: NOW).drain(db)


@pytest.fixture
def small_broker() -> Iterator[str]:
    """Mosquitto with a queue of 20 messages per session (a distribution's default is 1000),
    and its $SYS counters published every second."""
    limits = f"max_inflight_messages 1000\nmax_queued_messages {QUEUE}\nsys_interval 1\n"
    with embedded_mosquitto(limits=limits) as url:
        yield url


@pytest.fixture
def outlet(db: psycopg.Connection) -> int:
    oid = add_outlet(db, MN)
    bind_outlet(db, MN, ULTRA_LOW, "ultra-low-coal", date(2020, 1, 1), "permit 91330000-002")
    return oid


def test_a_burst_the_broker_drops_is_detected_recalled_and_judged_again(
    db: psycopg.Connection,
    outlet: int,
    database_url: str,
    role_urls: dict[str, str],
    small_broker: str,
) -> None:
    uploads = minute_uploads()
    burst, live = uploads[:180], uploads[180:]
    history = History()  # the logger keeps everything it sent, dropped or not
    history.remember(uploads)
    worker_id = "ingest-e2e"
    with running_worker(small_broker, database_url, client_id=worker_id):
        pass  # the worker's persistent session now exists; the worker goes away
    with publisher(small_broker) as publish:  # the logger's burst after its link came back
        for m in burst:
            publish(m.topic, m.payload)

    watch = BrokerWatch(small_broker, role_urls["ingest"], client_id="e2e-watch")
    watch.start()
    try:
        dropped = len(burst) - QUEUE
        wait_until(
            lambda: db.execute("SELECT count FROM system_alerts").fetchall() == [(dropped,)],
            what="the drops reported",
        )
    finally:
        watch.stop()
    alert = db.execute("SELECT kind, state, message_en FROM system_alerts").fetchone()
    assert alert is not None and alert[:2] == ("broker-drops", "open")

    with running_worker(small_broker, database_url, client_id=worker_id) as running:
        wait_until(lambda: stored_minutes(db) == QUEUE, what="the queued part of the burst")
        with publisher(small_broker) as publish:
            for m in live:
                publish(m.topic, m.payload)
        wait_until(lambda: stored_minutes(db) == QUEUE + 60, what="the live hour")

        evaluate(database_url, db)  # judged on what arrived
        assert hour0(db) == (False, QUEUE)  # 20 of 60 minutes: no valid mean
        assert cases(db) == []  # the exceedance of hours 0 and 1 is hidden

        loggers = MqttLoggers(small_broker, history).start()
        try:
            assert loggers.subscribed.wait(10)
            settings = IngestSettings(
                database_url=database_url, recall_backoff_s=0.0, recall_every_s=0.1
            )
            recaller = mqtt_recaller(settings, running.worker.transport)
            recaller.cycle(db)
            gap = db.execute("SELECT begin_at, end_at, missing FROM recall_requests").fetchone()
            assert gap == (H0, H0 + timedelta(hours=3), len(burst) - QUEUE)
            wait_until(lambda: stored_minutes(db) == 240, what="the recalled minutes")
            wait_until(
                lambda: (
                    db.execute("SELECT count(*) FROM frames WHERE cn = '9012'").fetchone() == (1,)
                ),
                what="the logger's 9012",
            )
            recaller.cycle(db)
        finally:
            loggers.stop()
    assert db.execute("SELECT state, outcome FROM recall_requests").fetchall() == [
        ("done", "healed")
    ]
    evaluate(database_url, db)  # the recalled hours are judged again
    assert hour0(db) == (True, 60)
    assert cases(db) == [("open", H0)]
    worst = db.execute("SELECT max(value) FROM case_periods").fetchone()
    assert worst == (Decimal(50),)


def test_the_same_recall_through_the_tcp_gateway_reopens_judgement(
    db: psycopg.Connection, outlet: int, database_url: str
) -> None:
    uploads = minute_uploads()
    history = History()
    history.remember(uploads)
    with running_gateway(database_url) as (gw, port):
        logger = TcpLogger("127.0.0.1", port, history)
        try:
            logger.send(uploads[:QUEUE] + uploads[180:])  # the link lost the rest
            wait_until(lambda: stored_minutes(db) == QUEUE + 60, what="what arrived")
            evaluate(database_url, db)
            assert cases(db) == [] and hour0(db) == (False, QUEUE)
            settings = IngestSettings(database_url=database_url, recall_backoff_s=0.0)
            recaller = tcp_recaller(settings, gw)
            recaller.cycle(db)
            wait_until(lambda: stored_minutes(db) == 240, what="the recalled minutes")
            wait_until(
                lambda: (
                    db.execute("SELECT count(*) FROM frames WHERE cn = '9012'").fetchone() == (1,)
                ),
                what="the logger's 9012",
            )
            recaller.cycle(db)
        finally:
            logger.close()
    assert db.execute("SELECT state, outcome FROM recall_requests").fetchall() == [
        ("done", "healed")
    ]
    evaluate(database_url, db)
    assert hour0(db) == (True, 60)
    assert cases(db) == [("open", H0)]
