"""/v1/exceedances: the public view of exceedance cases (no staff data), filters, CSV, ETag.

The cases (shared with test_stats and test_feeds), inserted in SQL:

* Hangzhou (西湖区), gas outlet: case ``hourly`` — open, a21026 hourly, two periods (exceeding
  ×0.5, then compliant), an assignee and an acknowledger, and among its events a staff comment
  and an assignment (never public), plus opened and escalated;
* Ningbo (鄞州区), water outlet: case ``daily`` — closed, w01018 daily, opened and closed;
* an outage case on the gas outlet (never an exceedance notice);
* three hourly means of a21026 on 2026-11-27 UTC (two valid).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg.types.json import Jsonb

from tests.api.conftest import assert_csv_equals_json, csv_rows, error_of, this_hour
from tests.fixtures.registry import add_outlet

SECRETS = ("SECRET-COMMENT-7731", "inspector-wang", "chief-li", "commented", "assigned")


def utc(hour: int, minute: int = 0, day: int = 27) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


@dataclass(frozen=True)
class Cases:
    hangzhou: int
    ningbo: int
    gas: int
    water: int
    hourly: int
    daily: int
    outage: int


def _case(db: psycopg.Connection, **values: Any) -> int:
    row = db.execute(
        "INSERT INTO cases (kind, outlet_id, pollutant, period, limit_id, subject, state, "
        "severity, opened_at, first_at, last_at, closed_at, close_reason, max_multiple, "
        "acknowledged_at, acknowledged_by, assigned_to, escalated_at, details) VALUES "
        "(%(kind)s, %(outlet)s, %(pollutant)s, %(period)s, %(limit_id)s, %(subject)s, %(state)s,"
        " %(severity)s, %(opened_at)s, %(first_at)s, %(last_at)s, %(closed_at)s, "
        "%(close_reason)s, %(max_multiple)s, %(ack_at)s, %(ack_by)s, %(assigned)s, "
        "%(escalated_at)s, %(details)s) RETURNING id",
        {
            "kind": "exceedance",
            "pollutant": "a21026",
            "period": "hour",
            "limit_id": 1,
            "subject": "standard",
            "state": "open",
            "severity": "warning",
            "closed_at": None,
            "close_reason": None,
            "max_multiple": None,
            "ack_at": None,
            "ack_by": None,
            "assigned": None,
            "escalated_at": None,
            "details": Jsonb({}),
            **values,
        },
    ).fetchone()
    assert row is not None
    return int(row[0])


def _limit_details(limit: str, unit: str, o2: str | None, document: str) -> dict[str, Any]:
    return {
        "limit": limit,
        "limit_min": None,
        "unit": unit,
        "reference_o2": o2,
        "limit_source": "standard",
        "standard": " ".join(document.split(" ")[:2]),
        "category": "x",
        "source_document": document,
        "clause": "表 1",
        "limit_confirmed": True,
        "limit_version": 1,
    }


def _event(
    db: psycopg.Connection,
    case: int,
    at: datetime,
    actor: str,
    action: str,
    detail: dict[str, Any] | None = None,
) -> None:
    db.execute(
        "INSERT INTO case_events (case_id, at, actor, action, severity, detail) "
        "VALUES (%s, %s, %s, %s, 'warning', %s)",
        (case, at, actor, action, Jsonb(detail or {})),
    )


def make_cases(db: psycopg.Connection) -> Cases:
    gas = add_outlet(db, "GAS0001", kind="gas", uscc="91330100000000001A")
    water = add_outlet(db, "WAT0001", kind="water", uscc="91330200000000002B")
    for uscc, zh, en, district in [
        ("91330100000000001A", "杭州热电有限公司", "Hangzhou Thermal Power Co.", "西湖区"),
        ("91330200000000002B", "宁波污水处理厂", "Ningbo Wastewater Plant", "鄞州区"),
    ]:
        db.execute(
            "UPDATE enterprises SET name_zh = %s, name_en = %s, district = %s WHERE uscc = %s",
            (zh, en, district, uscc),
        )
    db.execute("UPDATE outlets SET code = 'DA001', name_en = 'Stack 1' WHERE id = %s", (gas,))
    ids = [r[0] for r in db.execute("SELECT id FROM enterprises ORDER BY uscc")]
    gas_limit = _limit_details("100", "mg/m³", "6", "GB 13223-2011 火电厂大气污染物排放标准")
    hourly = _case(
        db,
        outlet=gas,
        opened_at=utc(2, 5),
        first_at=utc(1),
        last_at=utc(2),
        max_multiple=0.5,
        severity="major",
        escalated_at=utc(3),
        ack_at=utc(4),
        ack_by="chief-li",
        assigned="inspector-wang",
        details=Jsonb({"limit_source": "standard"}),
    )
    for start, value, multiple, compliant in [(utc(1), 150, 0.5, False), (utc(2), 90, 0, True)]:
        db.execute(
            "INSERT INTO case_periods (case_id, period_start, value, limit_value, multiple, "
            "compliant, details) VALUES (%s, %s, %s, 100, %s, %s, %s)",
            (
                hourly,
                start,
                value,
                multiple,
                compliant,
                Jsonb({**gas_limit, "value": str(value), "coverage": "50/60"}),
            ),
        )
    _event(db, hourly, utc(2, 5), "evaluator", "opened", gas_limit)
    _event(db, hourly, utc(3), "evaluator", "escalated")
    _event(db, hourly, utc(4), "inspector-wang", "commented", {"text": "SECRET-COMMENT-7731"})
    _event(db, hourly, utc(4, 1), "chief-li", "assigned", {"to": "inspector-wang"})
    day_start = datetime(2026, 11, 26, 16, tzinfo=UTC)  # 2026-11-27 00:00 Asia/Shanghai
    daily = _case(
        db,
        outlet=water,
        pollutant="w01018",
        period="day",
        state="closed",
        opened_at=utc(1),
        first_at=day_start,
        last_at=day_start,
        closed_at=utc(5),
        max_multiple=0.2,
        close_reason="3 consecutive compliant means",
    )
    db.execute(
        "INSERT INTO case_periods (case_id, period_start, value, limit_value, multiple, "
        "compliant, details) VALUES (%s, %s, 120, 100, 0.2, false, %s)",
        (daily, day_start, Jsonb(_limit_details("100", "mg/L", None, "GB 8978-1996 污水综合"))),
    )
    _event(db, daily, utc(1), "evaluator", "opened")
    _event(db, daily, utc(5), "evaluator", "closed", {"reason": "3 consecutive compliant means"})
    outage = _case(
        db,
        kind="outage",
        outlet=gas,
        pollutant="",
        period="",
        limit_id=0,
        subject="",
        first_at=utc(0),
        last_at=utc(0),
        opened_at=utc(0),
    )
    _event(db, outage, utc(0), "evaluator", "opened")
    for hour, valid in [(0, True), (1, True), (2, False)]:
        db.execute(
            "INSERT INTO hourly_means (outlet_id, pollutant, hour_start, source, mean, "
            "valid_count, expected_count, valid, reason) VALUES (%s, 'a21026', %s, 'min', 80, "
            "%s, 60, %s, %s)",
            (gas, utc(hour), 50 if valid else 20, valid, None if valid else "20 valid < 45"),
        )
    return Cases(ids[0], ids[1], gas, water, hourly, daily, outage)


@pytest.fixture
def cases(db: psycopg.Connection) -> Cases:
    return make_cases(db)


def ids(client: TestClient, query: str = "") -> list[int]:
    response = client.get(f"/v1/exceedances?{query}")
    assert response.status_code == 200, response.text
    return [n["id"] for n in response.json()["results"]]


def assert_no_secrets(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, secret


def test_list_is_public_view_of_exceedances_only(client: TestClient, cases: Cases) -> None:
    body = client.get("/v1/exceedances").json()
    assert body["meta"] == {"page": 1, "limit": 100, "found": 2, "next": None}
    assert [n["id"] for n in body["results"]] == [cases.hourly, cases.daily]  # newest first
    first = body["results"][0]
    assert first["enterprise"] == {
        "id": cases.hangzhou,
        "name": {"zh": "杭州热电有限公司", "en": "Hangzhou Thermal Power Co."},
        "district": "西湖区",
    }
    assert first["outlet"] == {
        "id": cases.gas,
        "code": "DA001",
        "name": {"zh": "1号排口", "en": "Stack 1"},
    }
    assert first["pollutant"]["code"] == "a21026" and first["pollutant"]["name"]["zh"]
    assert first["period"] == "hour" and first["state"] == "open"
    assert first["first_period"]["start"] == {
        "utc": "2026-11-27T01:00:00Z",
        "local": "2026-11-27T09:00:00+08:00",
    }
    assert first["first_period"]["end"]["utc"] == "2026-11-27T02:00:00Z"
    assert first["last_period"]["end"]["utc"] == "2026-11-27T03:00:00Z"
    assert first["max_multiple"] == 0.5
    assert first["escalated"]["utc"] == "2026-11-27T03:00:00Z"
    assert first["limit"] == {
        "value": 100.0,
        "value_min": None,
        "unit": "mg/m³",
        "reference_o2": 6.0,
        "source": "standard",
        "standard": "GB 13223-2011",
        "source_document": "GB 13223-2011 火电厂大气污染物排放标准",
        "clause": "表 1",
        "confirmed": True,
    }
    assert first["quality"]["reviewed_by_authority"] is False
    assert first["quality"]["notice"]["zh"] == (
        "实时公布数据属于企业自行监测数据，未经环境保护主管部门审核"
    )
    daily = body["results"][1]
    assert daily["state"] == "closed" and daily["close_reason"] == "3 consecutive compliant means"
    assert daily["first_period"]["start"]["local"] == "2026-11-27T00:00:00+08:00"
    assert daily["first_period"]["end"]["local"] == "2026-11-28T00:00:00+08:00"
    assert daily["closed"]["utc"] == "2026-11-27T05:00:00Z"


def test_detail_has_periods_and_public_transitions_only(client: TestClient, cases: Cases) -> None:
    response = client.get(f"/v1/exceedances/{cases.hourly}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert [t["action"] for t in body["transitions"]] == ["opened", "escalated"]
    assert set(body["transitions"][0]) == {"action", "at", "severity"}
    assert body["periods"][0] == {
        "period": {
            "start": {"utc": "2026-11-27T01:00:00Z", "local": "2026-11-27T09:00:00+08:00"},
            "end": {"utc": "2026-11-27T02:00:00Z", "local": "2026-11-27T10:00:00+08:00"},
        },
        "value": 150.0,
        "limit": 100.0,
        "multiple": 0.5,
        "compliant": False,
        "coverage": "50/60",
        "validity": {"valid": True, "reason": None, "in_progress": False},
    }
    assert body["periods"][1]["compliant"] is True
    # the mean of 02:00 was invalidated: shown as such
    assert body["periods"][1]["validity"] == {
        "valid": False,
        "reason": "20 valid < 45",
        "in_progress": False,
    }
    daily = client.get(f"/v1/exceedances/{cases.daily}").json()
    assert [t["action"] for t in daily["transitions"]] == ["opened", "closed"]
    assert daily["periods"][0]["validity"] == {
        "valid": None,
        "reason": None,
        "in_progress": False,
    }


def test_a_period_not_ended_is_in_progress(
    client: TestClient, db: psycopg.Connection, cases: Cases
) -> None:
    """A case judged on the running hour (or the outlet's current local day) shows that period
    in progress: its mean's validity so far is not final (schemas/core/periods.py)."""
    hour = this_hour()
    shanghai = ZoneInfo("Asia/Shanghai")
    today = datetime.now(shanghai).replace(hour=0, minute=0, second=0, microsecond=0)
    for case, start in [(cases.hourly, hour), (cases.daily, today)]:
        db.execute(
            "INSERT INTO case_periods (case_id, period_start, value, limit_value, multiple, "
            "compliant, details) VALUES (%s, %s, 150, 100, 0.5, false, %s)",
            (case, start, Jsonb({"value": "150", "coverage": "46/60"})),
        )
    db.execute(
        "INSERT INTO hourly_means (outlet_id, pollutant, hour_start, source, mean, valid_count,"
        " expected_count, valid, reason) VALUES (%s, 'a21026', %s, 'min', 150, 46, 60, true, null)",
        (cases.gas, hour),
    )
    hourly = client.get(f"/v1/exceedances/{cases.hourly}").json()["periods"]
    assert [p["validity"]["in_progress"] for p in hourly] == [False, False, True]
    assert hourly[-1]["validity"] == {"valid": True, "reason": None, "in_progress": True}
    daily = client.get(f"/v1/exceedances/{cases.daily}").json()["periods"]
    assert [p["validity"]["in_progress"] for p in daily] == [False, True]
    assert daily[-1]["period"]["start"]["local"] == today.isoformat()


def test_staff_data_never_appears(client: TestClient, cases: Cases) -> None:
    texts = [
        client.get("/v1/exceedances").text,
        client.get("/v1/exceedances?format=csv").text,
        client.get(f"/v1/exceedances/{cases.hourly}").text,
        client.get(f"/v1/exceedances/{cases.daily}").text,
    ]
    for text in texts:
        assert_no_secrets(text)
        for key in ("assigned", "acknowledged", "actor", "comment"):
            assert key not in text


def test_outage_is_not_an_exceedance(client: TestClient, cases: Cases) -> None:
    error_of(client.get(f"/v1/exceedances/{cases.outage}"), 404, "case_id")
    error_of(client.get("/v1/exceedances/999999"), 404, "case_id")


def test_filters(client: TestClient, cases: Cases) -> None:
    assert ids(client, f"enterprise_id={cases.ningbo}") == [cases.daily]
    assert ids(client, f"outlet_id={cases.gas}") == [cases.hourly]
    assert ids(client, "district=西湖区") == [cases.hourly]
    assert ids(client, "district=nowhere") == []
    assert ids(client, "pollutant=w01018") == [cases.daily]
    assert ids(client, "state=open") == [cases.hourly]
    assert ids(client, "state=closed") == [cases.daily]
    assert ids(client, "period=day") == [cases.daily]
    assert ids(client, "since=2026-11-27T02:00:00Z") == [cases.hourly]
    assert ids(client, "until=2026-11-27T00:00:00Z") == [cases.daily]
    assert ids(client, "since=2026-11-27T08:00:00") == [cases.hourly]  # local time
    assert ids(client, "until=2026-11-26") == []


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("state=pending", "state"),
        ("period=month", "period"),
        ("enterprise_id=0", "enterprise_id"),
        ("outlet_id=abc", "outlet_id"),
        ("since=yesterday", "since"),
        ("until=2026-13-01", "until"),
        ("limit=1001", "limit"),
        ("format=xml", "format"),
        ("district=a%00b", "district"),
    ],
)
def test_bad_parameters(client: TestClient, cases: Cases, query: str, parameter: str) -> None:
    error_of(client.get(f"/v1/exceedances?{query}"), 422, parameter)


def test_bad_id(client: TestClient, cases: Cases) -> None:
    error_of(client.get("/v1/exceedances/abc"), 422, "case_id")


def test_paging_and_csv(client: TestClient, cases: Cases) -> None:
    body = client.get("/v1/exceedances?limit=1").json()
    assert body["meta"]["found"] == 2 and body["meta"]["next"] is not None
    second = client.get("/v1/exceedances?limit=1&page=2").json()
    assert [n["id"] for n in second["results"]] == [cases.daily]
    response = client.get("/v1/exceedances", headers={"Accept": "text/csv"})
    assert response.headers["content-type"].startswith("text/csv")
    results = client.get("/v1/exceedances").json()["results"]
    assert_csv_equals_json(response.text, results)
    rows = csv_rows(response.text)
    assert rows[0]["limit_source_document"] == "GB 13223-2011 火电厂大气污染物排放标准"
    assert rows[0]["quality_notice_zh"].startswith("实时公布数据")


def test_etag_304(client: TestClient, cases: Cases) -> None:
    for url in ("/v1/exceedances", f"/v1/exceedances/{cases.hourly}"):
        first = client.get(url)
        assert first.headers["cache-control"].startswith("public, max-age=")
        again = client.get(url, headers={"If-None-Match": first.headers["etag"]})
        assert again.status_code == 304 and again.content == b""


def test_a_close_reason_written_by_staff_is_not_public(
    client: TestClient, cases: Cases, db: psycopg.Connection
) -> None:
    db.execute(
        "UPDATE cases SET close_reason = 'closed after a call with the plant manager' WHERE id = %s",
        (cases.daily,),
    )
    _event(db, cases.daily, utc(6), "inspector.li", "closed", {"reason": "internal"})
    body = client.get(f"/v1/exceedances/{cases.daily}").json()
    assert body["state"] == "closed" and body["close_reason"] is None
    assert "plant manager" not in client.get("/v1/exceedances?format=csv").text
