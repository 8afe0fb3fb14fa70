"""/v1/outlets: list, detail with the limits in force and their sources, latest values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from fastapi.testclient import TestClient

from tests.api.conftest import World, assert_csv_equals_json, csv_rows, error_of
from tests.fixtures.staff import staff_headers


def by(client: TestClient, query: str) -> list[int]:
    return [o["id"] for o in client.get(f"/v1/outlets?{query}").json()["results"]]


def latest_of(client: TestClient, outlet: int) -> dict[str, dict[str, Any]]:
    results = client.get(f"/v1/outlets/{outlet}/latest").json()["results"]
    return {v["pollutant"]["code"]: v for v in results}


def test_list_and_filters(client: TestClient, world: World) -> None:
    body = client.get("/v1/outlets").json()
    assert body["meta"]["found"] == 2
    assert [o["id"] for o in body["results"]] == [world.gas, world.water]
    assert [o["kind"] for o in body["results"]] == ["gas", "water"]
    assert by(client, f"enterprise_id={world.ningbo}") == [world.water]
    assert by(client, "kind=gas") == [world.gas]
    assert by(client, "active=false") == []
    assert by(client, "q=da001") == [world.gas]
    assert by(client, "q=stack") == [world.gas]
    error_of(client.get("/v1/outlets?kind=air"), 422, "kind")
    error_of(client.get("/v1/outlets?active=maybe"), 422, "active")


def test_outlets_csv_equals_json(client: TestClient, world: World) -> None:
    results = client.get("/v1/outlets").json()["results"]
    assert_csv_equals_json(client.get("/v1/outlets?format=csv").text, results)


def test_detail_lists_limits_in_force_with_their_sources(client: TestClient, world: World) -> None:
    body = client.get(f"/v1/outlets/{world.gas}?on=2026-11-27").json()
    assert body["enterprise"] == {  # the one EnterpriseRef: with the district, as on cases
        "id": world.hangzhou,
        "name": {"zh": "杭州热电有限公司", "en": "Hangzhou Thermal Power Co."},
        "district": "西湖区",
    }
    assert body["limits_on"] == "2026-11-27"
    limits = {(lim["pollutant"]["code"], lim["period"]): lim for lim in body["limits"]}
    so2_hour = limits[("a21026", "hour")]
    assert so2_hour["source"] == "standard"
    assert so2_hour["standard"] == "GB 13223-2011" and so2_hour["category"] == "coal-boiler-new"
    assert so2_hour["value"] == 100.0 and so2_hour["unit"] == "mg/m³"
    assert so2_hour["reference_o2"] == 6.0
    assert so2_hour["source_document"].startswith("GB 13223-2011")
    assert so2_hour["pollutant"]["name"] == {"zh": "二氧化硫", "en": "sulfur dioxide (SO2)"}
    so2_day = limits[("a21026", "day")]
    assert so2_day["source"] == "outlet" and so2_day["value"] == 80.0
    assert so2_day["source_document"] == "排污许可证 91330100000000001A001P"
    assert so2_day["clause"] == "表 2" and so2_day["standard"] is None
    before = client.get(f"/v1/outlets/{world.gas}?on=2025-12-31").json()["limits"]
    assert ("a21026", "day") not in {(lim["pollutant"]["code"], lim["period"]) for lim in before}
    assert client.get(f"/v1/outlets/{world.water}").json()["limits"] == []


def test_detail_errors(client: TestClient, world: World) -> None:
    error_of(client.get("/v1/outlets/424242"), 404, "outlet_id")
    error_of(client.get(f"/v1/outlets/{world.gas}?on=yesterday"), 422, "on")


def test_latest_value_per_pollutant_with_flag_and_validity(
    client: TestClient, world: World, db: psycopg.Connection
) -> None:
    body = client.get(f"/v1/outlets/{world.gas}/latest").json()
    assert body["outlet_id"] == world.gas
    latest = {v["pollutant"]["code"]: v for v in body["results"]}
    assert set(latest) == {"a21026", "a19001"}
    so2 = latest["a21026"]
    assert so2["datetime"] == {"utc": "2026-11-27T02:30:00Z", "local": "2026-11-27T10:30:00+08:00"}
    assert (so2["kind"], so2["value"], so2["converted"], so2["valid"]) == (
        "rtd",
        120.0,
        130.0,
        True,
    )
    assert so2["flag"] == {
        "code": "N",
        "name": {"zh": "在线监控（监测）仪器仪表工作正常", "en": "normal"},
    }
    o2 = latest["a19001"]
    assert o2["valid"] is False and o2["flag"]["code"] == "C"
    assert o2["pollutant"]["unit"] == {"zh": "%", "en": "%"}
    # A newer hourly value wins over older real-time data; unknown flags have no names.
    db.execute(
        "INSERT INTO measurements (outlet_id, pollutant, kind, ts, value, flag, received_at) "
        "VALUES (%s, 'a21026', 'hour', '2026-11-27T03:00:00Z', 99, 'X', now())",
        (world.gas,),
    )
    so2 = latest_of(client, world.gas)["a21026"]
    assert (so2["kind"], so2["value"], so2["valid"]) == ("hour", 99.0, False)
    assert so2["flag"] == {"code": "X", "name": None}
    assert client.get(f"/v1/outlets/{world.water}/latest").json()["results"] == []
    error_of(client.get("/v1/outlets/424242/latest"), 404, "outlet_id")


def test_latest_csv_equals_json(client: TestClient, world: World) -> None:
    results = client.get(f"/v1/outlets/{world.gas}/latest").json()["results"]
    response = client.get(f"/v1/outlets/{world.gas}/latest", headers={"Accept": "text/csv"})
    assert_csv_equals_json(response.text, results)


def test_an_outlet_says_whether_it_is_judged_and_why_not(
    client: TestClient, db: psycopg.Connection, world: World
) -> None:
    recent = datetime.now(UTC) - timedelta(hours=1)
    for code in ("a21026", "a21024"):  # SO2 is limited for this outlet, HCl is not
        db.execute(
            "INSERT INTO measurements (outlet_id, pollutant, kind, ts, value, flag, received_at)"
            " VALUES (%s, %s, 'min', %s, 3.5, 'N', %s)",
            (world.gas, code, recent, recent),
        )
    gas = client.get(f"/v1/outlets/{world.gas}").json()
    assert gas["judged"] is False
    assert gas["not_judged"] == [
        {
            "code": "pollutant_without_limit",
            "pollutant": "a21024",
            "reason": {
                "zh": f"a21024（氯化氢）有监测数据，但{gas['limits_on']}没有现行限值",
                "en": f"a21024 (hydrogen chloride) is measured but has no limit in force on"
                f" {gas['limits_on']}",
            },
        }
    ]
    listed = {o["id"]: o for o in client.get("/v1/outlets").json()["results"]}
    assert listed[world.gas]["not_judged"] == gas["not_judged"]
    water = listed[world.water]
    assert (water["judged"], [r["code"] for r in water["not_judged"]]) == (False, ["no_limits"])
    assert water["not_judged"][0]["reason"]["en"].startswith("no limit in force on")
    db.execute("DELETE FROM measurements WHERE pollutant = 'a21024'")
    assert client.get(f"/v1/outlets/{world.gas}").json()["judged"] is True
    rows = csv_rows(client.get("/v1/outlets?format=csv").text)
    assert {r["id"]: r["judged"] for r in rows} == {
        str(world.gas): "true",
        str(world.water): "false",
    }


def test_open_fault_and_pattern_cases_are_not_public(
    client: TestClient, db: psycopg.Connection, world: World
) -> None:
    """Issue 15: counts of open fault and pattern cases tip off an enterprise being screened.
    No public resource (JSON, CSV, portal, widget) carries them; staff still see them."""
    for n, kind in enumerate(("fault", "pattern", "pattern")):
        db.execute(
            "INSERT INTO cases (kind, outlet_id, pollutant, period, subject, state, severity,"
            " first_at, last_at) VALUES (%s, %s, 'a21026', 'hour', %s, 'open', 'warning',"
            " now(), now())",
            (kind, world.gas, f"screening {n}"),
        )
    public = [
        client.get(f"/v1/outlets/{world.gas}").text,
        client.get("/v1/outlets").text,
        client.get("/v1/outlets?format=csv").text,
        client.get(f"/v1/enterprises/{world.hangzhou}").text,
        client.get(f"/v1/enterprises/{world.hangzhou}?format=csv").text,
        client.get(f"/portal/enterprises/{world.hangzhou}").text,
    ]
    for text in public:
        assert "pattern" not in text and "fault" not in text, text[:300]
    detail = client.get(f"/v1/outlets/{world.gas}").json()
    assert detail["status"]["open_cases"] == {"exceedance": 1, "outage": 1}
    viewer = staff_headers(db, "li.na", "viewer")
    staff = client.get(f"/v1/staff/outlets/{world.gas}", headers=viewer).json()
    assert staff["open_cases"] == {"exceedance": 1, "outage": 1, "fault": 1, "pattern": 2}
