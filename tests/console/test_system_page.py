"""The console's "nothing silently missing" page (issue 14): open system alerts with a close form
for admins (schemas/system_alerts.py, checked in the database), the gaps in the data and the
history recall requests with each try and how it ended; viewers read only, a form without its
CSRF token is refused."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import psycopg
from fastapi.testclient import TestClient

from schemas.completeness.record import recount
from schemas.recall import requests as recall
from schemas.recall.gaps import Gap
from schemas.system_alerts import raise_alert
from tests.api.conftest import World
from tests.console.conftest import hidden, login, staff_user


def _alert(db: psycopg.Connection) -> int:
    return raise_alert(
        db,
        "broker-drops",
        "127.0.0.1:1883",
        7,
        message_zh="消息服务器丢弃了 7 条消息",
        message_en="The broker dropped 7 messages",
        details={"dropped": 7},
        at=datetime.now(UTC),
    )


def _recall(db: psycopg.Connection, outlet_id: int) -> int:
    """A recall request for an hour of minute records whose one try was refused: failed."""
    now = datetime.now(UTC).replace(microsecond=0)
    mn = db.execute("SELECT mn FROM outlets WHERE id = %s", (outlet_id,)).fetchone()
    assert mn is not None
    begin = now - timedelta(hours=3)
    gap = Gap(outlet_id, mn[0], "2051", begin, begin + timedelta(hours=1), 42, 60)
    assert recall.open_requests(db, [gap], now) == 1
    rid = db.execute("SELECT id FROM recall_requests").fetchone()
    assert rid is not None
    request = recall.Request(
        rid[0], outlet_id, mn[0], "2051", gap.begin, gap.end, 0, 42, 60, None, None, None
    )
    qn = "20261203100000001"
    recall.mark_sent(db, request, qn=qn, transport="mqtt", now=now, answer_within=timedelta(1))
    sent = dataclasses.replace(request, tries=1, qn=qn, sent_at=now, transport="mqtt")
    recall.finish_try(
        db,
        sent,
        outcome="refused",
        reason="QnRtn 2",
        qn_rtn=2,
        exe_rtn=None,
        packets=0,
        missing_after=42,
        now=now,
        max_tries=1,
        backoff=timedelta(minutes=5),
    )
    return int(rid[0])


def _minutes_with_a_gap(db: psycopg.Connection, outlet_id: int) -> None:
    """Three hours of minute records but for 40 minutes of the second hour."""
    h0 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=5)
    for m in range(3 * 60):
        if not 70 <= m < 110:
            db.execute(
                "INSERT INTO measurements (outlet_id, pollutant, kind, ts, value, flag,"
                " received_at) VALUES (%s, 'a21026', 'min', %s, 1, 'N', now())",
                (outlet_id, h0 + timedelta(minutes=m)),
            )
    recount(db, outlet_id, h0, h0 + timedelta(hours=3))  # the completeness record, as ingest keeps


def test_viewer_sees_alerts_and_recalls_but_cannot_close(
    client: TestClient, db: psycopg.Connection, world: World
) -> None:
    staff_user(db, "zhou.min", "viewer")
    alert = _alert(db)
    rid = _recall(db, world.gas)
    _minutes_with_a_gap(db, world.gas)
    assert client.get("/staff/system", follow_redirects=False).status_code == 303  # login
    login(client, "zhou.min")
    page = client.get("/staff/system?lang=en")
    assert page.status_code == 200 and 'id="nav-system"' in page.text
    assert f'data-alert="{alert}"' in page.text and "The broker dropped 7 messages" in page.text
    assert "Broker dropped messages" in page.text
    assert f"/staff/system/alerts/{alert}/close" not in page.text  # no form for a viewer
    gaps = page.text.split('id="gaps"')[1].split("</table>")[0]
    assert "GAS0001" in gaps and "<td>2051</td>" in gaps and "<td>40</td>" in gaps
    recalls = page.text.split('id="recalls"')[1]
    assert f'data-recall="{rid}"' in recalls
    assert "20261203100000001" in recalls and "QnRtn 2" in recalls and "refused" in recalls
    assert "failed" in recalls and "History recall failed" in page.text  # its system alert
    zh = client.get("/staff/system?lang=zh").text
    assert "未关闭的系统告警" in zh and "消息服务器丢弃了 7 条消息" in zh and "补数请求" in zh
    assert "被拒绝" in zh and "失败" in zh  # the try's outcome and the request's state
    refused = client.post(f"/staff/system/alerts/{alert}/close", data={"csrf": hidden(zh)})
    assert refused.status_code == 403
    state = db.execute("SELECT state FROM system_alerts WHERE id = %s", (alert,)).fetchone()
    assert state == ("open",)


def test_admin_closes_an_alert_with_the_csrf_token(
    client: TestClient, db: psycopg.Connection
) -> None:
    staff_user(db, "chen.jie", "admin")
    alert = _alert(db)
    login(client, "chen.jie")
    page = client.get("/staff/system?lang=en")
    assert f"/staff/system/alerts/{alert}/close" in page.text
    no_csrf = client.post(f"/staff/system/alerts/{alert}/close", data={})
    assert no_csrf.status_code == 403
    row = db.execute("SELECT state, closed_by FROM system_alerts WHERE id = %s", (alert,))
    assert row.fetchone() == ("open", None)
    closed = client.post(f"/staff/system/alerts/{alert}/close", data={"csrf": hidden(page.text)})
    assert closed.status_code == 200 and 'id="done"' in closed.text
    assert f'data-alert="{alert}"' not in closed.text  # no longer open
    row = db.execute("SELECT state, closed_by FROM system_alerts WHERE id = %s", (alert,))
    assert row.fetchone() == ("closed", "chen.jie")
    audited = db.execute(
        "SELECT actor FROM staff_audit WHERE action = 'system_alert.close' AND object_id = %s",
        (str(alert),),
    ).fetchall()
    assert audited == [("chen.jie",)]
    missing = client.post("/staff/system/alerts/999999/close", data={"csrf": hidden(page.text)})
    assert missing.status_code == 404
