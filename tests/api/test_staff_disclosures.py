"""Staff authoring of disclosure records through the API: roles, workflow, versions, ``as_of``,
attachments, bulk import and the audit log — against the real database."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ApiSettings
from schemas.staff.accounts import add_staff_user, issue_token, revoke_token
from tests.api.conftest import World

DAY = timedelta(days=1)  # how long the tests' tokens live

BASE = "/v1/staff/disclosures"
USCC = "91330100000000001C"  # valid GB 32100-2015 codes, given to the world's enterprises
NINGBO_USCC = "91330200000000002L"

PENALTY = {
    "party": "杭州热电有限公司",
    "uscc": USCC,
    "decision_number": "杭环罚〔2026〕12号",
    "facts": "二氧化硫小时均值超标排放",
    "legal_basis": "《大气污染防治法》第九十九条",
    "penalty": "罚款二十万元",
    "fine_yuan": "200000",
    "decision_date": "2026-09-30",
    "authority": "杭州市生态环境局",
    "execution_status": "pending",
}


def headers(db: psycopg.Connection, username: str, *roles: str, **token: Any) -> dict[str, str]:
    add_staff_user(db, username, list(roles), actor="test")
    return {
        "Authorization": f"Bearer {issue_token(db, username, actor='test', **{'expires_at': DAY, **token})}"
    }


@pytest.fixture
def world(world: World, db: psycopg.Connection) -> World:
    """The API fixture world, with check characters that GB 32100-2015 accepts."""
    db.execute("UPDATE enterprises SET uscc = %s WHERE id = %s", (USCC, world.hangzhou))
    db.execute("UPDATE enterprises SET uscc = %s WHERE id = %s", (NINGBO_USCC, world.ningbo))
    return world


@pytest.fixture
def editor(db: psycopg.Connection) -> dict[str, str]:
    return headers(db, "li.na", "editor")


@pytest.fixture
def reviewer(db: psycopg.Connection) -> dict[str, str]:
    return headers(db, "wang.qiang", "editor")


def published(
    client: TestClient, editor: dict[str, str], reviewer: dict[str, str], body: dict[str, Any]
) -> dict[str, Any]:
    created = client.post(BASE, json=body, headers=editor)
    assert created.status_code == 201, created.text
    record_id = created.json()["id"]
    assert client.post(f"{BASE}/{record_id}/approve", headers=reviewer).status_code == 200
    answer = client.post(f"{BASE}/{record_id}/publish", headers=editor)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


# --- Authentication and roles ------------------------------------------------------------------

# The role each staff endpoint needs; the test below fails when an endpoint is missing here.
NEEDS = {
    ("GET", "/v1/staff/alerts/stream"): "viewer",
    ("GET", "/v1/staff/cases"): "viewer",
    ("GET", "/v1/staff/cases/{case_id}"): "viewer",
    ("POST", "/v1/staff/cases/{case_id}/acknowledge"): "enforcement",
    ("POST", "/v1/staff/cases/{case_id}/assign"): "enforcement",
    ("POST", "/v1/staff/cases/{case_id}/comment"): "enforcement",
    ("POST", "/v1/staff/cases/{case_id}/close"): "enforcement",
    ("POST", "/v1/staff/cases/{case_id}/reply"): "enforcement",
    ("GET", "/v1/staff/cases/{case_id}/evidence.zip"): "enforcement",
    ("GET", BASE): "viewer",
    ("GET", BASE + "/import-template"): "editor",
    ("GET", BASE + "/{record_id}"): "viewer",
    ("GET", BASE + "/{record_id}/attachments/{sha256}"): "viewer",
    ("POST", BASE): "editor",
    ("PATCH", BASE + "/{record_id}"): "editor",
    ("POST", BASE + "/{record_id}/approve"): "editor",
    ("POST", BASE + "/{record_id}/publish"): "editor",
    ("POST", BASE + "/{record_id}/withdraw"): "editor",
    ("POST", BASE + "/{record_id}/correct"): "editor",
    ("POST", BASE + "/{record_id}/attachments"): "editor",
    ("POST", BASE + "/import"): "editor",
    ("GET", "/v1/staff/audit"): "admin",
    # registry, limits, subscriptions, users and tokens (issue 13)
    ("POST", "/v1/staff/enterprises"): "admin",
    ("PATCH", "/v1/staff/enterprises/{enterprise_id}"): "admin",
    ("POST", "/v1/staff/enterprises/{enterprise_id}/deactivate"): "admin",
    ("POST", "/v1/staff/enterprises/{enterprise_id}/outlets"): "admin",
    ("GET", "/v1/staff/outlets/unjudged"): "viewer",
    ("GET", "/v1/staff/outlets/{outlet_id}"): "viewer",
    ("PATCH", "/v1/staff/outlets/{outlet_id}"): "admin",
    ("POST", "/v1/staff/outlets/{outlet_id}/deactivate"): "admin",
    ("GET", "/v1/staff/outlets/{outlet_id}/limits"): "viewer",
    ("POST", "/v1/staff/outlets/{outlet_id}/bindings"): "admin",
    ("POST", "/v1/staff/registry/import"): "admin",
    ("POST", "/v1/staff/limits/import"): "admin",
    ("GET", "/v1/staff/standards"): "viewer",
    ("GET", "/v1/staff/subscriptions"): "admin",
    ("POST", "/v1/staff/subscriptions"): "admin",
    ("GET", "/v1/staff/subscriptions/{subscription_id}"): "admin",
    ("PATCH", "/v1/staff/subscriptions/{subscription_id}"): "admin",
    ("POST", "/v1/staff/subscriptions/{subscription_id}/deactivate"): "admin",
    ("GET", "/v1/staff/users"): "admin",
    ("PUT", "/v1/staff/users/{username}"): "admin",
    ("POST", "/v1/staff/users/{username}/deactivate"): "admin",
    ("GET", "/v1/staff/users/{username}/tokens"): "admin",
    ("POST", "/v1/staff/users/{username}/tokens"): "admin",
    ("POST", "/v1/staff/tokens/{token_id}/revoke"): "admin",
    # nothing silently missing (issue 14): system alerts and the history recall
    ("GET", "/v1/staff/system-alerts"): "viewer",
    ("POST", "/v1/staff/system-alerts/{alert_id}/close"): "admin",
    ("GET", "/v1/staff/recall/gaps"): "viewer",
    ("GET", "/v1/staff/recall/requests"): "viewer",
    ("GET", "/v1/staff/recall/requests/{request_id}"): "viewer",
    # requests for information (issue 17): the roles of the disclosure records; extending the
    # time to answer is the head's approval (admin)
    ("GET", "/v1/staff/requests"): "viewer",
    ("POST", "/v1/staff/requests"): "editor",
    ("GET", "/v1/staff/requests/overdue"): "viewer",
    ("GET", "/v1/staff/requests/{request_id}"): "viewer",
    ("GET", "/v1/staff/requests/{request_id}/attachments/{sha256}"): "viewer",
    ("POST", "/v1/staff/requests/{request_id}/assign"): "editor",
    ("POST", "/v1/staff/requests/{request_id}/supplement"): "editor",
    ("POST", "/v1/staff/requests/{request_id}/supplement-received"): "editor",
    ("POST", "/v1/staff/requests/{request_id}/extend"): "admin",
    ("POST", "/v1/staff/requests/{request_id}/answer"): "editor",
    ("POST", "/v1/staff/requests/{request_id}/attachments"): "editor",
    ("POST", "/v1/staff/requests/{request_id}/challenges"): "editor",
    ("POST", "/v1/staff/request-challenges/{challenge_id}/decide"): "editor",
}
# A role that is not enough for each needed role.
UNDER = {"editor": "enforcement", "enforcement": "editor", "admin": "editor"}


def staff_endpoints(client: TestClient) -> list[tuple[str, str]]:
    """From the OpenAPI document, which lists every route of the API."""
    paths = create_app(ApiSettings()).openapi()["paths"]
    return sorted(
        (method.upper(), path)
        for path, operations in paths.items()
        if path.startswith("/v1/staff")
        for method in operations
    )


def concrete(path: str) -> str:
    for name in (
        "case_id",
        "record_id",
        "enterprise_id",
        "outlet_id",
        "subscription_id",
        "request_id",
        "challenge_id",
    ):
        path = path.replace(f"{{{name}}}", "1")
    path = path.replace("{token_id}", "1").replace("{username}", "li.na")
    return path.replace("{sha256}", "0" * 64)


def test_every_staff_endpoint_is_listed(client: TestClient) -> None:
    assert sorted(NEEDS) == staff_endpoints(client)


@pytest.mark.parametrize("credential", ["missing", "malformed", "unknown", "expired", "revoked"])
def test_every_staff_endpoint_rejects_bad_tokens(
    client: TestClient, db: psycopg.Connection, credential: str
) -> None:
    add_staff_user(db, "admin.zhao", ["admin"], actor="test")
    token = {
        "missing": None,
        "malformed": "Token abc",
        "unknown": "Bearer sw_not-a-token",
        "expired": "Bearer "
        + issue_token(
            db, "admin.zhao", actor="test", expires_at=datetime.now(UTC) - timedelta(seconds=1)
        ),
        "revoked": None,
    }[credential]
    if credential == "revoked":
        raw = issue_token(db, "admin.zhao", actor="test", expires_at=DAY)
        assert revoke_token(db, raw, actor="test")
        token = f"Bearer {raw}"
    sent = {} if token is None else {"Authorization": token}
    for method, path in staff_endpoints(client):
        answer = client.request(method, concrete(path), headers=sent)
        assert answer.status_code == 401, (method, path, answer.text)
        assert answer.json()["error"]["code"] == "unauthorized"


def test_every_staff_endpoint_rejects_an_under_privileged_token(
    client: TestClient, db: psycopg.Connection
) -> None:
    tokens = {role: headers(db, f"only.{role}", role) for role in ("editor", "enforcement")}
    checked = 0
    for (method, path), role in NEEDS.items():
        if role == "viewer":
            continue  # every role can read
        answer = client.request(method, concrete(path), headers=tokens[UNDER[role]])
        assert answer.status_code == 403, (method, path, answer.text)
        assert role in answer.json()["error"]["message"]
        checked += 1
    assert checked >= 15


# --- Workflow, versions and as_of --------------------------------------------------------------


def test_draft_review_publish_correct_withdraw(
    client: TestClient,
    db: psycopg.Connection,
    world: World,
    editor: dict[str, str],
    reviewer: dict[str, str],
) -> None:
    body = {"record_type": "penalty_decision", "content": PENALTY, "enterprise_id": world.hangzhou}
    created = client.post(BASE, json=body, headers=editor)
    assert created.status_code == 201, created.text
    draft = created.json()
    assert draft["status"] == "draft" and draft["version"] == 1
    assert draft["category"]["code"] == "penalty"
    assert draft["title"]["zh"].startswith("杭州") or "杭环罚" in draft["title"]["zh"]
    # 7 working days after 2026-09-30, across the National Day holiday (Oct 1–7 off, Oct 10
    # a make-up working day): Oct 8, 9, 10, 12, 13, 14, 15.
    assert draft["due_on"] == "2026-10-15"
    record_id = draft["id"]

    assert client.get("/v1/disclosures").json()["meta"]["found"] == 0  # drafts are not public
    own = client.post(f"{BASE}/{record_id}/approve", headers=editor)
    assert own.status_code == 409 and "four eyes" in own.json()["error"]["message"]
    early = client.post(f"{BASE}/{record_id}/publish", headers=editor)
    assert early.status_code == 409
    assert (
        client.post(f"{BASE}/{record_id}/approve", headers=reviewer).json()["status"] == "approved"
    )
    first = client.post(f"{BASE}/{record_id}/publish", headers=editor).json()
    assert first["status"] == "published" and first["log"]["seq"] == 1
    assert first["on_time"] is False  # published in November for an October deadline
    after_first = datetime.now(UTC)

    public = client.get("/v1/disclosures", params={"category": "penalty"}).json()
    assert [r["id"] for r in public["results"]] == [record_id]
    assert "created_by" not in public["results"][0]  # no staff details in public

    # a published version cannot be edited, only corrected
    assert (
        client.patch(f"{BASE}/{record_id}", json={"content": PENALTY}, headers=editor).status_code
        == 409
    )
    no_reason = client.post(f"{BASE}/{record_id}/correct", json={"reason": " "}, headers=editor)
    assert no_reason.status_code == 422
    fixed = {**PENALTY, "execution_status": "executed"}
    correction = client.post(
        f"{BASE}/{record_id}/correct",
        json={"reason": "罚款已缴纳", "content": fixed},
        headers=editor,
    )
    assert correction.status_code == 201, correction.text
    v2 = correction.json()
    assert (v2["version"], v2["supersedes"], v2["status"]) == (2, record_id, "draft")
    client.post(f"{BASE}/{v2['id']}/approve", headers=reviewer)
    client.post(f"{BASE}/{v2['id']}/publish", headers=editor)
    after_second = datetime.now(UTC)

    current = client.get("/v1/disclosures").json()["results"]
    assert [(r["id"], r["content"]["execution_status"]) for r in current] == [
        (v2["id"], "executed")
    ]
    versions = client.get(f"/v1/disclosures/{v2['id']}/versions").json()
    assert [(v["version"], v["status"], v["correction_reason"]) for v in versions] == [
        (1, "superseded", None),
        (2, "published", "罚款已缴纳"),
    ]
    then = client.get("/v1/disclosures", params={"as_of": after_first.isoformat()}).json()
    assert [r["id"] for r in then["results"]] == [record_id]
    before = client.get("/v1/disclosures", params={"as_of": "2020-01-01T00:00:00Z"}).json()
    assert before["meta"]["found"] == 0

    gone = client.post(f"{BASE}/{v2['id']}/withdraw", json={"reason": "决定被撤销"}, headers=editor)
    assert gone.json()["status"] == "withdrawn"
    assert client.get("/v1/disclosures").json()["meta"]["found"] == 0
    still = client.get("/v1/disclosures", params={"as_of": after_second.isoformat()}).json()
    assert [r["id"] for r in still["results"]] == [v2["id"]]
    shown = client.get(f"/v1/disclosures/{v2['id']}").json()
    assert shown["withdrawn"]["reason"] == "决定被撤销"
    log = db.execute("SELECT seq, action, record_id FROM publication_log ORDER BY seq").fetchall()
    assert log == [(1, "publish", record_id), (2, "publish", v2["id"]), (3, "withdraw", v2["id"])]


def test_bad_content_names_the_field(
    client: TestClient, world: World, editor: dict[str, str]
) -> None:
    bad = {**PENALTY, "uscc": "123", "execution_status": "maybe"}
    answer = client.post(
        BASE, json={"record_type": "penalty_decision", "content": bad}, headers=editor
    )
    assert answer.status_code == 422
    assert answer.json()["error"]["parameter"] in ("content.uscc", "content.execution_status")
    auto = client.post(BASE, json={"record_type": "daily_summary", "content": {}}, headers=editor)
    assert auto.status_code == 422 and auto.json()["error"]["parameter"] == "record_type"
    nowhere = client.post(
        BASE,
        json={"record_type": "penalty_decision", "content": PENALTY, "enterprise_id": 999},
        headers=editor,
    )
    assert nowhere.status_code == 422 and nowhere.json()["error"]["parameter"] == "enterprise_id"
    assert client.post(f"{BASE}/77/approve", headers=editor).status_code == 404


def test_attachment_is_hashed_and_published(
    client: TestClient,
    db: psycopg.Connection,
    world: World,
    editor: dict[str, str],
    reviewer: dict[str, str],
) -> None:
    body = {"record_type": "penalty_decision", "content": PENALTY, "enterprise_id": world.hangzhou}
    record_id = client.post(BASE, json=body, headers=editor).json()["id"]
    pdf = b"%PDF-1.4\n% decision\n"
    upload = client.post(
        f"{BASE}/{record_id}/attachments",
        files={"file": ("决定书.pdf", pdf, "application/pdf")},
        headers=editor,
    )
    assert upload.status_code == 201, upload.text
    digest = hashlib.sha256(pdf).hexdigest()
    assert upload.json()["sha256"] == digest
    not_pdf = client.post(
        f"{BASE}/{record_id}/attachments",
        files={"file": ("x.pdf", b"hello", "application/pdf")},
        headers=editor,
    )
    assert not_pdf.status_code == 409
    assert (
        client.get(f"/v1/disclosures/{record_id}/attachments/{digest}").status_code == 404
    )  # unpublished
    client.post(f"{BASE}/{record_id}/approve", headers=reviewer)
    client.post(f"{BASE}/{record_id}/publish", headers=editor)
    shown = client.get(f"/v1/disclosures/{record_id}").json()
    assert [a["sha256"] for a in shown["attachments"]] == [digest]
    file = client.get(shown["attachments"][0]["url"])
    assert file.status_code == 200 and file.content == pdf
    assert file.headers["content-type"] == "application/pdf"
    canonical = db.execute(
        "SELECT canonical FROM publication_log WHERE record_id = %s", (record_id,)
    ).fetchone()
    assert canonical is not None and digest in canonical[0]
    late = client.post(
        f"{BASE}/{record_id}/attachments",
        files={"file": ("b.pdf", b"%PDF-2", "application/pdf")},
        headers=editor,
    )
    assert late.status_code == 409  # published content is what was reviewed


def test_an_attachment_makes_its_uploader_the_last_editor(
    client: TestClient,
    db: psycopg.Connection,
    world: World,
    editor: dict[str, str],
    reviewer: dict[str, str],
) -> None:
    """Issue 15: the reviewer attached a file to the editor's draft, then approved it alone —
    the file was reviewed by nobody else."""
    body = {"record_type": "penalty_decision", "content": PENALTY, "enterprise_id": world.hangzhou}
    record_id = client.post(BASE, json=body, headers=editor).json()["id"]
    upload = client.post(
        f"{BASE}/{record_id}/attachments",
        files={"file": ("决定书.pdf", b"%PDF-1.4\n% not the real decision\n", "application/pdf")},
        headers=reviewer,
    )
    assert upload.status_code == 201, upload.text
    own = client.post(f"{BASE}/{record_id}/approve", headers=reviewer)
    assert own.status_code == 409 and "four eyes" in own.json()["error"]["message"]
    staff = client.get(f"{BASE}/{record_id}", headers=editor).json()
    assert staff["updated_by"] == "wang.qiang"
    approved = client.post(f"{BASE}/{record_id}/approve", headers=editor)  # the other editor
    assert approved.status_code == 200 and approved.json()["status"] == "approved"


def test_bulk_import_reports_rows(
    client: TestClient, db: psycopg.Connection, world: World, editor: dict[str, str]
) -> None:
    template = client.get(
        f"{BASE}/import-template", params={"record_type": "penalty_decision"}, headers=editor
    )
    assert template.status_code == 200
    header = [c for c in template.content.decode("utf-8-sig").splitlines()[0].split(",")]
    names = [
        "party",
        "uscc",
        "decision_number",
        "facts",
        "legal_basis",
        "penalty",
        "fine_yuan",
        "decision_date",
        "authority",
        "execution_status",
    ]
    assert len(header) >= len(names)
    lines = [",".join(names)]
    for number, uscc in (("1", USCC), ("2", NINGBO_USCC), ("3", "bad")):
        row = {**PENALTY, "decision_number": f"杭环罚〔2026〕{number}号", "uscc": uscc}
        lines.append(",".join(str(row[n]) for n in names))
    answer = client.post(
        f"{BASE}/import",
        params={"record_type": "penalty_decision"},
        files={"file": ("penalties.csv", "\n".join(lines).encode(), "text/csv")},
        headers=editor,
    )
    assert answer.status_code == 200, answer.text
    out = answer.json()
    assert len(out["created"]) == 2
    assert [(e["line"], e["field"]) for e in out["errors"]] == [(4, "uscc")]
    drafts = db.execute(
        "SELECT enterprise_id FROM disclosure_records WHERE status = 'draft' ORDER BY id"
    ).fetchall()
    assert drafts == [(world.hangzhou,), (world.ningbo,)]
    empty = client.post(
        f"{BASE}/import",
        params={"record_type": "penalty_decision"},
        files={"file": ("x.txt", b"", "text/plain")},
        headers=editor,
    )
    assert empty.status_code == 422 and empty.json()["error"]["parameter"] == "file"


def test_audit_log_has_before_and_after(
    client: TestClient,
    db: psycopg.Connection,
    world: World,
    editor: dict[str, str],
    reviewer: dict[str, str],
) -> None:
    body = {"record_type": "penalty_decision", "content": PENALTY, "enterprise_id": world.hangzhou}
    record = published(client, editor, reviewer, body)
    admin = headers(db, "admin.zhao", "admin")
    log = client.get(
        "/v1/staff/audit", params={"object_type": "disclosure_record"}, headers=admin
    ).json()
    actions = [(e["actor"], e["action"]) for e in reversed(log["results"])]
    assert actions == [
        ("li.na", "disclosure.create"),
        ("wang.qiang", "disclosure.approve"),
        ("li.na", "disclosure.publish"),
    ]
    approve = log["results"][1]
    assert approve["before"] == {"status": "draft"} and approve["after"] == {"status": "approved"}
    assert log["results"][0]["after"]["id"] == record["id"]
    with pytest.raises(psycopg.Error):
        db.execute("UPDATE staff_audit SET actor = 'someone else'")
    users = client.get(
        "/v1/staff/audit", params={"object_type": "staff_user"}, headers=admin
    ).json()
    assert {e["object_id"] for e in users["results"]} >= {"li.na", "wang.qiang", "admin.zhao"}


def test_staff_list_shows_drafts_public_list_does_not(
    client: TestClient, world: World, editor: dict[str, str]
) -> None:
    body = {"record_type": "penalty_decision", "content": PENALTY, "enterprise_id": world.hangzhou}
    client.post(BASE, json=body, headers=editor)
    staff = client.get(BASE, params={"status": "draft"}, headers=editor).json()
    assert staff["meta"]["found"] == 1 and staff["results"][0]["created_by"] == "li.na"
    assert client.get("/v1/disclosures").json()["meta"]["found"] == 0
    csv = client.get(BASE, params={"format": "csv"}, headers=editor)
    assert csv.status_code == 200 and "li.na" in csv.text
    assert client.get(BASE, params={"record_type": "nope"}, headers=editor).status_code == 422


def test_a_type_without_its_own_clock_follows_its_category(
    client: TestClient, db: psycopg.Connection, world: World, editor: dict[str, str]
) -> None:
    content = {
        "inspected_on": "2026-11-02",
        "inspection_type": "special",
        "inspecting_body": "杭州市生态环境执法支队",
        "findings": "在线监测设施运行正常",
        "violations_found": False,
    }
    body = {"record_type": "inspection_result", "content": content, "enterprise_id": world.hangzhou}
    assert client.post(BASE, json=body, headers=editor).json()["due_on"] == "2026-11-30"  # 20
    db.execute("UPDATE disclosure_categories SET deadline_days = 5 WHERE code = 'inspection'")
    try:
        assert client.post(BASE, json=body, headers=editor).json()["due_on"] == "2026-11-09"
        types = {
            t["code"]: t
            for c in client.get("/v1/disclosure-categories").json()
            for t in c["record_types"]
        }
        assert types["inspection_result"]["deadline_working_days"] == 5
        assert types["penalty_decision"]["deadline_working_days"] == 7  # its own clock
    finally:
        db.execute("UPDATE disclosure_categories SET deadline_days = 20 WHERE code = 'inspection'")
