"""Staff manage the registry through the API: enterprises and outlets (create, change,
deactivate), registry uploads with every row error, each change audited with before and after."""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.routes.staff_registry import MAX_REGISTRY_BYTES
from tests.api.conftest import error_of
from tests.fixtures.staff import staff_headers

USCC_A = "91330206MA2H7K3P0Q"
USCC_B = "91330402MA29GQ8L31"
MN_1 = "0CA065A6F43A75F68D981728"
MN_2 = "111BFB4FACACDD6239837036"


def auth(db: psycopg.Connection, username: str, role: str) -> dict[str, str]:
    return staff_headers(db, username, role)


@pytest.fixture
def admin(db: psycopg.Connection) -> dict[str, str]:
    return auth(db, "wang.admin", "admin")


def audit_log(db: psycopg.Connection) -> list[tuple[Any, ...]]:
    return db.execute(
        "SELECT actor, action, object_type, object_id, before, after FROM staff_audit"
        " WHERE actor <> 'test' ORDER BY id"
    ).fetchall()


def test_roles_and_credentials(client: TestClient, db: psycopg.Connection) -> None:
    viewer = auth(db, "li.na", "viewer")
    body = {"uscc": USCC_A, "name_zh": "甬澄发电"}
    error_of(client.post("/v1/staff/enterprises", json=body), 401)
    error_of(client.post("/v1/staff/enterprises", json=body, headers=viewer), 403)
    error_of(client.get("/v1/staff/outlets/1"), 401)
    error_of(client.get("/v1/staff/outlets/1", headers=viewer), 404, "outlet_id")
    assert db.execute("SELECT count(*) FROM enterprises").fetchone() == (0,)


def test_enterprise_and_outlet_lifecycle(
    client: TestClient, db: psycopg.Connection, admin: dict[str, str]
) -> None:
    created = client.post(
        "/v1/staff/enterprises",
        json={"uscc": USCC_A.lower(), "name_zh": "甬澄发电", "control_level": "national"},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    assert created.headers["cache-control"] == "private, no-store"
    enterprise = created.json()
    assert (enterprise["uscc"], enterprise["outlets"]) == (USCC_A, 0)
    assert set(enterprise["created"]) == {"utc", "local"}
    eid = enterprise["id"]

    outlet = client.post(
        f"/v1/staff/enterprises/{eid}/outlets",
        json={
            "mn": MN_1,
            "name_zh": "1号烟囱",
            "kind": "gas",
            "password": "s3cret",
            "emission_standard": "GB 13223-2011",
            "limit_category": "coal-boiler-existing",
            "limits_from": "2024-01-01",
            "permit_number": "91330206MA2H7K3P0Q001P",
        },
        headers=admin,
    )
    assert outlet.status_code == 201, outlet.text
    o = outlet.json()
    assert (o["mn"], o["password_set"], "password" in o) == (MN_1, True, False)
    assert o["judged"] is True and o["not_judged"] == []  # bound, no data yet
    bound = db.execute(
        "SELECT standard, category, valid_from::text, source FROM outlet_limit_bindings"
    ).fetchall()
    assert bound == [
        ("GB 13223-2011", "coal-boiler-existing", "2024-01-01", "91330206MA2H7K3P0Q001P")
    ]

    changed = client.patch(
        f"/v1/staff/outlets/{o['id']}", json={"name_en": "Stack 1", "code": None}, headers=admin
    )
    assert changed.status_code == 200 and changed.json()["name"]["en"] == "Stack 1"
    renamed = client.patch(
        f"/v1/staff/enterprises/{eid}", json={"name_zh": "甬澄电厂"}, headers=admin
    )
    assert renamed.json()["name"]["zh"] == "甬澄电厂"

    off = client.post(f"/v1/staff/enterprises/{eid}/deactivate", headers=admin)
    assert off.json() == {"outlets_deactivated": 1}
    assert client.get(f"/v1/staff/outlets/{o['id']}", headers=admin).json()["active"] is False
    again = client.post(f"/v1/staff/outlets/{o['id']}/deactivate", headers=admin)
    assert again.status_code == 200 and again.json()["active"] is False

    entries = audit_log(db)
    assert [(e[1], e[2]) for e in entries] == [
        ("enterprise.create", "enterprise"),
        ("outlet.create", "outlet"),
        ("outlet.update", "outlet"),
        ("enterprise.update", "enterprise"),
        ("enterprise.deactivate", "enterprise"),
    ]
    assert all(e[0] == "wang.admin" for e in entries)
    created_outlet = entries[1][5]
    assert created_outlet["password_set"] is True and "password" not in created_outlet
    assert "s3cret" not in json.dumps([e[4:] for e in entries], ensure_ascii=False)
    assert created_outlet["binding"]["category"] == "coal-boiler-existing"
    assert entries[3][4:] == ({"name_zh": "甬澄发电"}, {"name_zh": "甬澄电厂"})
    assert entries[4][4:] == ({"active_outlets": [MN_1]}, {"active_outlets": []})


def test_bad_changes_are_refused_with_the_field_named(
    client: TestClient, db: psycopg.Connection, admin: dict[str, str]
) -> None:
    eid = client.post(
        "/v1/staff/enterprises", json={"uscc": USCC_A, "name_zh": "甲"}, headers=admin
    ).json()["id"]
    bad_uscc = client.post(
        "/v1/staff/enterprises", json={"uscc": "91330206MA2H7K3P0X", "name_zh": "乙"}, headers=admin
    )
    assert "check character" in error_of(bad_uscc, 422, "uscc")["message"]
    duplicate = client.post(
        "/v1/staff/enterprises", json={"uscc": USCC_A, "name_zh": "乙"}, headers=admin
    )
    assert "USCC is already registered" in error_of(duplicate, 409)["message"]
    extra = client.post(
        "/v1/staff/enterprises", json={"uscc": USCC_B, "name_zh": "乙", "x": 1}, headers=admin
    )
    error_of(extra, 422, "x")
    outlet = {"mn": MN_1, "name_zh": "排口", "kind": "water"}
    wrong_medium = client.post(
        f"/v1/staff/enterprises/{eid}/outlets",
        json={**outlet, "emission_standard": "GB 13223-2011", "limit_category": "gas-boiler"},
        headers=admin,
    )
    assert (
        "is a gas category, the outlet is water"
        in error_of(wrong_medium, 422, "limit_category")["message"]
    )
    error_of(client.post("/v1/staff/enterprises/999/outlets", json=outlet, headers=admin), 404)
    first = client.post(f"/v1/staff/enterprises/{eid}/outlets", json=outlet, headers=admin)
    assert first.status_code == 201
    error_of(client.post(f"/v1/staff/enterprises/{eid}/outlets", json=outlet, headers=admin), 409)
    bad_mn = client.patch(
        f"/v1/staff/outlets/{first.json()['id']}", json={"mn": "A/B"}, headers=admin
    )
    error_of(bad_mn, 422, "mn")
    error_of(client.patch("/v1/staff/outlets/999", json={"code": "DA1"}, headers=admin), 404)
    assert db.execute("SELECT count(*) FROM outlets").fetchone() == (1,)
    assert [e[1] for e in audit_log(db)] == ["enterprise.create", "outlet.create"]


REGISTRY_HEADER = (
    "enterprise_uscc,enterprise_name_zh,mn,name_zh,kind,emission_standard,limit_category\n"
)


def test_registry_upload(client: TestClient, db: psycopg.Connection, admin: dict[str, str]) -> None:
    good = (
        REGISTRY_HEADER
        + f"{USCC_A},甬澄发电,{MN_1},1号烟囱,gas,GB 13223-2011,coal-boiler-existing\n"
        + f"{USCC_B},清源水务,{MN_2},总排口,water,GB 18918-2002,class-1A\n"
    )
    bad = good.replace("coal-boiler-existing", "coal-boiler-exisitng").replace(
        ",water,", ",sewage,"
    )
    refused = client.post(
        "/v1/staff/registry/import",
        files={"file": ("registry.csv", bad.encode(), "text/csv")},
        headers=admin,
    )
    message = error_of(refused, 422, "file")["message"]
    assert message.startswith("file: 2 error(s), nothing imported: row 2, field limit_category:")
    assert "row 3, field kind: must be 'gas' or 'water', got 'sewage'" in message
    assert db.execute("SELECT count(*) FROM enterprises").fetchone() == (0,)

    done = client.post(
        "/v1/staff/registry/import",
        files={"file": ("registry.csv", good.encode(), "text/csv")},
        headers=admin,
    )
    assert done.status_code == 200, done.text
    assert done.json() == {
        "enterprises_inserted": 2,
        "enterprises_updated": 0,
        "outlets_inserted": 2,
        "outlets_updated": 0,
        "bindings_added": 2,
        "moved": [],
    }
    (entry,) = [e for e in audit_log(db) if e[1] == "registry.import"]
    assert entry[5]["file"] == "registry.csv" and entry[5]["bindings_added"] == 2

    large = client.post(
        "/v1/staff/registry/import",
        files={"file": ("r.csv", b"x" * (MAX_REGISTRY_BYTES + 1), "text/csv")},
        headers=admin,
    )
    assert error_of(large, 413, "file")["code"] == "too_large"
    wrong_type = client.post(
        "/v1/staff/registry/import",
        files={"file": ("registry.xlsx", b"PK", "application/octet-stream")},
        headers=admin,
    )
    assert "unsupported file type" in error_of(wrong_type, 422, "file")["message"]


def test_a_body_that_is_not_json_is_a_bad_parameter(
    client: TestClient, admin: dict[str, str]
) -> None:
    answer = client.post(
        "/v1/staff/enterprises",
        content=b"\xff{not json",
        headers={**admin, "Content-Type": "application/json"},
    )
    assert error_of(answer, 422, "body")["message"] == "body: not valid JSON"
