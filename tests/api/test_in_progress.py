"""The running hour and the current local day: served as `in_progress`, not as a data-quality
failure, in JSON and CSV, and counted by no statistic as missing or invalid.

The API reads the server's clock (no seam), so these hours are relative to now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.responses import LOCAL_TZ
from tests.api.conftest import World, assert_csv_equals_json, csv_rows, this_hour

pytestmark = pytest.mark.integration

HOUR = timedelta(hours=1)
REASON = "26 valid minutes of 60 (≥45 required)"


def _hours(db: psycopg.Connection, outlet: int, running_valid: bool = False) -> datetime:
    """Two hours before the running one (valid, invalid) and the running one; its start."""
    now_hour = this_hour()
    rows = [
        (now_hour - 2 * HOUR, 60.0, 58, True, None),
        (now_hour - HOUR, 61.0, 20, False, "20 valid minutes of 60 (≥45 required)"),
        (now_hour, 62.0, 50, True, None) if running_valid else (now_hour, 62.0, 26, False, REASON),
    ]
    with db.cursor() as cur:
        cur.executemany(
            "INSERT INTO hourly_means (outlet_id, pollutant, hour_start, source, mean, "
            "converted, valid_count, expected_count, valid, reason, flags) VALUES "
            "(%s, 'a21026', %s, 'min', %s, %s, %s, 60, %s, %s, '{}')",
            [(outlet, h, m, m, n, v, r) for h, m, n, v, r in rows],
        )
    return now_hour


def _hour_query(now_hour: datetime) -> str:
    start = (now_hour - 2 * HOUR).isoformat().replace("+00:00", "Z")
    return f"pollutant=a21026&resolution=hour&start={start}"


def _get(client: TestClient, outlet: int, query: str) -> Any:
    response = client.get(f"/v1/outlets/{outlet}/measurements?{query}")
    assert response.status_code == 200, response.text
    return response


def test_the_running_hour_is_in_progress_in_json_and_csv(
    client: TestClient, world: World, db: psycopg.Connection
) -> None:
    now_hour = _hours(db, world.gas)
    query = _hour_query(now_hour)  # default end: now, so the running hour is in the period
    results = _get(client, world.gas, query).json()["results"]
    assert [(p["valid"], p["in_progress"]) for p in results] == [
        (True, False),
        (False, False),  # a past invalid hour stays invalid
        (False, True),  # the running one: not valid yet, and in progress
    ]
    running = results[-1]
    assert running["reason"] == REASON and running["exceedance"] is None  # the stored judgement
    assert list(running)[list(running).index("valid") + 1] == "in_progress"
    # CSV: a page (written from SQL) and the whole download (spooled) carry the same column
    for csv_query in (f"{query}&format=csv&limit=10", f"{query}&format=csv"):
        text = _get(client, world.gas, csv_query).text
        rows = csv_rows(text)
        assert [r["in_progress"] for r in rows] == ["false", "false", "true"]
        header = text.splitlines()[0].split(",")
        assert header[header.index("valid") + 1] == "in_progress"
        assert_csv_equals_json(text, results, stored_digits=True)


def test_the_current_local_day_is_in_progress(
    client: TestClient, world: World, db: psycopg.Connection
) -> None:
    today = datetime.now(UTC).astimezone(LOCAL_TZ).date()
    days = [
        (today - timedelta(days=1), 50.0, 22, True, None),
        (today, 55.0, 9, False, "9 valid hours < 20"),
    ]
    with db.cursor() as cur:
        cur.executemany(
            "INSERT INTO daily_means (outlet_id, pollutant, day, source, mean, converted, "
            "valid_count, expected_count, valid, reason) "
            "VALUES (%s, 'a21026', %s, 'hour', %s, %s, %s, 24, %s, %s)",
            [(world.gas, *row[:2], row[1], *row[2:]) for row in days],
        )
    start = (today - timedelta(days=1)).isoformat()
    query = f"pollutant=a21026&resolution=day&start={start}"
    results = _get(client, world.gas, query).json()["results"]
    assert [(p["date"], p["valid"], p["in_progress"]) for p in results] == [
        (start, True, False),
        (today.isoformat(), False, True),
    ]
    text = _get(client, world.gas, f"{query}&format=csv").text
    assert [r["in_progress"] for r in csv_rows(text)] == ["false", "true"]
    assert_csv_equals_json(text, results)
    # and the month of today (the mean of its days so far), not the one before
    previous = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    query = f"pollutant=a21026&resolution=month&start={previous.isoformat()}"
    months = _get(client, world.gas, query).json()["results"]
    assert [(m["month"], m["in_progress"]) for m in months][-1] == (today.strftime("%Y-%m"), True)
    assert all(not m["in_progress"] for m in months[:-1])


def test_data_capture_counts_no_hour_that_has_not_ended(
    client: TestClient, world: World, db: psycopg.Connection
) -> None:
    now_hour = _hours(db, world.gas, running_valid=True)  # valid already at minute 50
    start = (now_hour - 2 * HOUR).isoformat().replace("+00:00", "Z")
    later = (now_hour + 5 * HOUR).isoformat().replace("+00:00", "Z")
    for query in (f"start={start}", f"start={start}&end={later}"):
        so2 = client.get(f"/v1/stats/pollutants?{query}").json()["results"][0]
        # two hours have ended, one of them valid: the running hour (valid so far) and the
        # hours to come count neither as valid nor as expected
        assert so2["data_capture"] == {"valid_hours": 1, "expected_hours": 2, "rate": 0.5}, query
        district = client.get(f"/v1/stats/districts?{query}").json()["results"][0]
        assert district["data_capture"] == so2["data_capture"], query
