"""``/v1/reports/annual/{year}`` with the sections of issue 17 — requests, reconsiderations and
lawsuits, channels, year on year — in JSON, CSV and the printable bilingual page, on a small
hand-made year whose numbers are known."""

from __future__ import annotations

from datetime import date

import psycopg
from fastapi.testclient import TestClient

from schemas.disclosure import challenges as ch
from schemas.disclosure import requests as rq
from tests.api.conftest import csv_rows, error_of


def _request(db: psycopg.Connection, channel: str, received: date) -> rq.Request:
    return rq.submit(
        db,
        requester_name="张三",
        contact="x",
        description="某信息",
        preferred_form="paper",
        channel=channel,
        received_on=received,
        actor="li.na",
    ).request


def _year(db: psycopg.Connection) -> None:
    carried = _request(db, "post", date(2024, 12, 20))
    rq.answer(
        db, carried.id, actor="li.na", outcome="already_public", text="a", on=date(2025, 1, 10)
    )
    quick = _request(db, "in_person", date(2025, 3, 3))
    rq.answer(db, quick.id, actor="li.na", outcome="disclosed", text="a", on=date(2025, 3, 10))
    slow = _request(db, "email", date(2025, 9, 23))
    rq.extend(db, slow.id, actor="chen.jie", days=20, reason="r", on=date(2025, 9, 24))
    # 20 + 20 working days after 23 September end in late November: 30 December is late
    rq.answer(db, slow.id, actor="li.na", outcome="not_held", text="a", on=date(2025, 12, 30))
    _request(db, "fax", date(2025, 12, 20))  # still open at the end of the year
    ch.record_challenge(
        db,
        quick.id,
        actor="li.na",
        kind="reconsideration",
        filed_on=date(2025, 4, 1),
        outcome="upheld",
        decided_on=date(2025, 5, 20),
    )
    ch.record_challenge(db, slow.id, actor="li.na", kind="lawsuit", filed_on=date(2025, 12, 31))


def test_report_json_has_the_requests_and_challenges(
    client: TestClient, db: psycopg.Connection
) -> None:
    _year(db)
    body = client.get("/v1/reports/annual/2025").json()
    requests = body["requests"]
    assert requests["received"] == 3
    assert {c["code"]: c["count"] for c in requests["received_by_channel"]} == {
        "online": 0,
        "post": 0,
        "in_person": 1,
        "email": 1,
        "fax": 1,
    }
    assert requests["carried_over"] == 1 and requests["answered"] == 3
    answered = {c["code"]: c["count"] for c in requests["answered_by_outcome"]}
    assert {k: v for k, v in answered.items() if v} == {
        "already_public": 1,
        "disclosed": 1,
        "not_held": 1,
    }
    assert (requests["answered_on_time"], requests["answered_late"]) == (2, 1)
    assert requests["open_at_end"] == 1
    challenges = {k: {c["code"]: c["count"] for c in v} for k, v in body["challenges"].items()}
    assert challenges == {
        "reconsideration": {"upheld": 1, "corrected": 0, "other_result": 0, "pending": 0},
        "lawsuit": {"upheld": 0, "corrected": 0, "other_result": 0, "pending": 1},
    }
    trends = {t["code"]: t for t in body["year_on_year"]}
    assert trends["requests_received"] | {"name": None} == {
        "code": "requests_received",
        "name": None,
        "value": 3,
        "previous": 1,
        "change": 2,
        "change_rate": 2.0,
    }
    assert trends["lawsuits"]["change_rate"] is None  # nothing the year before
    assert [c["count"] for c in body["channels"]] == [0, 0, 0, 0]
    assert body["categories"][0]["code"] == "basic_info"  # the proactive part is still there


def test_report_csv_tables_and_printable_page(client: TestClient, db: psycopg.Connection) -> None:
    _year(db)
    rows = csv_rows(client.get("/v1/reports/annual/2025?format=csv&table=requests").text)
    got = {(r["group"], r["code"]): int(r["count"]) for r in rows}
    assert got[("received", "in_person")] == 1 and got[("answered", "not_held")] == 1
    assert got[("totals", "carried_over")] == 1 and got[("totals", "open_at_end")] == 1
    rows = csv_rows(client.get("/v1/reports/annual/2025?format=csv&table=challenges").text)
    assert {(r["group"], r["code"]) for r in rows if r["count"] == "1"} == {
        ("reconsideration", "upheld"),
        ("lawsuit", "pending"),
    }
    rows = csv_rows(client.get("/v1/reports/annual/2025?format=csv&table=year_on_year").text)
    received = next(r for r in rows if r["code"] == "requests_received")
    assert (received["count"], received["previous"], received["change"]) == ("3", "1", "2")
    categories = csv_rows(client.get("/v1/reports/annual/2025?format=csv").text)
    assert categories[-1]["code"] == "total"  # the default table is unchanged
    error_of(client.get("/v1/reports/annual/2025?format=csv&table=nope"), 422, "table")

    html = client.get("/v1/reports/annual/2025?format=html").text
    assert "收到和处理政府信息公开申请情况" in html and "Requests for information received" in html
    assert "行政复议、行政诉讼情况" in html and "与上年比较" in html
    assert "信息不存在" in html and "Information not held" in html
