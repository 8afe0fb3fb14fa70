"""``/v1/timeliness`` and ``/v1/reports/annual/{year}``: JSON, CSV, HTML and bad parameters."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg.types.json import Jsonb

from schemas.completeness.rates import rates, ratio
from schemas.disclosure.categories import CATEGORIES
from tests.api.conftest import World, csv_rows, error_of
from tests.api.test_completeness import upload

pytestmark = pytest.mark.integration
SHANGHAI = ZoneInfo("Asia/Shanghai")
TITLE = "<script>alert('x')</script> 处罚决定"


def local(y: int, m: int, d: int, hour: int = 10) -> datetime:
    return datetime(y, m, d, hour, tzinfo=SHANGHAI)


def _record(
    db: psycopg.Connection,
    key: str,
    record_type: str,
    category: str,
    status: str,
    formed: datetime,
    due: date | None,
    published: datetime | None = None,
    *,
    enterprise_id: int | None = None,
    title: str = "记录",
    version: int = 1,
) -> None:
    db.execute(
        "INSERT INTO disclosure_records (record_key, version, record_type, category, "
        "enterprise_id, title_zh, title_en, content, origin, status, formed_at, due_on, "
        "created_by, updated_by, published_at, correction_reason, withdrawn_reason) VALUES "
        "(%s, %s, %s, %s, %s, %s, %s, %s, 'staff', %s, %s, %s, 't', 't', %s, %s, %s)",
        (
            key,
            version,
            record_type,
            category,
            enterprise_id,
            title,
            f"EN {title}",
            Jsonb({}),
            status,
            formed,
            due,
            published,
            "fix" if version > 1 else None,
            "error" if status == "withdrawn" else None,
        ),
    )


@pytest.fixture
def records(db: psycopg.Connection) -> int:
    row = db.execute(
        "INSERT INTO enterprises (name_zh, name_en) VALUES ('乙公司', 'B Co.') RETURNING id"
    ).fetchone()
    assert row is not None
    ent = int(row[0])
    pen = ("penalty_decision", "penalty")
    _record(db, "a", *pen, "published", local(2025, 3, 2), date(2025, 3, 11), local(2025, 3, 10))
    _record(
        db,
        "b",
        *pen,
        "published",
        local(2025, 3, 2),
        date(2025, 3, 11),
        local(2025, 3, 12),
        enterprise_id=ent,
        title=TITLE,
    )
    _record(db, "c", *pen, "draft", local(2025, 3, 2), date(2025, 3, 11))
    _record(
        db,
        "d",
        "exceedance_notice",
        "monitoring",
        "superseded",
        local(2025, 5, 1),
        date(2025, 5, 6),
        local(2025, 5, 1, 11),
        enterprise_id=ent,
    )
    _record(
        db,
        "d",
        "exceedance_notice",
        "monitoring",
        "published",
        local(2025, 5, 2),
        date(2025, 5, 8),
        local(2025, 5, 2, 11),
        enterprise_id=ent,
        version=2,
    )
    _record(
        db,
        "e",
        "emergency_event",
        "emergency",
        "withdrawn",
        local(2025, 6, 1),
        date(2025, 6, 30),
        local(2025, 6, 2),
    )
    return ent


def test_scoreboard_json(client: TestClient, records: int) -> None:
    response = client.get("/v1/timeliness", params={"year": 2025})
    assert response.status_code == 200, response.text
    assert "etag" in response.headers
    body = response.json()
    meta = body["meta"]
    assert meta["year"] == 2025 and meta["by"] == "category" and meta["found"] == 9
    assert meta["calendar_known"] is True and meta["calendar_caveat"] is None
    assert meta["period"]["start"]["local"] == "2025-01-01T00:00:00+08:00"
    assert [r["code"] for r in body["results"]] == list(CATEGORIES)
    by = {r["code"]: r for r in body["results"]}
    penalty = by["penalty"]
    assert penalty["name"] == {"zh": "行政处罚", "en": "Administrative penalties"}
    assert (penalty["published_on_time"], penalty["published_late"], penalty["overdue"]) == (
        1,
        1,
        1,
    )
    assert penalty["on_time_rate"] == 0.5
    assert by["monitoring"]["published_on_time"] == 2
    assert by["emergency"]["published_on_time"] == 1  # withdrawn counts as published
    assert by["fees"]["on_time_rate"] is None


def test_scoreboard_by_record_type_and_csv(client: TestClient, records: int) -> None:
    response = client.get("/v1/timeliness", params={"year": 2025, "by": "record_type"})
    assert response.status_code == 200
    results = response.json()["results"]
    by = {r["code"]: r for r in results}
    assert by["exceedance_notice"]["category"] == "monitoring"
    assert by["exceedance_notice"]["published"] == 2
    assert by["penalty_decision"]["deadline_days"] == 7

    for request in (
        {"params": {"year": 2025, "by": "record_type", "format": "csv"}},
        {"params": {"year": 2025, "by": "record_type"}, "headers": {"Accept": "text/csv"}},
    ):
        csv_response = client.get("/v1/timeliness", **request)
        assert csv_response.status_code == 200
        assert csv_response.headers["content-type"].startswith("text/csv")
        rows = csv_rows(csv_response.text)
        assert [r["code"] for r in rows] == [r["code"] for r in results]
        row = next(r for r in rows if r["code"] == "penalty_decision")
        assert row["name_zh"] == "行政处罚决定"
        assert (row["published_on_time"], row["published_late"], row["overdue"]) == ("1", "1", "1")
        assert row["on_time_rate"] == "0.5"


def test_scoreboard_default_year_and_unknown_year(
    client: TestClient, db: psycopg.Connection
) -> None:
    response = client.get("/v1/timeliness")
    assert response.status_code == 200
    assert response.json()["meta"]["year"] == datetime.now(SHANGHAI).year
    later = client.get("/v1/timeliness", params={"year": 2030}).json()["meta"]
    assert later["calendar_known"] is False and "2030" in later["calendar_caveat"]


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"year": "abc"}, "year"),
        ({"year": 1999}, "year"),
        ({"year": 2101}, "year"),
        ({"by": "district"}, "by"),
        ({"format": "xml"}, "format"),
    ],
)
def test_scoreboard_bad_parameters(
    client: TestClient, db: psycopg.Connection, params: dict[str, object], parameter: str
) -> None:
    error_of(client.get("/v1/timeliness", params=params), 422, parameter)  # type: ignore[arg-type]


def test_annual_report_json(client: TestClient, records: int) -> None:
    response = client.get("/v1/reports/annual/2025")
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["year"] == 2025 and report["year_complete"] is True
    assert report["calendar_known"] is True and report["calendar_caveat"] is None
    cats = {row["code"]: row for row in report["categories"]}
    assert list(cats) == list(CATEGORIES)
    assert cats["penalty"]["published"] == 2 and cats["penalty"]["late"] == 1
    assert cats["penalty"]["overdue"] == 1
    assert cats["monitoring"]["published"] == 2 and cats["monitoring"]["corrections"] == 1
    assert cats["monitoring"]["exceedance_notices"] == 2
    assert cats["emergency"]["withdrawals"] == 1
    total = report["total"]
    assert total["code"] == "total"
    assert (total["published"], total["on_time"], total["late"]) == (5, 4, 1)
    assert total["on_time_rate"] == 0.8
    assert total["exceedance_notices"] == 2 and total["enterprises"] == 1
    kinds = sorted(item["kind"] for item in report["exceptions"])
    assert kinds == ["late", "overdue", "withdrawn"]
    late = next(i for i in report["exceptions"] if i["kind"] == "late")
    assert late["title"]["zh"] == TITLE and late["working_days_late"] == 1
    assert late["enterprise_name"] == "乙公司"
    assert report["exceptions_found"] == 3
    assert report["generated_at"]["utc"]


def test_annual_report_csv(client: TestClient, records: int) -> None:
    for request in (
        {"params": {"format": "csv"}},
        {"headers": {"Accept": "text/csv"}},
    ):
        response = client.get("/v1/reports/annual/2025", **request)  # type: ignore[arg-type]
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        rows = csv_rows(response.text)
        assert [r["code"] for r in rows] == [*CATEGORIES, "total"]
        total = rows[-1]
        assert (total["year"], total["published"], total["on_time_rate"]) == ("2025", "5", "0.8")
        assert rows[CATEGORIES.index("penalty")]["name_en"] == "Administrative penalties"


def test_annual_report_html_is_escaped_and_printable(client: TestClient, records: int) -> None:
    for request in (
        {"params": {"format": "html"}},
        {"headers": {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}},
    ):
        response = client.get("/v1/reports/annual/2025", **request)  # type: ignore[arg-type]
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        html = response.text
        assert "<script>" not in html
        assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; 处罚决定" in html
        assert "@media print" in html
        assert "2025年度污染源监管信息公开工作报告" in html
        assert "Annual report on the disclosure" in html
        assert "行政处罚" in html and "Administrative penalties" in html
        assert "80.0%" in html  # the overall on-time rate


def test_annual_report_unknown_year_carries_the_caveat(
    client: TestClient, db: psycopg.Connection
) -> None:
    report = client.get("/v1/reports/annual/2027").json()
    assert report["calendar_known"] is False
    assert "2027" in report["calendar_caveat"]
    html = client.get("/v1/reports/annual/2027", params={"format": "html"}).text
    assert 'class="caveat"' in html and "Monday to Friday" in html


@pytest.mark.parametrize(
    ("path", "params", "parameter"),
    [
        ("/v1/reports/annual/abc", {}, "year"),
        ("/v1/reports/annual/1999", {}, "year"),
        ("/v1/reports/annual/2101", {}, "year"),
        ("/v1/reports/annual/2025", {"format": "pdf"}, "format"),
    ],
)
def test_annual_report_bad_parameters(
    client: TestClient,
    db: psycopg.Connection,
    path: str,
    params: dict[str, str],
    parameter: str,
) -> None:
    error_of(client.get(path, params=params), 422, parameter)


def test_openapi_documents_the_formats(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    annual = paths["/v1/reports/annual/{year}"]["get"]["responses"]
    assert set(annual["200"]["content"]) == {"application/json", "text/csv", "text/html"}
    assert "422" in annual
    scoreboard = paths["/v1/timeliness"]["get"]["responses"]
    assert set(scoreboard["200"]["content"]) == {"application/json", "text/csv"}


def test_annual_report_gives_each_outlets_transmission_rates(
    client: TestClient, world: World, db: psycopg.Connection
) -> None:
    """The year's headline rates per outlet: the quarters' rates of schemas/completeness added
    up, in JSON and on the printable page."""
    upload(db, world.gas)  # 2026-11-28, hourly data 46 of 48
    report = client.get("/v1/reports/annual/2026").json()
    (row,) = report["transmission"]
    now = datetime.now(ZoneInfo("UTC"))
    quarters = [
        r
        for r in rates(db, world.gas, "quarter", date(2026, 1, 1), date(2026, 12, 31), now=now)
        if r.headline
    ]
    assert (row["outlet_id"], row["kind"]) == (world.gas, "hour")
    assert row["outlet_name"]["zh"] == "1号排口"
    assert row["enterprise_name"]["zh"] == "杭州热电有限公司"
    assert row["received"] == sum(r.received for r in quarters) == 46
    assert row["valid"] == sum(r.valid for r in quarters) == 46
    assert row["expected"] == sum(r.expected for r in quarters) > 48  # due every hour since
    # the rates' own rounding (half to even on the exact quotient): float round() of 46 / 320
    # gives 0.1437, the rule 0.1438, and the expected hours reach 320 at one hour of the day
    assert row["transmission_validity_rate"] == float(ratio(46, row["expected"]))
    assert row["meets_target"] is False and report["transmission_meeting_target"] == 0
    assert row["rules_confirmed"] is False
    html = client.get("/v1/reports/annual/2026", params={"format": "html"}).text
    assert "自动监控数据传输有效率" in html and "Transmission-validity rate" in html
    assert client.get("/v1/reports/annual/2025").json()["transmission"] == []
