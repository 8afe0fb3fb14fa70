"""Staff see what judges each outlet and change it: unjudged outlets, limits in force and from
where, bindings, permit-limit imports (versioned, every row error named), known standards."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.routes.staff_limits import MAX_LIMITS_BYTES
from tests.api.conftest import World, error_of
from tests.fixtures.staff import staff_headers

PERMIT = (
    "mn,pollutant,value,unit,period,reference_o2,source_document,clause,valid_from\n"
    "GAS0001,a21002,40,mg/m3,hour,6,排污许可证 91330100000000001A001P,表 3,2025-01-01\n"
)


def auth(db: psycopg.Connection, username: str, role: str) -> dict[str, str]:
    return staff_headers(db, username, role)


@pytest.fixture
def admin(db: psycopg.Connection) -> dict[str, str]:
    return auth(db, "wang.admin", "admin")


@pytest.fixture
def viewer(db: psycopg.Connection) -> dict[str, str]:
    return auth(db, "li.na", "viewer")


def upload(client: TestClient, headers: dict[str, str], text: str | bytes) -> Any:
    data = text.encode() if isinstance(text, str) else text
    return client.post(
        "/v1/staff/limits/import", files={"file": ("permit.csv", data, "text/csv")}, headers=headers
    )


def test_unjudged_outlets(
    client: TestClient, db: psycopg.Connection, world: World, viewer: dict[str, str]
) -> None:
    error_of(client.get("/v1/staff/outlets/unjudged"), 401)
    listed = client.get("/v1/staff/outlets/unjudged", headers=viewer)
    assert listed.status_code == 200 and listed.headers["cache-control"] == "private, no-store"
    body = listed.json()
    assert body["meta"]["found"] == 1
    (water,) = body["results"]
    assert (water["id"], water["mn"], water["kind"]) == (world.water, "WAT0001", "water")
    assert water["enterprise"]["name"]["zh"] == "宁波污水处理厂"
    assert [r["code"] for r in water["not_judged"]] == ["no_limits"]
    # With data only: the water outlet has none, the gas outlet is judged.
    assert (
        client.get("/v1/staff/outlets/unjudged?with_data=true", headers=viewer).json()["meta"][
            "found"
        ]
        == 0
    )
    recent = datetime.now(UTC) - timedelta(minutes=10)
    db.execute(
        "INSERT INTO measurements (outlet_id, pollutant, kind, ts, value, flag, received_at)"
        " VALUES (%s, 'w01018', 'min', %s, 30, 'N', %s)",
        (world.water, recent, recent),
    )
    db.execute(
        "INSERT INTO outlet_activity (outlet_id, last_frame_at, last_data_at) VALUES (%s, %s, %s)",
        (world.water, recent, recent),
    )
    (found,) = client.get("/v1/staff/outlets/unjudged?with_data=true", headers=viewer).json()[
        "results"
    ]
    assert found["measured"] == ["w01018"] and set(found["last_data"]) == {"utc", "local"}
    assert [(r["code"], r["pollutant"]) for r in found["not_judged"]] == [
        ("no_limits", None),
        ("pollutant_without_limit", "w01018"),
    ]
    error_of(client.get("/v1/staff/outlets/unjudged?limit=0", headers=viewer), 422, "limit")


def test_limits_of_an_outlet_and_binding(
    client: TestClient,
    db: psycopg.Connection,
    world: World,
    viewer: dict[str, str],
    admin: dict[str, str],
) -> None:
    shown = client.get(f"/v1/staff/outlets/{world.gas}/limits?on=2026-06-01", headers=viewer)
    assert shown.status_code == 200, shown.text
    view = shown.json()
    assert (view["mn"], view["on"]) == ("GAS0001", "2026-06-01")
    by_key = {(lim["pollutant"], lim["period"]): lim for lim in view["in_force"]}
    so2_day = by_key[("a21026", "day")]
    assert (so2_day["source"], so2_day["value"], so2_day["unit"]) == ("outlet", 80.0, "mg/m³")
    assert so2_day["pollutant_name"] == {"zh": "二氧化硫", "en": "sulfur dioxide (SO2)"}
    nox = by_key[("a21002", "hour")]
    assert (nox["source"], nox["standard"], nox["category"], nox["bound_by"]) == (
        "standard",
        "GB 13223-2011",
        "coal-boiler-new",
        "permit 001P",
    )
    assert nox["category_name"]["en"] == "coal-fired boiler (new)"
    assert [b["category"] for b in view["bindings"]] == ["coal-boiler-new"]
    assert [(v["pollutant"], v["version"]) for v in view["permit_limit_versions"]] == [
        ("a21026", 1)
    ]
    error_of(client.get("/v1/staff/outlets/999/limits", headers=viewer), 404, "outlet_id")

    bind = {
        "standard": "GB 18918-2002",
        "category": "class-1A",
        "valid_from": "2026-01-01",
        "source": "permit 002P",
    }
    error_of(client.post(f"/v1/staff/outlets/{world.water}/bindings", json=bind), 401)
    error_of(
        client.post(f"/v1/staff/outlets/{world.water}/bindings", json=bind, headers=viewer), 403
    )
    wrong = client.post(f"/v1/staff/outlets/{world.gas}/bindings", json=bind, headers=admin)
    assert "is not a gas standard" in error_of(wrong, 422)["message"]
    backwards = {**bind, "valid_to": "2025-01-01"}
    error_of(
        client.post(f"/v1/staff/outlets/{world.water}/bindings", json=backwards, headers=admin),
        422,
        "valid_to",
    )
    done = client.post(f"/v1/staff/outlets/{world.water}/bindings", json=bind, headers=admin)
    assert done.status_code == 201, done.text
    assert done.json()["judged"] is True
    assert {lim["pollutant"] for lim in done.json()["in_force"]} >= {"w01018", "w21003"}
    (entry,) = db.execute(
        "SELECT actor, action, after->>'category' FROM staff_audit WHERE action = 'limits.bind'"
    ).fetchall()
    assert entry == ("wang.admin", "limits.bind", "class-1A")


def test_permit_limit_import(
    client: TestClient, db: psycopg.Connection, world: World, admin: dict[str, str]
) -> None:
    first = upload(client, admin, PERMIT)
    assert first.status_code == 200, first.text
    assert first.json() == {"inserted": 1, "superseded": 0, "unchanged": 0}
    assert upload(client, admin, PERMIT).json() == {"inserted": 0, "superseded": 0, "unchanged": 1}
    assert upload(client, admin, PERMIT.replace(",40,", ",35,")).json()["superseded"] == 1
    versions = client.get(f"/v1/staff/outlets/{world.gas}/limits", headers=admin).json()[
        "permit_limit_versions"
    ]
    nox = [
        (v["version"], v["value"], v["supersedes"] is not None)
        for v in versions
        if v["pollutant"] == "a21002"
    ]
    assert nox == [(1, 40.0, False), (2, 35.0, True)]

    bad = (
        PERMIT
        + "NOSUCH,a21026,50,mg/m3,hour,6,许可证,,2025-01-01\nGAS0001,a21026,5x,mg/m3,day,6,x,,2025-01-01\n"
    )
    message = error_of(upload(client, admin, bad), 422, "file")["message"]
    assert "2 error(s), nothing imported" in message
    assert "row 3, field mn: unknown MN 'NOSUCH'" in message
    assert "row 4, field value: must be a number, got '5x'" in message
    assert db.execute("SELECT count(*) FROM outlet_limits").fetchone() == (3,)
    error_of(upload(client, admin, b"x" * (MAX_LIMITS_BYTES + 1)), 413, "file")
    assert "not UTF-8" in error_of(upload(client, admin, b"\xff\xfe"), 422, "file")["message"]
    actions = [a for (a,) in db.execute("SELECT action FROM staff_audit WHERE actor <> 'test'")]
    assert actions == ["limits.import", "limits.import"]  # the unchanged one changed nothing


def test_standards(client: TestClient, viewer: dict[str, str]) -> None:
    error_of(client.get("/v1/staff/standards"), 401)
    got = client.get("/v1/staff/standards", headers=viewer).json()
    by_key = {(c["standard"], c["category"]): c for c in got}
    class_1a = by_key[("GB 18918-2002", "class-1A")]
    assert class_1a["medium"] == "water" and "w01018" in class_1a["pollutants"]
    assert class_1a["name"] == {"zh": "一级标准 A 标准", "en": "class 1, grade A"}
    assert by_key[("GB 13223-2011", "coal-boiler-existing")]["medium"] == "gas"
