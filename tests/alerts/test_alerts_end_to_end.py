"""Frames in over the real broker → ingest → evaluator → cases → notifications delivered to a
local webhook (signature checked), a local SMTP server and the real broker. Replays change
nothing."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta

import psycopg
import pytest

from alerts.evaluator import Evaluator, EvaluatorOptions
from alerts.notify import (
    Dispatcher,
    EmailChannel,
    MqttChannel,
    SmtpSettings,
    WebhookChannel,
    add_subscription,
)
from alerts.settings import AlertsSettings
from ingest.hj212 import build_packet, build_segment, encode_cp
from schemas.limits.rules import bind_outlet
from tests.fixtures.mqtt import collector, publisher, running_worker, wait_until
from tests.fixtures.notify import http_endpoint, smtp_server
from tests.fixtures.registry import add_outlet

pytestmark = pytest.mark.integration

MN = "0100000000000000000000E2"
ULTRA_LOW = "煤电节能减排升级与改造行动计划(2014—2020年)"
SECRET = "s3cret"
T0 = datetime(2026, 11, 27, 8, 0)  # local (Asia/Shanghai) time, as loggers send it
SO2 = {0: "24", 1: "40", 2: "20", 3: "20", 4: "20"}  # ×1.25 at O₂ 9 %: 30, 50, 25, 25, 25


def minute_frames() -> list[bytes]:
    frames = []
    for hour, so2 in SO2.items():
        for minute in range(60):
            when = T0 + timedelta(hours=hour, minutes=minute)
            stamp = when.strftime("%Y%m%d%H%M%S")
            cp = encode_cp(
                {"DataTime": stamp},
                {
                    "a21026": {"Min": so2, "Avg": so2, "Max": so2, "Flag": "N"},
                    "a19001": {"Min": "9", "Avg": "9", "Max": "9", "Flag": "N"},
                },
            )
            seg = build_segment(
                qn=stamp + "000", st="31", cn="2051", pw="123456", mn=MN, flag=4, cp=cp
            )
            frames.append(build_packet(seg))
    return frames


@contextmanager
def alerts_running(database_url: str, channels: dict[str, object]) -> Iterator[Evaluator]:
    stop = threading.Event()
    evaluator = Evaluator(
        EvaluatorOptions.from_settings(
            AlertsSettings(database_url=database_url, evaluation_sweep_s=0.5)
        )
    )
    dispatcher = Dispatcher(database_url, channels, poll_interval_s=0.2)  # type: ignore[arg-type]
    threads = [
        threading.Thread(target=evaluator.run, args=(stop,)),
        threading.Thread(target=dispatcher.run, args=(stop,)),
    ]
    for t in threads:
        t.start()
    try:
        yield evaluator
    finally:
        stop.set()
        for t in threads:
            t.join(15)
        dispatcher.close()


def test_an_exceeding_hour_reaches_staff_on_every_channel_exactly_once(
    db: psycopg.Connection, role_urls: dict[str, str], mqtt_url: str
) -> None:
    """Ingest and alerts connect with their own database roles, as deployed."""
    outlet = add_outlet(db, MN)
    bind_outlet(db, MN, ULTRA_LOW, "ultra-low-coal", date(2020, 1, 1), "permit 91330000-001")
    frames = minute_frames()
    with (
        http_endpoint() as hook,
        smtp_server() as smtp,
        collector(mqtt_url, "sourcewatch/v1/alerts/#") as mqtt_got,
    ):
        add_subscription(
            db,
            subscriber="inspector@eb.gov.cn",
            channel="webhook",
            target=hook.url + "/hook",
            secret=SECRET,
            kinds=["exceedance"],
            allow_private_targets=True,
        )
        add_subscription(
            db,
            subscriber="inspector@eb.gov.cn",
            channel="email",
            target="inspector@eb.gov.cn",
            pollutants=["a21026"],
        )
        add_subscription(
            db, subscriber="dashboard", channel="mqtt", target="sourcewatch/v1/alerts/zhejiang"
        )
        channels = {
            "webhook": WebhookChannel(allow_private_targets=True),
            "email": EmailChannel(SmtpSettings(host="127.0.0.1", port=smtp.port)),
            "mqtt": MqttChannel(mqtt_url, client_id="alerts-e2e"),
        }
        with (
            running_worker(mqtt_url, role_urls["ingest"]) as ingest,
            alerts_running(role_urls["alerts"], channels),
            publisher(mqtt_url) as publish,
        ):
            for raw in frames:
                publish(f"hj212/{MN}/up", raw)
            wait_until(lambda: len(hook.requests) == 2, timeout=30, what="2 webhooks")
            wait_until(lambda: len(smtp.mails) == 2 and len(mqtt_got) == 2, what="mails, mqtt")
            # The same frames again (a logger re-sending its history): nothing new anywhere.
            for raw in frames:
                publish(f"hj212/{MN}/up", raw)
            # At least: QoS 1 is delivered at least once (a message the broker re-sends after
            # a reconnect is stored, idempotently, and counted again).
            wait_until(lambda: ingest.worker.stats.messages >= 2 * len(frames), what="replay")
            wait_until(
                lambda: db.execute("SELECT count(*) FROM evaluation_queue").fetchone() == (0,)
            )
    bodies = []
    for request in hook.requests:
        timestamp = request.headers["X-Sourcewatch-Timestamp"]
        signed = timestamp.encode() + b"." + request.body
        expected = hmac.new(SECRET.encode(), signed, hashlib.sha256).hexdigest()
        assert request.headers["X-Sourcewatch-Signature"] == f"sha256={expected}"
        bodies.append(json.loads(request.body))
    assert len(hook.requests) == 2 and len(smtp.mails) == 2 and len(mqtt_got) == 2
    assert [b["action"] for b in bodies] == ["opened", "closed"]
    opened = bodies[0]
    assert (opened["kind"], opened["pollutant"]["code"], opened["outlet"]["mn"]) == (
        "exceedance",
        "a21026",
        MN,
    )
    details = opened["details"]
    assert (details["value"], details["converted"], details["limit"]) == ("50", "50", "35")
    assert details["reference_o2"] == "6" and details["unit"] == "mg/m³"
    assert details["source_document"].startswith("《煤电节能减排升级与改造行动计划")
    assert "二氧化硫" in opened["title"]["zh"] and "sulfur dioxide" in opened["title"]["en"]
    subjects = [mail["Subject"] for _, _, mail in smtp.mails]
    assert all("a21026" in s or "二氧化硫" in s for s in subjects)
    events = db.execute(
        "SELECT action FROM case_events e JOIN cases c ON c.id = e.case_id "
        "WHERE c.outlet_id = %s ORDER BY e.id",
        (outlet,),
    ).fetchall()
    assert [e[0] for e in events] == ["opened", "closed"]
