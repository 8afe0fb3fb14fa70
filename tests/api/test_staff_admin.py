"""Admins manage notification subscriptions (secrets write-only) and staff accounts and
tokens through the API; every change is audited."""

from __future__ import annotations

import json
import logging

import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import World, error_of
from tests.fixtures.staff import staff_headers

SECRET = "K3y-never-shown"


def auth(db: psycopg.Connection, username: str, role: str) -> dict[str, str]:
    return staff_headers(db, username, role)


@pytest.fixture
def admin(db: psycopg.Connection) -> dict[str, str]:
    return auth(db, "wang.admin", "admin")


def test_subscriptions_crud_with_a_write_only_secret(
    client: TestClient,
    db: psycopg.Connection,
    world: World,
    admin: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    editor = auth(db, "li.na", "editor")
    hook = {
        "subscriber": "duty@example.gov.cn",
        "channel": "webhook",
        "target": "https://hooks.example.gov.cn/sw",
        "secret": SECRET,
        "kinds": ["exceedance"],
        "min_severity": "major",
    }
    error_of(client.post("/v1/staff/subscriptions", json=hook), 401)
    error_of(client.post("/v1/staff/subscriptions", json=hook, headers=editor), 403)
    created = client.post("/v1/staff/subscriptions", json=hook, headers=admin)
    assert created.status_code == 201, created.text
    sub = created.json()
    assert sub["secret_set"] is True and "secret" not in sub
    assert (sub["kinds"], sub["min_severity"], sub["active"]) == (["exceedance"], "major", True)
    sid = sub["id"]

    no_secret = {**hook, "secret": None}
    message = error_of(client.post("/v1/staff/subscriptions", json=no_secret, headers=admin), 422)
    assert "webhook subscriptions need a secret" in message["message"]
    bad_pollutant = {**hook, "pollutants": ["x99999"]}
    error_of(client.post("/v1/staff/subscriptions", json=bad_pollutant, headers=admin), 422)
    error_of(client.post("/v1/staff/subscriptions", json={**hook, "x": 1}, headers=admin), 422, "x")

    changed = client.patch(
        f"/v1/staff/subscriptions/{sid}",
        json={"districts": ["西湖区"], "secret": "N3w-secret"},
        headers=admin,
    )
    assert changed.status_code == 200 and changed.json()["districts"] == ["西湖区"]
    assert db.execute("SELECT secret FROM subscriptions").fetchone() == ("N3w-secret",)
    to_email = client.patch(
        f"/v1/staff/subscriptions/{sid}",
        json={"channel": "email", "target": "duty@example.gov.cn"},
        headers=admin,
    )
    assert "email subscriptions take no secret" in error_of(to_email, 422)["message"]
    error_of(client.patch("/v1/staff/subscriptions/999", json={}, headers=admin), 404)

    listed = client.get("/v1/staff/subscriptions", headers=admin).json()
    assert [s["id"] for s in listed["results"]] == [sid]
    assert client.get(f"/v1/staff/subscriptions/{sid}", headers=admin).json()["secret_set"]
    off = client.post(f"/v1/staff/subscriptions/{sid}/deactivate", headers=admin)
    assert off.json()["subscription"]["active"] is False and off.json()["pending_cancelled"] == 0
    assert client.get("/v1/staff/subscriptions", headers=admin).json()["results"] == []
    shown = client.get("/v1/staff/subscriptions?include_inactive=true", headers=admin).json()
    assert len(shown["results"]) == 1

    audit = db.execute(
        "SELECT action, before, after FROM staff_audit WHERE object_type = 'subscription'"
        " ORDER BY id"
    ).fetchall()
    assert [a[0] for a in audit] == [
        "subscription.create",
        "subscription.update",
        "subscription.deactivate",
    ]
    assert audit[1][1] == {"districts": []}
    assert audit[1][2] == {"districts": ["西湖区"], "secret_changed": True}
    recorded = json.dumps(audit, ensure_ascii=False) + caplog.text
    assert SECRET not in recorded and "N3w-secret" not in recorded


def test_users_and_tokens(
    client: TestClient, db: psycopg.Connection, admin: dict[str, str]
) -> None:
    viewer = auth(db, "li.na", "viewer")
    error_of(client.get("/v1/staff/users", headers=viewer), 403)
    created = client.put(
        "/v1/staff/users/zhao.lei",
        json={"roles": ["enforcement"], "display_name": "赵磊"},
        headers=admin,
    )
    assert created.status_code == 200, created.text
    assert (created.json()["roles"], created.json()["active"]) == (["enforcement"], True)
    error_of(
        client.put("/v1/staff/users/zhao.lei", json={"roles": ["boss"]}, headers=admin),
        422,
        "roles",
    )
    error_of(client.put("/v1/staff/users/a%20b", json={"roles": ["viewer"]}, headers=admin), 422)

    issued = client.post(
        "/v1/staff/users/zhao.lei/tokens",
        json={"label": "laptop", "expires_in_days": 30},
        headers=admin,
    )
    assert issued.status_code == 201, issued.text
    token = issued.json()["token"]
    assert token.startswith("sw_") and issued.json()["expires"] is not None
    mine = {"Authorization": f"Bearer {token}"}
    assert client.get("/v1/staff/cases", headers=mine).status_code == 200
    tokens = client.get("/v1/staff/users/zhao.lei/tokens", headers=admin).json()["results"]
    assert [t["label"] for t in tokens] == ["laptop"] and "token" not in tokens[0]
    assert token not in json.dumps(tokens)

    revoked = client.post(f"/v1/staff/tokens/{tokens[0]['id']}/revoke", headers=admin)
    assert revoked.status_code == 200 and revoked.json()["revoked"] is not None
    error_of(client.get("/v1/staff/cases", headers=mine), 401)
    error_of(client.post("/v1/staff/tokens/999/revoke", headers=admin), 404, "token_id")

    second = client.post("/v1/staff/users/zhao.lei/tokens", json={}, headers=admin).json()
    off = client.post("/v1/staff/users/zhao.lei/deactivate", headers=admin)
    assert off.json()["tokens_revoked"] == 1 and off.json()["user"]["active"] is False
    error_of(
        client.get("/v1/staff/cases", headers={"Authorization": f"Bearer {second['token']}"}), 401
    )
    error_of(client.post("/v1/staff/users/zhao.lei/tokens", json={}, headers=admin), 409)
    error_of(client.post("/v1/staff/users/wang.admin/deactivate", headers=admin), 409)
    error_of(client.post("/v1/staff/users/nobody/deactivate", headers=admin), 404, "username")

    actions = [
        a
        for (a,) in db.execute(
            "SELECT action FROM staff_audit WHERE actor = 'wang.admin' ORDER BY id"
        )
    ]
    assert actions == [
        "user.create",
        "token.issue",
        "token.revoke",
        "token.issue",
        "token.revoke",
        "user.deactivate",
    ]
    users = {u["username"] for u in client.get("/v1/staff/users", headers=admin).json()["results"]}
    assert users == {"wang.admin", "li.na", "zhao.lei"}


ROBOT_KEY = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"


def test_subscription_secrets_are_never_printed_back(
    client: TestClient, db: psycopg.Connection, admin: dict[str, str]
) -> None:
    """Issue 15: no answer (created, read, listed, error, audit) carries a secret, and a robot's
    key or access token in its URL counts as one."""
    wecom = {
        "subscriber": "duty@example.gov.cn",
        "channel": "wecom",
        "target": f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={ROBOT_KEY}",
    }
    created = client.post("/v1/staff/subscriptions", json=wecom, headers=admin)
    assert created.status_code == 201, created.text
    sid = created.json()["id"]
    assert created.json()["target"].endswith("?key=***")
    answers = [
        created,
        client.get(f"/v1/staff/subscriptions/{sid}", headers=admin),
        client.get("/v1/staff/subscriptions", headers=admin),
        client.get("/v1/staff/audit", headers=admin),
        # malformed writes carrying a secret: the error names the problem, not the value
        client.post("/v1/staff/subscriptions", json={**wecom, "secret": SECRET}, headers=admin),
        client.post(
            "/v1/staff/subscriptions",
            json={**wecom, "channel": "webhook", "target": f"ftp://x/{SECRET}", "secret": SECRET},
            headers=admin,
        ),
        client.post("/v1/staff/subscriptions", json={**wecom, "secret": [SECRET]}, headers=admin),
        client.patch(
            f"/v1/staff/subscriptions/{sid}", json={"secret": {"k": SECRET}}, headers=admin
        ),
        client.patch(
            f"/v1/staff/subscriptions/{sid}",
            json={"target": "https://qyapi.weixin.qq.com/x?nokey=1", "secret": SECRET},
            headers=admin,
        ),
    ]
    for answer in answers:
        assert ROBOT_KEY not in answer.text and SECRET not in answer.text, answer.text
    stored = db.execute("SELECT target FROM subscriptions WHERE id = %s", (sid,)).fetchone()
    assert stored == (wecom["target"],)  # the dispatcher still has the whole URL
    audit = db.execute("SELECT before::text, after::text FROM staff_audit").fetchall()
    assert all(ROBOT_KEY not in str(a) for a in audit)
