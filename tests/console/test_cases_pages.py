"""The console's case inbox and case page, server-rendered: filters, the chart of hourly means
against the limit, raw values with flags, and the forms that act through
schemas/cases/workflow.py (audited), each refused without the CSRF token."""

from __future__ import annotations

import re

import psycopg
from fastapi.testclient import TestClient

from tests.api.conftest import World
from tests.console.conftest import hidden, login, staff_user


def _rows(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<tr data-case="(\d+)"', html)]


def test_inbox_filters(client: TestClient, db: psycopg.Connection, world: World) -> None:
    staff_user(db, "zhao.lei", "enforcement")
    login(client, "zhao.lei")
    everything = client.get("/staff/?lang=en")
    assert everything.status_code == 200
    assert sorted(_rows(everything.text)) == [1, 2, 3]
    assert "Asia/Shanghai" in everything.text
    assert _rows(client.get("/staff/?kind=outage").text) == [2]
    assert sorted(_rows(client.get("/staff/?state=open").text)) == [1, 2]
    assert sorted(_rows(client.get("/staff/?district=西湖区").text)) == [1, 2, 3]
    assert _rows(client.get("/staff/?district=鄞州区").text) == []
    assert _rows(client.get("/staff/?mine=1").text) == []
    db.execute("UPDATE cases SET assigned_to = 'zhao.lei' WHERE id = 3")
    assert _rows(client.get("/staff/?mine=1").text) == [3]
    assert "Exceedance" in everything.text  # English labels (remembered in a cookie)
    assert "超标" in client.get("/staff/?lang=zh").text


def test_case_page_shows_means_against_the_limit_and_raw_values(
    client: TestClient, db: psycopg.Connection, world: World
) -> None:
    staff_user(db, "zhao.lei", "enforcement")
    db.execute(
        "INSERT INTO case_periods (case_id, period_start, value, limit_value, multiple, compliant)"
        " SELECT 1, hour_start, converted, 100, converted / 100 - 1, false FROM hourly_means"
        " WHERE hour_start = '2026-11-27T01:00Z'"
    )
    login(client, "zhao.lei")
    page = client.get("/staff/cases/1?lang=en").text
    assert 'id="means-chart"' in page and 'data-points="3"' in page
    assert 'id="limit-line"' in page and "Limit 100.00 mg/m³" in page
    assert "2026-11-27 09:00 +08:00" in page  # 01:00 UTC, shown in Asia/Shanghai
    raw = page.split('id="raw"')[1].split("</table>")[0]
    assert raw.count("<tr") == 1 + 4  # header + the SO₂ raw values around the case
    assert "120.000" in raw and "D · " in raw
    assert 'href="/v1/staff/cases/1/evidence.zip"' in page


def test_actions_through_the_workflow_and_csrf(
    client: TestClient, db: psycopg.Connection, world: World
) -> None:
    staff_user(db, "zhao.lei", "enforcement")
    staff_user(db, "wang.wei", "enforcement")
    login(client, "zhao.lei")
    csrf = hidden(client.get("/staff/cases/1").text)
    refused = client.post("/staff/cases/1/acknowledge", data={"note": "x"})
    assert refused.status_code == 403 and "CSRF" in refused.text
    assert (
        client.post("/staff/cases/1/acknowledge", data={"note": "x", "csrf": "forged"}).status_code
        == 403
    )
    assert db.execute("SELECT acknowledged_at FROM cases WHERE id = 1").fetchone() == (None,)
    steps = [
        ("acknowledge", {"note": "seen"}),
        ("assign", {"assignee": "wang.wei"}),
        ("comment", {"text": "called the plant"}),
        ("reply", {"text": "the boiler was starting up"}),
        ("close", {"reason": "start-up, documented"}),
    ]
    for action, data in steps:
        done = client.post(
            f"/staff/cases/1/{action}", data={**data, "csrf": csrf}, follow_redirects=False
        )
        assert done.status_code == 303, (action, done.text[-500:])
        assert done.headers["location"] == f"/staff/cases/1?done={action}"
    events = db.execute(
        "SELECT actor, action FROM case_events WHERE case_id = 1 ORDER BY id"
    ).fetchall()
    assert events == [
        ("zhao.lei", a) for a in ("acknowledged", "assigned", "commented", "replied", "closed")
    ]
    audited = db.execute("SELECT count(*) FROM staff_audit WHERE object_type = 'case'").fetchone()
    assert audited == (5,)
    again = client.post("/staff/cases/1/close", data={"reason": "again", "csrf": csrf})
    assert again.status_code == 409 and "already closed" in again.text


def test_viewer_reads_but_cannot_act(
    client: TestClient, db: psycopg.Connection, world: World
) -> None:
    staff_user(db, "sun.li", "viewer")
    login(client, "sun.li")
    page = client.get("/staff/cases/1")
    assert page.status_code == 200 and 'id="form-close"' not in page.text
    csrf = hidden(page.text)
    refused = client.post("/staff/cases/1/close", data={"reason": "no", "csrf": csrf})
    assert refused.status_code == 403
    assert db.execute("SELECT state FROM cases WHERE id = 1").fetchone() == ("open",)
