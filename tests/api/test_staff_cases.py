"""Staff case endpoints: authentication and roles, the audited actions, the evidence bundle,
the list filters and paging, all on the real database."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from schemas.staff.accounts import add_staff_user, issue_token
from tests.api.conftest import error_of
from tests.fixtures.registry import add_outlet

DAY = timedelta(days=1)  # how long the tests' tokens live

pytestmark = pytest.mark.integration

BASE = "/v1/staff/cases"
HOUR = datetime(2024, 5, 1, 2, 0, tzinfo=UTC)


def open_case(
    db: psycopg.Connection,
    *,
    mn: str = "88888880000001",
    outlet: int | None = None,
    uscc: str = "91330000000000000X",
    kind: str = "exceedance",
    severity: str = "warning",
    state: str = "open",
    subject: str = "",
) -> int:
    """A case as the evaluator leaves it: the row and its 'opened' event."""
    outlet = outlet or add_outlet(db, mn, uscc=uscc)
    row = db.execute(
        "INSERT INTO cases (kind, outlet_id, pollutant, period, limit_id, subject, state, "
        "severity, first_at, last_at, closed_at, details) VALUES (%s, %s, 'a21026', 'hour', 7, "
        "%s, %s, %s, %s, %s, CASE WHEN %s = 'closed' THEN now() END, "
        """'{"limit_source": "standard", "mean": 150.5}') RETURNING id""",
        (kind, outlet, subject, state, severity, HOUR, HOUR, state),
    ).fetchone()
    assert row is not None
    db.execute(
        "INSERT INTO case_events (case_id, actor, action, severity) "
        "VALUES (%s, 'evaluator', 'opened', %s)",
        (row[0], severity),
    )
    return int(row[0])


def auth(db: psycopg.Connection, username: str, role: str) -> dict[str, str]:
    add_staff_user(db, username, [role], actor="test")
    token = issue_token(db, username, actor="test", expires_at=DAY)
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def inspector(db: psycopg.Connection) -> dict[str, str]:
    return auth(db, "zhang.wei", "enforcement")


@pytest.fixture
def viewer(db: psycopg.Connection) -> dict[str, str]:
    return auth(db, "li.na", "viewer")


def staff_events(db: psycopg.Connection, case_id: int) -> list[tuple[Any, ...]]:
    return db.execute(
        "SELECT actor, action, detail FROM case_events WHERE case_id = %s AND actor <> "
        "'evaluator' ORDER BY id",
        (case_id,),
    ).fetchall()


def case_row(db: psycopg.Connection, case_id: int) -> tuple[Any, ...]:
    row = db.execute(
        "SELECT state, acknowledged_by, assigned_to, close_reason, details FROM cases "
        "WHERE id = %s",
        (case_id,),
    ).fetchone()
    assert row is not None
    return tuple(row)


def test_no_token_is_401(client: TestClient, db: psycopg.Connection) -> None:
    case_id = open_case(db)
    for response in (
        client.get(BASE),
        client.get(f"{BASE}/{case_id}"),
        client.post(f"{BASE}/{case_id}/close", json={"reason": "x"}),
        client.get(f"{BASE}/{case_id}/evidence.zip"),
        client.get(BASE, headers={"Authorization": "Bearer sw_nope"}),
    ):
        assert error_of(response, 401)["code"] == "unauthorized"
    assert case_row(db, case_id)[0] == "open"


def test_viewer_reads_but_cannot_act(
    client: TestClient, db: psycopg.Connection, viewer: dict[str, str]
) -> None:
    case_id = open_case(db)
    assert client.get(BASE, headers=viewer).status_code == 200
    assert client.get(f"{BASE}/{case_id}", headers=viewer).status_code == 200
    for action, body in [
        ("acknowledge", {}),
        ("assign", {"assignee": "li.na"}),
        ("comment", {"text": "x"}),
        ("close", {"reason": "x"}),
        ("reply", {"text": "x"}),
    ]:
        response = client.post(f"{BASE}/{case_id}/{action}", json=body, headers=viewer)
        assert error_of(response, 403)["code"] == "forbidden", action
    assert error_of(client.get(f"{BASE}/{case_id}/evidence.zip", headers=viewer), 403)
    assert staff_events(db, case_id) == []


def test_acknowledge(client: TestClient, db: psycopg.Connection, inspector: dict[str, str]) -> None:
    case_id = open_case(db)
    response = client.post(
        f"{BASE}/{case_id}/acknowledge", json={"note": "calling the plant"}, headers=inspector
    )
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "private, no-store"
    body = response.json()
    assert body["acknowledged"]["by"] == "zhang.wei"
    assert [(e["actor"], e["action"]) for e in body["history"]] == [
        ("evaluator", "opened"),
        ("zhang.wei", "acknowledged"),
    ]
    assert case_row(db, case_id)[1] == "zhang.wei"
    assert staff_events(db, case_id) == [
        ("zhang.wei", "acknowledged", {"note": "calling the plant"})
    ]
    again = client.post(f"{BASE}/{case_id}/acknowledge", headers=inspector)  # no body is fine
    assert "already acknowledged by zhang.wei" in error_of(again, 409)["message"]
    assert len(staff_events(db, case_id)) == 1


def test_assign(client: TestClient, db: psycopg.Connection, inspector: dict[str, str]) -> None:
    case_id = open_case(db)
    add_staff_user(db, "wang.fang", ["enforcement"], actor="test")
    response = client.post(
        f"{BASE}/{case_id}/assign", json={"assignee": "wang.fang"}, headers=inspector
    )
    assert response.status_code == 200, response.text
    assert response.json()["assigned_to"] == "wang.fang"
    assert case_row(db, case_id)[2] == "wang.fang"
    assert staff_events(db, case_id) == [
        ("zhang.wei", "assigned", {"assignee": "wang.fang", "previous": None})
    ]
    unknown = client.post(
        f"{BASE}/{case_id}/assign", json={"assignee": "nobody"}, headers=inspector
    )
    assert error_of(unknown, 422, "assignee")
    same = client.post(
        f"{BASE}/{case_id}/assign", json={"assignee": "wang.fang"}, headers=inspector
    )
    assert error_of(same, 409)["code"] == "conflict"
    assert len(staff_events(db, case_id)) == 1


def test_comment(client: TestClient, db: psycopg.Connection, inspector: dict[str, str]) -> None:
    case_id = open_case(db)
    response = client.post(
        f"{BASE}/{case_id}/comment", json={"text": "  stack test booked  "}, headers=inspector
    )
    assert response.status_code == 200, response.text
    [c] = response.json()["comments"]
    assert (c["actor"], c["text"]) == ("zhang.wei", "stack test booked")
    assert staff_events(db, case_id) == [("zhang.wei", "commented", {"text": "stack test booked"})]


def test_close_and_close_again(
    client: TestClient, db: psycopg.Connection, inspector: dict[str, str]
) -> None:
    case_id = open_case(db)
    response = client.post(
        f"{BASE}/{case_id}/close", json={"reason": "analyser fault confirmed"}, headers=inspector
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["state"] == "closed" and body["closed"] is not None
    assert body["close_reason"] == "analyser fault confirmed"
    assert case_row(db, case_id)[0] == "closed"
    assert staff_events(db, case_id) == [
        ("zhang.wei", "closed", {"reason": "analyser fault confirmed"})
    ]
    again = client.post(f"{BASE}/{case_id}/close", json={"reason": "again"}, headers=inspector)
    error = error_of(again, 409)
    assert error["code"] == "conflict" and "already closed" in error["message"]
    assert len(staff_events(db, case_id)) == 1


def test_reply(client: TestClient, db: psycopg.Connection, inspector: dict[str, str]) -> None:
    case_id = open_case(db, state="closed")  # the right of reply outlives the case
    response = client.post(
        f"{BASE}/{case_id}/reply", json={"text": "the analyser was drifting"}, headers=inspector
    )
    assert response.status_code == 200, response.text
    [r] = response.json()["replies"]
    assert (r["actor"], r["text"], r["on_behalf_of_enterprise"]) == (
        "zhang.wei",
        "the analyser was drifting",
        True,
    )
    assert staff_events(db, case_id) == [
        (
            "zhang.wei",
            "replied",
            {"text": "the analyser was drifting", "on_behalf_of_enterprise": True},
        )
    ]
    [stored] = case_row(db, case_id)[4]["replies"]
    assert stored["actor"] == "zhang.wei" and stored["event_id"] == r["event_id"]


def test_bad_bodies_are_422(
    client: TestClient, db: psycopg.Connection, inspector: dict[str, str]
) -> None:
    case_id = open_case(db)
    for action, body, parameter in [
        ("close", {}, "reason"),
        ("close", {"reason": "   "}, "reason"),
        ("comment", {"text": "x" * 10_001}, "text"),
        ("assign", {"assignee": ""}, "assignee"),
        ("reply", {"text": "x", "extra": 1}, "extra"),
    ]:
        response = client.post(f"{BASE}/{case_id}/{action}", json=body, headers=inspector)
        assert error_of(response, 422, parameter)["code"] == "invalid_parameter"
    assert staff_events(db, case_id) == []


def test_unknown_case_is_404(
    client: TestClient, db: psycopg.Connection, inspector: dict[str, str]
) -> None:
    assert error_of(client.get(f"{BASE}/31337", headers=inspector), 404, "case_id")
    for action, body in [("acknowledge", {}), ("close", {"reason": "x"}), ("reply", {"text": "x"})]:
        response = client.post(f"{BASE}/31337/{action}", json=body, headers=inspector)
        assert error_of(response, 404, "case_id")["code"] == "not_found"
    assert error_of(client.get(f"{BASE}/31337/evidence.zip", headers=inspector), 404)


def test_detail_has_full_history(
    client: TestClient, db: psycopg.Connection, inspector: dict[str, str]
) -> None:
    case_id = open_case(db)
    client.post(f"{BASE}/{case_id}/comment", json={"text": "first"}, headers=inspector)
    client.post(f"{BASE}/{case_id}/close", json={"reason": "done"}, headers=inspector)
    body = client.get(f"{BASE}/{case_id}", headers=inspector).json()
    assert body["id"] == case_id and body["kind"] == "exceedance"
    assert body["outlet"]["mn"] == "88888880000001"
    assert body["details"] == {"limit_source": "standard", "mean": 150.5}
    assert [e["action"] for e in body["history"]] == ["opened", "commented", "closed"]
    assert body["history"][2]["detail"] == {"reason": "done"}
    assert [c["text"] for c in body["comments"]] == ["first"]


def test_evidence_zip(
    client: TestClient, db: psycopg.Connection, inspector: dict[str, str]
) -> None:
    case_id = open_case(db)
    response = client.get(f"{BASE}/{case_id}/evidence.zip", headers=inspector)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert f"case-{case_id}-evidence.zip" in response.headers["content-disposition"]
    with zipfile.ZipFile(io.BytesIO(response.content)) as bundle:
        names = bundle.namelist()
        assert names[0] == "case.json" and names[-1] == "SHA256SUMS"
        sums = bundle.read("SHA256SUMS").decode()
    assert "manifest.json" in sums and "history.json" in sums


def test_list_filters_and_paging(
    client: TestClient, db: psycopg.Connection, viewer: dict[str, str]
) -> None:
    first = open_case(db, mn="88888880000001")
    outlet = db.execute("SELECT outlet_id FROM cases WHERE id = %s", (first,)).fetchone()
    assert outlet is not None
    second = open_case(db, outlet=outlet[0], kind="outage", severity="major")
    third = open_case(
        db, mn="88888880000002", uscc="91330100000000001A", state="closed", severity="major"
    )
    other = db.execute(
        "SELECT o.enterprise_id FROM cases c JOIN outlets o ON o.id = c.outlet_id WHERE c.id = %s",
        (third,),
    ).fetchone()
    assert other is not None

    def ids(**params: Any) -> list[int]:
        response = client.get(BASE, params=params, headers=viewer)
        assert response.status_code == 200, response.text
        return [r["id"] for r in response.json()["results"]]

    assert ids() == [third, second, first]  # newest first
    assert ids(state="open") == [second, first]
    assert ids(state="closed") == [third]
    assert ids(kind="outage") == [second]
    assert ids(severity="major") == [third, second]
    assert ids(enterprise_id=other[0]) == [third]
    assert ids(severity="major", state="open") == [second]
    page1 = client.get(BASE, params={"limit": 2}, headers=viewer).json()
    assert page1["meta"]["found"] == 3 and page1["meta"]["next"]
    assert [r["id"] for r in page1["results"]] == [third, second]
    page2 = client.get(BASE, params={"limit": 2, "page": 2}, headers=viewer).json()
    assert [r["id"] for r in page2["results"]] == [first] and page2["meta"]["next"] is None
    assert error_of(client.get(BASE, params={"state": "pending"}, headers=viewer), 422, "state")
    csv = client.get(BASE, params={"format": "csv"}, headers=viewer)
    assert csv.status_code == 200 and csv.text.startswith("id,")
    assert csv.headers["cache-control"] == "private, no-store"
