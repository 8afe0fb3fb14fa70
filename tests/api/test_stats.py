"""/v1/stats/districts and /v1/stats/pollutants: counts and data capture over a period."""

from __future__ import annotations

from datetime import datetime

import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import assert_csv_equals_json, error_of
from tests.api.test_exceedances import Cases, make_cases

DAY = "start=2026-11-27T00:00:00Z&end=2026-11-28T00:00:00Z"


@pytest.fixture
def cases(db: psycopg.Connection) -> Cases:
    return make_cases(db)


def test_districts(client: TestClient, cases: Cases) -> None:
    body = client.get(f"/v1/stats/districts?{DAY}").json()
    assert body["meta"] == {"page": 1, "limit": 100, "found": 2, "next": None}
    xihu, yinzhou = body["results"]
    assert xihu["district"] == "西湖区"
    assert xihu["period"]["start"]["utc"] == "2026-11-27T00:00:00Z"
    assert xihu["period"]["end"]["local"] == "2026-11-28T08:00:00+08:00"
    assert {k: xihu[k] for k in ("enterprises", "outlets", "outlets_exceeding")} == {
        "enterprises": 1,
        "outlets": 1,
        "outlets_exceeding": 1,
    }
    assert (xihu["exceedances"], xihu["open"]) == (1, 1)  # the outage case is not counted
    assert xihu["data_capture"] == {"valid_hours": 2, "expected_hours": 24, "rate": 0.0833}
    assert yinzhou["district"] == "鄞州区"
    assert (yinzhou["exceedances"], yinzhou["open"]) == (1, 0)
    assert yinzhou["data_capture"] == {"valid_hours": 0, "expected_hours": 0, "rate": None}


def test_pollutants(client: TestClient, cases: Cases) -> None:
    results = client.get(f"/v1/stats/pollutants?{DAY}").json()["results"]
    assert [r["pollutant"]["code"] for r in results] == ["a21026", "w01018"]
    so2, cod = results
    assert so2["pollutant"]["name"]["zh"] and so2["pollutant"]["unit"]["en"] is not None
    assert (so2["outlets"], so2["exceedances"], so2["open"]) == (1, 1, 1)
    assert so2["data_capture"] == {"valid_hours": 2, "expected_hours": 24, "rate": 0.0833}
    assert (cod["outlets"], cod["exceedances"], cod["open"]) == (1, 1, 0)


def test_period_filters_cases_and_hours(client: TestClient, cases: Cases) -> None:
    later = "start=2026-11-28T00:00:00Z&end=2026-11-29T00:00:00Z"
    xihu = client.get(f"/v1/stats/districts?{later}").json()["results"][0]
    assert (xihu["exceedances"], xihu["outlets_exceeding"]) == (0, 0)
    assert xihu["data_capture"]["expected_hours"] == 0
    assert client.get(f"/v1/stats/pollutants?{later}").json()["meta"]["found"] == 0
    # a partial first hour is not expected; 01:00 and 02:00 start in [00:30, 03:00)
    half = "start=2026-11-27T00:30:00Z&end=2026-11-27T03:00:00Z"
    so2 = client.get(f"/v1/stats/pollutants?{half}").json()["results"][0]
    assert so2["data_capture"] == {"valid_hours": 1, "expected_hours": 2, "rate": 0.5}


def test_default_period_is_last_30_days(client: TestClient, cases: Cases) -> None:
    body = client.get("/v1/stats/districts").json()
    period = body["results"][0]["period"]
    start = datetime.fromisoformat(period["start"]["utc"])
    end = datetime.fromisoformat(period["end"]["utc"])
    assert (end - start).days == 30


def test_csv_and_etag(client: TestClient, cases: Cases) -> None:
    for path in ("districts", "pollutants"):
        url = f"/v1/stats/{path}?{DAY}"
        response = client.get(url)
        assert_csv_equals_json(client.get(f"{url}&format=csv").text, response.json()["results"])
        again = client.get(url, headers={"If-None-Match": response.headers["etag"]})
        assert again.status_code == 304


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("start=tomorrow", "start"),
        ("end=2026-02-30", "end"),
        ("start=2026-11-28&end=2026-11-27", "end"),
        ("start=2024-01-01&end=2026-01-01", "start"),
        ("limit=0", "limit"),
        ("format=pdf", "format"),
    ],
)
def test_bad_parameters(client: TestClient, cases: Cases, query: str, parameter: str) -> None:
    error_of(client.get(f"/v1/stats/districts?{query}"), 422, parameter)
    error_of(client.get(f"/v1/stats/pollutants?{query}"), 422, parameter)
