"""The console's case inbox and case page, server-rendered: filters, the chart of hourly means
against the limit, raw values with flags, and the forms that act through
schemas/cases/workflow.py (audited), each refused without the CSRF token."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import psycopg
from fastapi.testclient import TestClient

from tests.api.conftest import World, this_hour
from tests.console.conftest import hidden, login, staff_user

HOUR = timedelta(hours=1)


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


def test_the_running_hour_is_in_progress_on_the_case_page(
    client: TestClient, db: psycopg.Connection, world: World
) -> None:
    """The chart, its table and the judged periods mark an hour not ended as in progress (the
    API's rule, schemas/core/periods.py), not as invalid; a past invalid hour stays invalid."""
    now_hour = this_hour()
    rows = [
        (now_hour - HOUR, 20, False, "20 valid minutes of 60 (≥45 required)"),
        (now_hour, 26, False, "26 valid minutes of 60 (≥45 required)"),
    ]
    db.cursor().executemany(
        "INSERT INTO hourly_means (outlet_id, pollutant, hour_start, source, mean, converted,"
        " valid_count, expected_count, valid, reason, flags)"
        " VALUES (%s, 'a21026', %s, 'min', 150, 150, %s, 60, %s, %s, '{}')",
        [(world.gas, *row) for row in rows],
    )
    db.execute("UPDATE cases SET first_at = %s, last_at = %s WHERE id = 1", (now_hour, now_hour))
    db.execute(
        "INSERT INTO case_periods (case_id, period_start, value, limit_value, multiple, compliant)"
        " VALUES (1, %s, 150, 100, 0.5, false)",
        (now_hour,),
    )
    staff_user(db, "zhao.lei", "viewer")
    login(client, "zhao.lei")
    for lang, running, invalid in (("en", "In progress", "Invalid"), ("zh", "进行中", "无效")):
        page = client.get(f"/staff/cases/1?lang={lang}").text
        chart = page.split('id="means-chart"')[1].split("</svg>")[0]
        assert chart.count('class="invalid"') == 1 and chart.count('class="in-progress"') == 1
        hours = page.split('id="hours"')[1].split("</details>")[0]
        previous, current = (
            hours.split(f'data-hour="{h.isoformat()}"')[1].split("</tr>")[0]
            for h in (now_hour - HOUR, now_hour)
        )
        assert f"<td>{invalid} · 20 valid minutes" in previous
        assert f"<td>{running} · 26 valid minutes" in current and invalid not in current
        assert 'id="in-progress-note"' in hours
        periods = page.split('id="periods"')[1].split("</table>")[0]
        assert f"<td>{running} · 26 valid minutes" in periods
    data = json.loads(page.split('id="means-data">')[1].split("</script>")[0])
    running_flags = [(p["valid"], p["in_progress"]) for p in data["points"]][-2:]
    assert running_flags == [(False, False), (False, True)]
