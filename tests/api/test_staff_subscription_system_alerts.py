"""Subscribing staff to system alerts through ``/v1/staff/subscriptions``: the fields, staff
only, and every bad value a 422 in the one error shape."""

from __future__ import annotations

import psycopg
from fastapi.testclient import TestClient

from tests.api.conftest import World, error_of
from tests.fixtures.staff import staff_headers

URL = "/v1/staff/subscriptions"


def test_staff_subscribe_to_system_alerts_and_others_are_refused(
    client: TestClient, db: psycopg.Connection, world: World
) -> None:
    admin = staff_headers(db, "wang.admin", "admin")
    staff_headers(db, "ops.li", "viewer")
    mail = {"subscriber": "ops.li", "channel": "email", "target": "ops.li@example.gov.cn"}

    plain = client.post(URL, json=mail, headers=admin)
    assert plain.status_code == 201, plain.text
    assert (plain.json()["cases"], plain.json()["system_alerts"]) == (True, False)
    assert plain.json()["system_alert_kinds"] == []

    wanted = {**mail, "cases": False, "system_alerts": True, "system_alert_kinds": ["broker-drops"]}
    created = client.post(URL, json=wanted, headers=admin)
    assert created.status_code == 201, created.text
    sub = created.json()
    assert (sub["cases"], sub["system_alerts"], sub["system_alert_kinds"]) == (
        False,
        True,
        ["broker-drops"],
    )
    stored = db.execute(
        "SELECT cases, system_alerts, system_alert_kinds FROM subscriptions WHERE id = %s",
        (sub["id"],),
    ).fetchone()
    assert stored == (False, True, ["broker-drops"])

    outsider = {**wanted, "subscriber": "duty@example.gov.cn", "target": "duty@example.gov.cn"}
    assert "staff" in error_of(client.post(URL, json=outsider, headers=admin), 422)["message"]
    error_of(
        client.post(URL, json={**wanted, "system_alert_kinds": ["disk-full"]}, headers=admin), 422
    )
    error_of(client.post(URL, json={**wanted, "system_alerts": "maybe"}, headers=admin), 422)
    nothing = {**mail, "cases": False}
    assert (
        "cases, system_alerts"
        in error_of(client.post(URL, json=nothing, headers=admin), 422)["message"]
    )
    kinds_only = {**mail, "system_alert_kinds": ["recall-failed"]}
    error_of(client.post(URL, json=kinds_only, headers=admin), 422)

    sid = plain.json()["id"]
    error_of(client.patch(f"{URL}/{sid}", json={"system_alerts": None}, headers=admin), 422)
    error_of(client.patch(f"{URL}/{sid}", json={"cases": None}, headers=admin), 422)
    changed = client.patch(
        f"{URL}/{sid}", json={"system_alerts": True, "system_alert_kinds": []}, headers=admin
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["system_alerts"] is True
    # switched off again: its kinds go with it
    off = client.patch(
        f"{URL}/{sub['id']}", json={"system_alerts": False, "cases": True}, headers=admin
    )
    assert off.status_code == 200, off.text
    assert (off.json()["system_alerts"], off.json()["system_alert_kinds"]) == (False, [])
    audit = db.execute(
        "SELECT after FROM staff_audit WHERE action = 'subscription.update' ORDER BY id"
    ).fetchall()
    assert audit[0][0] == {"system_alerts": True}
