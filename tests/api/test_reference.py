"""/v1/pollutants and /v1/flags: the code tables, bilingual, paged, JSON and CSV."""

from __future__ import annotations

import psycopg
from fastapi.testclient import TestClient

from tests.api.conftest import assert_csv_equals_json, csv_rows, error_of


def test_pollutants_are_paged_with_the_table_count(
    client: TestClient, db: psycopg.Connection
) -> None:
    row = db.execute("SELECT count(*) FROM pollutants").fetchone()
    assert row is not None
    total = int(row[0])
    body = client.get("/v1/pollutants").json()
    assert body["meta"] == {
        "page": 1,
        "limit": 100,
        "found": total,
        "next": "http://testserver/v1/pollutants?page=2",
    }
    assert len(body["results"]) == 100
    last_page = (total - 1) // 100 + 1
    last = client.get(f"/v1/pollutants?page={last_page}").json()
    assert len(last["results"]) == total - 100 * (last_page - 1)
    assert last["meta"]["next"] is None


def test_a_pollutant_has_bilingual_names_units_and_its_legacy_code(client: TestClient) -> None:
    response = client.get("/v1/pollutants/a21026")
    assert response.status_code == 200
    assert response.json() == {
        "code": "a21026",
        "medium": "air",
        "name": {"zh": "二氧化硫", "en": "sulfur dioxide (SO2)"},
        "unit": {"zh": "毫克/立方米", "en": "mg/m³"},
        "cou_unit": {"zh": "千克", "en": "kg"},
        "legacy_code": "02",
        "data_type": "N5.2",
    }
    assert response.headers["cache-control"] == "public, max-age=3600"


def test_pollutant_filters(client: TestClient) -> None:
    water = client.get("/v1/pollutants?medium=water&limit=1000").json()["results"]
    assert water and {p["medium"] for p in water} == {"water"}
    found = client.get("/v1/pollutants", params={"q": "SULFUR DIOXIDE"}).json()["results"]
    assert "a21026" in [p["code"] for p in found]
    assert [p["code"] for p in client.get("/v1/pollutants?q=二氧化硫").json()["results"]] == [
        "a21026"
    ]
    error_of(client.get("/v1/pollutants?medium=plasma"), 422, "medium")


def test_unknown_pollutant_is_404_naming_the_code(client: TestClient) -> None:
    error = error_of(client.get("/v1/pollutants/x99999"), 404, "code")
    assert error["code"] == "not_found"
    error_of(client.get("/v1/pollutants/a%00"), 422, "code")


def test_flags_say_which_count(client: TestClient) -> None:
    flags = client.get("/v1/flags?standard=HJ 212-2017").json()["results"]
    valid = {f["code"]: f["valid"] for f in flags}
    assert valid["N"] is True
    assert {c for c, ok in valid.items() if not ok} >= {"F", "M", "D", "C", "T", "B"}
    fault = next(f for f in flags if f["code"] == "D")
    assert fault["name"]["en"] == "instrument fault" and fault["name"]["zh"]
    assert client.get("/v1/flags").json()["meta"]["found"] == 16


def test_pollutants_csv_streams_every_row_without_a_limit(client: TestClient) -> None:
    json_rows = client.get("/v1/pollutants?limit=1000").json()["results"]
    assert len(json_rows) > 100
    response = client.get("/v1/pollutants?format=csv")
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert 'filename="pollutants.csv"' in response.headers["content-disposition"]
    assert_csv_equals_json(response.text, json_rows)
    header = response.text.splitlines()[0]
    assert header.startswith("code,medium,name_zh,name_en,unit_zh,unit_en,cou_unit_zh")


def test_csv_with_a_limit_is_that_page(client: TestClient) -> None:
    page = client.get("/v1/flags?limit=5&page=2").json()["results"]
    response = client.get("/v1/flags?limit=5&page=2", headers={"Accept": "text/csv"})
    assert response.headers["content-type"].startswith("text/csv")
    assert_csv_equals_json(response.text, page)
    assert [r["code"] for r in csv_rows(response.text)] == [f["code"] for f in page]
