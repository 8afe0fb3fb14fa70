"""Issue 15: the staff API refuses webhook targets on internal addresses (server-side request
forgery from the alerts process), unless the server allows them."""

from __future__ import annotations

import psycopg
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ApiSettings
from tests.api.conftest import error_of
from tests.fixtures.staff import staff_headers

HOOK = {"subscriber": "ops", "channel": "webhook", "secret": "k"}


def test_internal_targets_are_refused_at_creation_and_change(
    client: TestClient, db: psycopg.Connection, settings: ApiSettings
) -> None:
    admin = staff_headers(db, "wang.admin", "admin")
    for target in ("http://169.254.169.254/latest/meta-data/", "http://localhost:5432/"):
        body = {**HOOK, "target": target}
        message = error_of(client.post("/v1/staff/subscriptions", json=body, headers=admin), 422)
        assert "global addresses only" in message["message"]
    created = client.post(
        "/v1/staff/subscriptions", json={**HOOK, "target": "http://8.8.8.8/h"}, headers=admin
    )
    assert created.status_code == 201, created.text
    sid = created.json()["id"]
    change = {"target": "http://10.0.0.7/h"}
    response = client.patch(f"/v1/staff/subscriptions/{sid}", json=change, headers=admin)
    error_of(response, 422)
    assert db.execute("SELECT target FROM subscriptions").fetchall() == [("http://8.8.8.8/h",)]
    allowing = settings.model_copy(update={"notify_allow_private_targets": True})
    with TestClient(create_app(allowing)) as lenient:
        response = lenient.patch(f"/v1/staff/subscriptions/{sid}", json=change, headers=admin)
        assert response.status_code == 200, response.text
