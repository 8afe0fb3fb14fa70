"""The shipped broker ACL: a data logger may publish only under its own MN."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from ingest.hj212 import build_packet, build_segment, encode_cp
from sourcewatch.embedded import free_port, wait_for_port
from tests.fixtures.broker import private_production_conf
from tests.fixtures.mqtt import running_worker, wait_until
from tests.fixtures.registry import add_outlet

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
MN_A, MN_B = "0100000000000000000000AA", "0100000000000000000000BB"


@pytest.fixture
def secured_broker() -> Iterator[int]:
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(binary).exists() or not shutil.which("mosquitto_passwd"):
        pytest.skip("Mosquitto is not installed here (the container path tests ACLs elsewhere)")
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        passwd = folder / "passwd"
        for user, password in ((MN_A, "pa"), (MN_B, "pb"), ("sourcewatch-ingest", "pi")):
            subprocess.run(
                [
                    "mosquitto_passwd",
                    "-b",
                    *(["-c"] if not passwd.exists() else []),
                    str(passwd),
                    user,
                    password,
                ],
                check=True,
            )
        shutil.copy(ROOT / "deploy" / "mosquitto" / "acl", folder / "acl")
        conf, _ = private_production_conf(folder, port, free_port())
        (folder / "mosquitto.conf").write_text(conf)
        for f in folder.iterdir():
            f.chmod(0o644)
        folder.chmod(0o755)
        proc = subprocess.Popen(
            [binary, "-c", str(folder / "mosquitto.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for_port("127.0.0.1", port, alive=lambda: proc.poll() is None)
            yield port
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def frame(mn: str) -> bytes:
    cp = encode_cp(
        {"DataTime": datetime(2026, 11, 28, 8).strftime("%Y%m%d%H%M%S")},
        {"a21026": {"Rtd": "10", "Flag": "N"}},
    )
    return build_packet(build_segment(st="31", cn="2011", pw="123456", mn=mn, flag=4, cp=cp))


def device(port: int, user: str, password: str) -> mqtt.Client:
    c = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"dev-{uuid.uuid4().hex[:6]}", protocol=mqtt.MQTTv5
    )
    c.username_pw_set(user, password)
    c.connect("127.0.0.1", port)
    c.loop_start()
    return c


def test_a_logger_cannot_publish_for_another_mn(
    secured_broker: int, db: psycopg.Connection, database_url: str
) -> None:
    add_outlet(db, MN_A)
    add_outlet(db, MN_B)
    url = f"mqtt://sourcewatch-ingest:pi@127.0.0.1:{secured_broker}"
    a = device(secured_broker, MN_A, "pa")
    try:
        with running_worker(url, database_url):
            a.publish(f"hj212/{MN_B}/up", frame(MN_B), qos=1).wait_for_publish(5)  # not allowed
            a.publish(f"hj212/{MN_A}/up", frame(MN_A), qos=1).wait_for_publish(5)
            wait_until(
                lambda: (db.execute("SELECT count(*) FROM frames").fetchone() or (0,))[0] == 1
            )
    finally:
        a.disconnect()
        a.loop_stop()
    assert db.execute("SELECT mn FROM frames").fetchall() == [(MN_A,)]
    assert db.execute("SELECT count(*) FROM dead_letters").fetchone() == (0,)


def test_anonymous_clients_are_refused(secured_broker: int) -> None:
    outcome: list[ReasonCode] = []
    c = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    c.on_connect = lambda _c, _u, _f, reason, _p: outcome.append(reason)
    c.connect("127.0.0.1", secured_broker)
    for _ in range(20):
        c.loop(timeout=0.1)
        if outcome:
            break
    c.disconnect()
    assert outcome and outcome[0].is_failure
    assert outcome[0].getName() == "Not authorized"


def test_ingest_may_read_the_brokers_drop_counter_and_a_logger_may_not(
    secured_broker: int,
) -> None:
    """Mosquitto applies the ACL to $SYS too: without this grant the drop watch sees nothing."""
    from sourcewatch.checks import read_sys_dropped

    ingest = f"mqtt://sourcewatch-ingest:pi@127.0.0.1:{secured_broker}"
    # the broker publishes $SYS every sys_interval (10 s): a young broker may not have yet
    assert read_sys_dropped(ingest, timeout_s=15) == 0
    assert read_sys_dropped(f"mqtt://{MN_A}:pa@127.0.0.1:{secured_broker}", timeout_s=2) is None
