"""Requests for information through the API (issue 17): the public form and tracking by
reference and token, the staff walk from registration to answer across the 2026 holidays with an
extension, the overdue list, roles, the submit limit and 4xx errors — against the real database,
with the API connected as its own role.

Due days are counted by hand from the 2026 holiday notice (see
tests/schemas/test_disclosure_requests.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import psycopg
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ApiSettings
from schemas.disclosure.requests import local_today
from tests.api.conftest import error_of
from tests.api.test_staff_disclosures import headers

STAFF = "/v1/staff/requests"
FORM = {
    "requester_name": "宁波市某环保志愿者协会",
    "requester_kind": "organisation",
    "contact": "volunteer@example.cn",
    "description": "甬江某河段2026年水质监测月报",
    "preferred_form": "electronic",
}


def submit(client: TestClient, **changes: Any) -> dict[str, Any]:
    answer = client.post("/v1/requests", json={**FORM, **changes})
    assert answer.status_code == 201, answer.text
    assert answer.headers["cache-control"] == "private, no-store"
    return dict(answer.json())


def track(client: TestClient, reference: str, token: str) -> Any:
    return client.get(f"/v1/requests/{reference}", headers={"X-Tracking-Token": token})


def test_requester_follows_only_their_own_request(client: TestClient) -> None:
    mine = submit(client)
    theirs = submit(client, requester_name="王五", requester_kind="person")
    assert mine["reference"] != theirs["reference"] and mine["token"] != theirs["token"]
    seen = track(client, mine["reference"], mine["token"])
    assert seen.status_code == 200, seen.text
    body = seen.json()
    assert body["reference"] == mine["reference"] and body["status"] == "received"
    assert body["requester_name"] == FORM["requester_name"]
    assert body["channel"]["name"] == {"zh": "网上申请", "en": "Online (portal or API)"}
    assert body["due_on"] == mine["due_on"] and body["outcome"] is None
    assert "contact" not in body  # the staff view only
    # Someone else's token, a made-up reference, no token: the same 404 or 422, nothing leaks.
    for reference, token in [
        (mine["reference"], theirs["token"]),
        (theirs["reference"], mine["token"]),
        ("YSQ-2026-ZZZZZZ", mine["token"]),
    ]:
        error = error_of(track(client, reference, token), 404, "reference")
        assert FORM["requester_name"] not in error["message"]
    error_of(client.get(f"/v1/requests/{mine['reference']}"), 422)
    error_of(client.get("/v1/requests/not-a-reference", headers={"X-Tracking-Token": "x"}), 422)


def test_submit_validates_its_input(client: TestClient) -> None:
    error_of(client.post("/v1/requests", json={**FORM, "description": "  "}), 422, "description")
    error_of(
        client.post("/v1/requests", json={**FORM, "preferred_form": "fax"}), 422, "preferred_form"
    )
    error_of(
        client.post("/v1/requests", json={**FORM, "description": "x" * 5001}), 422, "description"
    )
    error_of(client.post("/v1/requests", json={**FORM, "channel": "post"}), 422, "channel")
    error_of(client.post("/v1/requests", content=b"not json"), 422)
    assert client.get(f"{STAFF}").status_code == 401


def test_submit_is_limited_per_address(role_urls: dict[str, str], db: psycopg.Connection) -> None:
    settings = ApiSettings(
        database_url=role_urls["api"], api_rate_limit_per_minute=0, api_request_submits_per_hour=2
    )
    with TestClient(create_app(settings)) as c:
        submit(c)
        submit(c)
        refused = c.post("/v1/requests", json=FORM)
        error = error_of(refused, 429)
        assert "3600 s" in error["message"] and int(refused.headers["retry-after"]) >= 1
        assert c.get("/v1/request-outcomes").status_code == 200  # reading is not limited here
    count = db.execute("SELECT count(*) FROM disclosure_requests").fetchone()
    assert count == (2,)


def test_staff_walk_across_the_holidays_with_an_extension(
    client: TestClient, db: psycopg.Connection
) -> None:
    editor = headers(db, "li.na", "editor")
    viewer = headers(db, "zhou.min", "viewer")
    admin = headers(db, "chen.jie", "admin")
    registered = client.post(
        STAFF,
        json={**FORM, "channel": "post", "received_on": "2026-09-23"},
        headers=editor,
    )
    assert registered.status_code == 201, registered.text
    token = registered.json()["token"]
    request = registered.json()["request"]
    rid, reference = request["id"], request["reference"]
    assert request["due_on"] == "2026-10-28"  # 20 working days across both holidays
    assert request["created_by"] == "li.na" and request["channel"]["code"] == "post"

    error_of(
        client.post(
            f"{STAFF}",
            json={**FORM, "channel": "post", "received_on": "2026-09-23"},
            headers=viewer,
        ),
        403,
    )
    assign = client.post(f"{STAFF}/{rid}/assign", json={"assignee": "li.na"}, headers=editor)
    assert assign.status_code == 200 and assign.json()["assigned_to"] == "li.na"

    body = {"days": 20, "reason": "需调取归档材料", "on": "2026-10-27"}
    error_of(client.post(f"{STAFF}/{rid}/extend", json=body, headers=editor), 403)
    extended = client.post(f"{STAFF}/{rid}/extend", json=body, headers=admin)
    assert extended.status_code == 200, extended.text
    assert (
        extended.json()["due_on"] == "2026-11-25" and extended.json()["extended_by"] == "chen.jie"
    )
    error_of(client.post(f"{STAFF}/{rid}/extend", json=body, headers=admin), 409)

    pdf = b"%PDF-1.7 the monthly reports"
    attached = client.post(
        f"{STAFF}/{rid}/attachments",
        files={"file": ("月报.pdf", pdf, "application/pdf")},
        headers=editor,
    )
    assert attached.status_code == 201, attached.text
    sha = attached.json()["sha256"]

    bad = {"outcome": "upheld", "text": "x", "on": "2026-11-25"}
    error_of(client.post(f"{STAFF}/{rid}/answer", json=bad, headers=editor), 422, "outcome")
    answered = client.post(
        f"{STAFF}/{rid}/answer",
        json={"outcome": "disclosed", "text": "现以电子邮件向您提供。", "on": "2026-11-25"},
        headers=editor,
    )
    assert answered.status_code == 200, answered.text
    assert answered.json()["on_time"] is True and answered.json()["overdue"] is False
    error_of(
        client.post(
            f"{STAFF}/{rid}/answer", json={"outcome": "disclosed", "text": "x"}, headers=editor
        ),
        409,
    )

    seen = track(client, reference, token).json()
    assert seen["status"] == "answered" and seen["on_time"] is True
    assert seen["outcome"] == {"code": "disclosed", "name": {"zh": "予以公开", "en": "Disclosed"}}
    assert seen["extension_days"] == 20 and seen["extension_reason"] == "需调取归档材料"
    assert [a["sha256"] for a in seen["attachments"]] == [sha]
    file = client.get(
        f"/v1/requests/{reference}/attachments/{sha}", headers={"X-Tracking-Token": token}
    )
    assert file.status_code == 200 and file.content == pdf
    error_of(
        client.get(
            f"/v1/requests/{reference}/attachments/{sha}", headers={"X-Tracking-Token": "nope"}
        ),
        404,
    )

    challenge = client.post(
        f"{STAFF}/{rid}/challenges",
        json={"kind": "reconsideration", "filed_on": "2026-11-30"},
        headers=editor,
    )
    assert challenge.status_code == 201, challenge.text
    (recorded,) = challenge.json()["challenges"]
    decided = client.post(
        f"/v1/staff/request-challenges/{recorded['id']}/decide",
        json={"outcome": "upheld", "decided_on": "2026-12-01"},
        headers=editor,
    )
    assert decided.json()["challenges"][0]["outcome"] == "upheld"

    audit = client.get(
        f"/v1/staff/audit?object_type=disclosure_request&object_id={rid}", headers=admin
    )
    assert audit.status_code == 200, audit.text
    actions = sorted(e["action"] for e in audit.json()["results"])
    assert actions == sorted(
        [
            "request.submit",
            "request.assign",
            "request.extend",
            "request.attach",
            "request.answer",
            "request.challenge",
            "request.challenge_decide",
        ]
    )


def test_overdue_list_and_reminders(client: TestClient, db: psycopg.Connection) -> None:
    editor = headers(db, "li.na", "editor")
    # Relative to the real Asia/Shanghai today the API judges by: 60 days ago is past any
    # 20-working-day deadline (even across the Spring Festival), today's is not yet due.
    today = local_today()
    long_ago = (today - timedelta(days=60)).isoformat()
    ids = {}
    for name, day in [("late", long_ago), ("done", long_ago), ("recent", today.isoformat())]:
        answer = client.post(
            STAFF, json={**FORM, "channel": "in_person", "received_on": day}, headers=editor
        )
        ids[name] = answer.json()["request"]["id"]
    client.post(
        f"{STAFF}/{ids['done']}/answer",
        json={"outcome": "not_held", "text": "经检索，该信息不存在。", "on": long_ago},
        headers=editor,
    )
    overdue = client.get(f"{STAFF}/overdue", headers=editor).json()
    assert [r["id"] for r in overdue["results"]] == [ids["late"]]
    assert (
        overdue["results"][0]["overdue"] is True and overdue["results"][0]["working_days_late"] >= 1
    )
    soon = client.get(f"{STAFF}/overdue?within=40", headers=editor).json()
    assert [r["id"] for r in soon["results"]] == [ids["late"], ids["recent"]]
    listed = client.get(f"{STAFF}?status=answered", headers=editor).json()
    assert [r["id"] for r in listed["results"]] == [ids["done"]] and listed["found"] == 1
    error_of(client.get(f"{STAFF}/999999", headers=editor), 404, "request_id")


def test_outcome_codes_are_public(client: TestClient) -> None:
    codes = client.get("/v1/request-outcomes").json()
    assert {c["code"]: c["working_days"] for c in codes["clocks"]} == {
        "answer": 20,
        "extension": 20,
        "supplement_notice": 7,
    }
    answers = [o["code"] for o in codes["outcomes"] if o["kind"] == "answer"]
    assert answers[:5] == [
        "already_public",
        "disclosed",
        "partly_disclosed",
        "not_disclosed",
        "not_held",
    ]
