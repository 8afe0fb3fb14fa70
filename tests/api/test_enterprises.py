"""/v1/enterprises: filters, places, sorting, paging edges, detail with outlet status."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import World, assert_csv_equals_json, error_of


def ids(client: TestClient, query: str) -> list[int]:
    response = client.get(f"/v1/enterprises?{query}")
    assert response.status_code == 200, response.text
    return [e["id"] for e in response.json()["results"]]


def test_list_has_bilingual_names_and_locations(client: TestClient, world: World) -> None:
    body = client.get("/v1/enterprises").json()
    assert body["meta"] == {"page": 1, "limit": 100, "found": 3, "next": None}
    first = body["results"][0]
    assert first == {
        "id": world.hangzhou,
        "uscc": "91330100000000001A",
        "name": {"zh": "杭州热电有限公司", "en": "Hangzhou Thermal Power Co."},
        "address": "杭州市西湖区",
        "district": "西湖区",
        "industry": "thermal power",
        "control_level": "national",
        "location": {"longitude": 120.15, "latitude": 30.28},
        "distance_m": None,
    }
    assert body["results"][2]["location"] is None


def test_filters(client: TestClient, world: World) -> None:
    assert ids(client, "q=热电") == [world.hangzhou]
    assert ids(client, "q=WASTEWATER") == [world.ningbo]
    assert ids(client, "q=%25") == []  # no LIKE wildcards
    assert ids(client, "uscc=91330300000000003C") == [world.nowhere]
    assert ids(client, "district=鄞州区") == [world.ningbo]
    assert ids(client, "industry=thermal power") == [world.hangzhou]
    assert ids(client, "control_level=provincial") == [world.ningbo]
    assert ids(client, "bbox=120,30,121,31") == [world.hangzhou]
    assert ids(client, "bbox=-180,-90,180,90") == [world.hangzhou, world.ningbo]


def test_near_with_radius_gives_distances(client: TestClient, world: World) -> None:
    body = client.get("/v1/enterprises?near=120.15,30.29&radius_m=5000").json()
    assert [e["id"] for e in body["results"]] == [world.hangzhou]
    assert body["results"][0]["distance_m"] == pytest.approx(1112, abs=5)  # 0.01° of latitude
    far = client.get("/v1/enterprises?near=120.15,30.29&radius_m=100000").json()["results"]
    assert [e["id"] for e in far] == [world.hangzhou]  # Ningbo is ~140 km away
    assert ids(client, "near=121.5,29.9&radius_m=100000&sort=distance") == [world.ningbo]
    assert ids(client, "near=121.5,29.9&radius_m=100000") == [world.ningbo]


def test_sorting(client: TestClient, world: World) -> None:
    assert ids(client, "sort=-id") == [world.nowhere, world.ningbo, world.hangzhou]
    assert ids(client, "sort=district")[-1] == world.nowhere  # NULLs last
    error_of(client.get("/v1/enterprises?sort=distance"), 422, "sort")
    error_of(client.get("/v1/enterprises?sort=size"), 422, "sort")


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("bbox=1,2,3", "bbox"),
        ("bbox=121,30,120,31", "bbox"),
        ("bbox=0,0,200,10", "bbox"),
        ("near=120.1", "near"),
        ("near=abc,def", "near"),
        ("near=120,95", "near"),
        ("near=120,30&radius_m=0", "radius_m"),
        ("near=120,30&radius_m=100001", "radius_m"),
        ("control_level=county", "control_level"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=ten", "limit"),
        ("page=0", "page"),
        ("format=xml", "format"),
        ("q=a%00b", "q"),
    ],
)
def test_bad_parameters_are_422_naming_them(
    client: TestClient, world: World, query: str, parameter: str
) -> None:
    error = error_of(client.get(f"/v1/enterprises?{query}"), 422, parameter)
    assert error["code"] == "invalid_parameter"
    assert parameter in error["message"]


def test_pagination_edges(client: TestClient, world: World) -> None:
    first = client.get("/v1/enterprises?limit=1").json()
    assert first["meta"] == {
        "page": 1,
        "limit": 1,
        "found": 3,
        "next": "http://testserver/v1/enterprises?limit=1&page=2",
    }
    second = client.get(first["meta"]["next"]).json()
    assert [e["id"] for e in second["results"]] == [world.ningbo]
    last = client.get("/v1/enterprises?limit=1&page=3").json()
    assert last["meta"]["next"] is None and len(last["results"]) == 1
    beyond = client.get("/v1/enterprises?limit=1&page=99").json()
    assert beyond == {"meta": {"page": 99, "limit": 1, "found": 3, "next": None}, "results": []}
    assert len(client.get("/v1/enterprises?limit=1000").json()["results"]) == 3


def test_csv_equals_json(client: TestClient, world: World) -> None:
    results = client.get("/v1/enterprises?near=120,30&radius_m=100000").json()["results"]
    response = client.get(
        "/v1/enterprises?near=120,30&radius_m=100000", headers={"Accept": "text/csv"}
    )
    assert response.status_code == 200
    assert_csv_equals_json(response.text, results)
    everything = client.get("/v1/enterprises").json()["results"]
    assert_csv_equals_json(client.get("/v1/enterprises?format=csv").text, everything)


def test_detail_has_outlets_with_status_and_open_cases(client: TestClient, world: World) -> None:
    body = client.get(f"/v1/enterprises/{world.hangzhou}").json()
    assert body["name"]["zh"] == "杭州热电有限公司"
    assert body["open_cases"] == {"exceedance": 1, "outage": 1}
    [outlet] = body["outlets"]
    assert outlet["id"] == world.gas and outlet["code"] == "DA001"
    assert outlet["status"] == {
        "last_data": {"utc": "2026-11-27T03:00:00Z", "local": "2026-11-27T11:00:00+08:00"},
        "last_frame": {"utc": "2026-11-27T03:01:00Z", "local": "2026-11-27T11:01:00+08:00"},
        "open_cases": {"exceedance": 1, "outage": 1},
    }
    assert "password" not in outlet and "mn" not in outlet  # public view
    water = client.get(f"/v1/enterprises/{world.ningbo}").json()
    assert water["outlets"][0]["status"]["last_data"] is None
    assert water["open_cases"] == {"exceedance": 0, "outage": 0}
    assert client.get(f"/v1/enterprises/{world.nowhere}").json()["outlets"] == []


def test_detail_errors(client: TestClient, world: World) -> None:
    error_of(client.get("/v1/enterprises/999999"), 404, "enterprise_id")
    error_of(client.get("/v1/enterprises/abc"), 422, "enterprise_id")
    error_of(client.get("/v1/enterprises/0"), 422, "enterprise_id")
    error_of(client.get(f"/v1/enterprises/{2**70}"), 422, "enterprise_id")
