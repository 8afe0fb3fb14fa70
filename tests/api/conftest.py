"""Fixtures for the API tests: an app on the session's database and a small registry with data.

The ``world`` fixture inserts, through the ``db`` connection (tables emptied per test):

* three enterprises (Hangzhou thermal power, Ningbo wastewater, one without coordinates);
* a gas outlet bound to GB 13223-2011 coal-boiler-new (SO₂ a21026 hourly 100 mg/m³ at 6 % O₂)
  with its own daily SO₂ limit of 80 mg/m³ from its permit, and a water outlet;
* raw values, three hourly means (compliant, exceeding ×0.5, invalid), three daily means,
  activity, and open/closed cases.
"""

from __future__ import annotations

import csv
import io
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg import sql

from api.app import create_app
from api.server import build_server
from api.settings import ApiSettings
from schemas.limits.rules import bind_outlet
from tests.fixtures.registry import add_outlet


def this_hour() -> datetime:
    """The running hour's start, at least 20 s before its end (the requests that follow are
    answered in the same hour): the API and the console read the server's clock (no seam)."""
    now = datetime.now(UTC)
    start = now.replace(minute=0, second=0, microsecond=0)
    if start + timedelta(hours=1) - now < timedelta(seconds=20):
        time.sleep((start + timedelta(hours=1) - now).total_seconds())
        start += timedelta(hours=1)
    return start


def utc(hour: int, minute: int = 0, day: int = 27) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


@dataclass(frozen=True)
class World:
    hangzhou: int
    ningbo: int
    nowhere: int
    gas: int
    water: int


@pytest.fixture
def settings(role_urls: dict[str, str]) -> ApiSettings:
    """The API as deployed: connected with its own database role (schemas/core/roles.py)."""
    return ApiSettings(database_url=role_urls["api"], api_rate_limit_per_minute=10_000)


@pytest.fixture
def client(settings: ApiSettings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as c:
        yield c


def _enterprise(conn: psycopg.Connection, uscc: str, **values: Any) -> int:
    """Create (or complete) the enterprise with this USCC."""
    names = ["uscc", *values]
    row = conn.execute(
        sql.SQL(
            "INSERT INTO enterprises ({columns}) VALUES ({values}) ON CONFLICT (uscc) DO UPDATE "
            "SET ({columns}) = ROW({values}) RETURNING id"
        ).format(
            columns=sql.SQL(", ").join(map(sql.Identifier, names)),
            values=sql.SQL(", ").join(map(sql.Placeholder, names)),
        ),
        {"uscc": uscc, **values},
    ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
def world(db: psycopg.Connection) -> World:
    gas = add_outlet(db, "GAS0001", kind="gas", uscc="91330100000000001A")
    water = add_outlet(db, "WAT0001", kind="water", uscc="91330200000000002B")
    hangzhou = _enterprise(
        db,
        "91330100000000001A",
        name_zh="杭州热电有限公司",
        name_en="Hangzhou Thermal Power Co.",
        address="杭州市西湖区",
        district="西湖区",
        industry="thermal power",
        control_level="national",
        longitude=120.15,
        latitude=30.28,
    )
    ningbo = _enterprise(
        db,
        "91330200000000002B",
        name_zh="宁波污水处理厂",
        name_en="Ningbo Wastewater Treatment Plant",
        district="鄞州区",
        industry="wastewater",
        control_level="provincial",
        longitude=121.55,
        latitude=29.87,
    )
    nowhere = _enterprise(
        db, "91330300000000003C", name_zh="无坐标化工厂", control_level="municipal"
    )
    db.execute(
        "UPDATE outlets SET code = 'DA001', name_en = 'Stack 1', emission_standard = "
        "'GB 13223-2011', permit_number = '91330100000000001A001P', longitude = 120.151, "
        "latitude = 30.281 WHERE id = %s",
        (gas,),
    )
    bind_outlet(db, "GAS0001", "GB 13223-2011", "coal-boiler-new", date(2020, 1, 1), "permit 001P")
    db.execute(
        "INSERT INTO outlet_limits (outlet_id, pollutant, value, unit, period, reference_o2, "
        "source_document, clause, valid_from) VALUES (%s, 'a21026', 80, 'mg/m³', 'day', 6, "
        "'排污许可证 91330100000000001A001P', '表 2', '2026-01-01')",
        (gas,),
    )
    _measurements(db, gas)
    _means(db, gas)
    db.execute(
        "INSERT INTO outlet_activity (outlet_id, last_frame_at, last_data_at) VALUES (%s, %s, %s)",
        (gas, utc(3, 1), utc(3)),
    )
    for kind, state in [("exceedance", "open"), ("outage", "open"), ("exceedance", "closed")]:
        db.execute(
            "INSERT INTO cases (kind, outlet_id, pollutant, period, limit_id, subject, state, "
            "severity, first_at, last_at) VALUES (%s, %s, 'a21026', 'hour', %s, %s, %s, "
            "'warning', %s, %s)",
            (kind, gas, 1 if state == "open" else 2, kind, state, utc(1), utc(1)),
        )
    return World(hangzhou, ningbo, nowhere, gas, water)


def _measurements(db: psycopg.Connection, outlet: int) -> None:
    rows = [
        ("a21026", "rtd", utc(1, 0), 70.5, 75.2, "N"),
        ("a21026", "rtd", utc(1, 1), 71.5, None, "D"),
        ("a19001", "rtd", utc(1, 0), 9.8, None, "N"),
        ("a21026", "min", utc(1, 0), 70.0, 74.0, "N"),
        ("a21026", "rtd", utc(2, 30), 120.0, 130.0, "N"),
        ("a19001", "rtd", utc(2, 30), 10.1, None, "C"),
    ]
    with db.cursor() as cur:
        cur.executemany(
            "INSERT INTO measurements (outlet_id, pollutant, kind, ts, value, zs_value, flag, "
            "received_at) VALUES (%s, %s, %s, %s, %s, %s, %s, now())",
            [(outlet, *row) for row in rows],
        )


def _means(db: psycopg.Connection, outlet: int) -> None:
    hours = [
        (utc(0), 60.0, 80.0, 8.9, 58, True, None, {"N": 58, "D": 2}),
        (utc(1), 110.0, 150.0, 10.2, 50, True, None, {"N": 50, "C": 10}),
        (utc(2), 90.0, None, None, 20, False, "20 valid minutes < 45", {"N": 20, "D": 40}),
    ]
    with db.cursor() as cur:
        cur.executemany(
            "INSERT INTO hourly_means (outlet_id, pollutant, hour_start, source, mean, "
            "zs_reported, converted, o2_mean, valid_count, expected_count, valid, reason, flags)"
            " VALUES (%s, 'a21026', %s, 'min', %s, %s, %s, %s, %s, 60, %s, %s, %s)",
            [
                (outlet, h, m, c, c, o2, n, v, r, psycopg.types.json.Jsonb(f))
                for h, m, c, o2, n, v, r, f in hours
            ],
        )
        cur.executemany(
            "INSERT INTO daily_means (outlet_id, pollutant, day, source, mean, converted, "
            "valid_count, expected_count, valid, reason) "
            "VALUES (%s, 'a21026', %s, 'hour', %s, %s, %s, 24, %s, %s)",
            [
                (outlet, date(2026, 11, 1), 50.0, 70.0, 22, True, None),
                (outlet, date(2026, 11, 2), 60.0, 90.0, 21, True, None),
                (outlet, date(2026, 11, 3), 99.0, 99.0, 5, False, "5 valid hours < 20"),
                (outlet, date(2026, 10, 31), 40.0, 50.0, 24, True, None),
            ],
        )


def flatten(
    data: dict[str, Any], prefix: str = "", floats: set[str] | None = None
) -> dict[str, str]:
    """A JSON result as the CSV row it should be: nested keys joined by '_', maps and lists
    (``flags``) as JSON, null as empty, booleans as true/false. The names of the columns that
    hold a JSON float are added to ``floats``, if given."""
    out: dict[str, str] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and key != "flags":
            out |= flatten(value, f"{name}_", floats)
        elif value is None:
            out[name] = ""
        elif isinstance(value, bool):
            out[name] = "true" if value else "false"
        elif isinstance(value, dict | list):
            out[name] = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        else:
            out[name] = str(value)
            if floats is not None and isinstance(value, float):
                floats.add(name)
    return out


def assert_csv_equals_json(
    text: str, results: list[dict[str, Any]], *, stored_digits: bool = False
) -> None:
    """Every CSV row holds exactly its JSON result (a null object: all its columns empty).
    With ``stored_digits`` (hourly means, whose CSV has the stored numeric's digits: ``60``
    where JSON has ``60.0``), a float's cell is the same number rather than the same text."""
    rows = csv_rows(text)
    assert len(rows) == len(results)
    for row, result in zip(rows, results, strict=True):
        floats: set[str] = set()
        expected = flatten(result, floats=floats)
        for key, value in expected.items():
            if key in row:
                if stored_digits and key in floats:
                    assert float(row[key]) == float(value), (key, row[key], value)
                else:
                    assert row[key] == value, (key, row[key], value)
            else:  # a null nested object
                assert value == "", key
                columns = [c for c in row if c.startswith(f"{key}_")]
                assert columns and all(row[c] == "" for c in columns), key
        assert all(k in expected or any(k.startswith(f"{e}_") for e in expected) for k in row)


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def error_of(response: Any, status: int, parameter: str | None = None) -> dict[str, Any]:
    """Assert the one error shape; return the error object."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert error["status"] == status
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    if parameter is not None:
        assert error.get("parameter") == parameter, error
    return dict(error)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_api(settings: ApiSettings) -> Iterator[str]:
    """The real API under uvicorn on ``settings.api_port`` of 127.0.0.1; its base URL."""
    server = build_server(settings)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the API did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{settings.api_port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def api_url(role_urls: dict[str, str], world: World) -> Iterator[str]:
    """The real API under uvicorn on a free port of 127.0.0.1, with the ``world`` data."""
    settings = ApiSettings(
        database_url=role_urls["api"],
        api_host="127.0.0.1",
        api_port=_free_port(),
        api_rate_limit_per_minute=10_000,
    )
    with running_api(settings) as url:
        yield url
