"""/v1/outlets/{id}/completeness: the transmission and validity rates in JSON and CSV, from the
same rows, with the API's error shape."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import psycopg
from fastapi.testclient import TestClient

from ingest.records import Accepted, MeasurementRow
from ingest.writer import write_batch
from tests.api.conftest import World, assert_csv_equals_json, error_of

START = datetime(2026, 11, 28, tzinfo=ZoneInfo("Asia/Shanghai")).astimezone(UTC)


def upload(db: psycopg.Connection, outlet: int, start: datetime = START) -> None:
    """A local day (2026-11-28 unless ``start`` says otherwise): minute and hour data of SO2
    and NOx, nothing in hour 3, the minute data of hour 5 flagged M."""
    rows = []
    for h in range(24):
        if h == 3:
            continue
        at = start + timedelta(hours=h)
        for p in ("a21026", "a21002"):
            flag = "M" if h == 5 else "N"
            rows += [
                MeasurementRow(p, "min", at + timedelta(minutes=m), Decimal(10), flag=flag)
                for m in range(60)
            ]
            rows.append(MeasurementRow(p, "hour", at, Decimal(10), flag="N"))
    frames = [
        Accepted(
            "mqtt",
            None,
            datetime.now(UTC),
            f"f{i}".encode(),
            outlet,
            "GAS0001",
            "31",
            "2051",
            None,
            rows[i].ts,
            rows=tuple(rows[i : i + 61]),
        )
        for i in range(0, len(rows), 61)
    ]
    write_batch(db, frames, [])


def test_the_days_rates(client: TestClient, world: World, db: psycopg.Connection) -> None:
    upload(db, world.gas)
    url = f"/v1/outlets/{world.gas}/completeness?period=day&from=2026-11-28&to=2026-11-28"
    body = client.get(url).json()
    results = body["results"]
    assert body["meta"]["found"] == len(results) == 6  # (all, SO2, NOx) × (min, hour)
    (headline,) = [r for r in results if r["headline"]]
    assert headline["pollutant"] is None and headline["kind"] == "hour"
    assert headline["kind_name"] == {"zh": "小时数据", "en": "hourly data"}
    assert headline["period_name"] == "2026-11-28"
    assert headline["period"]["start"]["local"].startswith("2026-11-28T00:00:00+08:00")
    assert (headline["expected"], headline["received"], headline["valid"]) == (48, 46, 46)
    assert headline["transmission_rate"] == 0.9583
    assert headline["validity_rate"] == 1.0
    assert headline["transmission_validity_rate"] == 0.9583
    assert (headline["target"], headline["meets_target"]) == (0.9, True)
    assert headline["rules_confirmed"] is False
    minutes = next(r for r in results if r["pollutant"] is None and r["kind"] == "min")
    assert (minutes["expected"], minutes["received"], minutes["valid"]) == (2880, 2760, 2640)
    assert minutes["transmission_validity_rate"] == 0.9167
    so2 = next(r for r in results if r["pollutant"] and r["pollutant"]["code"] == "a21026")
    assert so2["pollutant"]["name"]["zh"] == "二氧化硫"
    only = client.get(url + "&headline=true").json()["results"]
    assert only == [headline]
    assert_csv_equals_json(client.get(url + "&format=csv").text, results)


def test_months_and_pages(client: TestClient, world: World, db: psycopg.Connection) -> None:
    upload(db, world.gas)
    url = f"/v1/outlets/{world.gas}/completeness?period=month&from=2026-11-01&to=2026-11-30"
    body = client.get(url + "&limit=4").json()
    assert body["meta"]["found"] == 6 and len(body["results"]) == 4
    assert body["meta"]["next"] is not None
    assert body["results"][0]["period_name"] == "2026-11"
    second = client.get(url + "&limit=4&page=2").json()["results"]
    assert len(second) == 2
    quarter = client.get(url.replace("month", "quarter") + "&headline=true").json()["results"]
    assert [r["period_name"] for r in quarter] == ["2026-Q4"]


def test_an_outlet_without_data_expects_nothing(client: TestClient, world: World) -> None:
    body = client.get(f"/v1/outlets/{world.water}/completeness").json()
    assert body["meta"]["found"] == 0 and body["results"] == []


def test_errors(client: TestClient, world: World) -> None:
    base = f"/v1/outlets/{world.gas}/completeness"
    error_of(client.get("/v1/outlets/999999/completeness"), 404, "outlet_id")
    error_of(client.get(base + "?period=week"), 422, "period")
    error_of(client.get(base + "?from=2026-13-01"), 422, "from")
    error_of(client.get(base + "?from=2026-11-02&to=2026-11-01"), 422, "to")
    error_of(client.get(base + "?period=day&from=2024-01-01&to=2026-01-01"), 422, "from")
    error_of(client.get(base + "?to=0001-01-01"), 422, "to")
