"""The console's requests for information (issue 17): the list by state beside the overdue and
due-soon list, a request's clock and history, and its forms — assign, supplement, extend (admin
only), answer with an outcome code — each through schemas/disclosure/requests.py (checked in
the database); viewers read, editors act; a form without its CSRF token is refused."""

from __future__ import annotations

from datetime import date, timedelta

import psycopg
from fastapi.testclient import TestClient

from schemas.disclosure import requests as rq
from schemas.disclosure.workdays import add_working_days
from tests.console.conftest import hidden, login, staff_user

FORM = {
    "requester_name": "宁波市某环保志愿者协会",
    "contact": "volunteer@example.cn",
    "description": "甬江某河段2026年水质监测月报",
    "preferred_form": "electronic",
}


def _register(db: psycopg.Connection, received_on: date) -> rq.Request:
    return rq.submit(
        db,
        requester_name=FORM["requester_name"],
        contact=FORM["contact"],
        description=FORM["description"],
        preferred_form=FORM["preferred_form"],
        channel="post",
        received_on=received_on,
        actor="li.na",
    ).request


def _register_dry(db: psycopg.Connection, received_on: date) -> rq.Request:
    """What registering on ``received_on`` would give (rolled back)."""
    try:
        with db.transaction():
            found = _register(db, received_on)
            raise _Rollback(found)
    except _Rollback as done:
        return done.request


class _Rollback(Exception):
    def __init__(self, request: rq.Request) -> None:
        super().__init__("rollback")
        self.request = request


def _row(db: psycopg.Connection, rid: int) -> tuple[object, ...]:
    row = db.execute(
        "SELECT status, assigned_to, extension_days, outcome, answered_by"
        " FROM disclosure_requests WHERE id = %s",
        (rid,),
    ).fetchone()
    assert row is not None
    return tuple(row)


def test_list_and_due_list_for_a_viewer_who_cannot_act(
    client: TestClient, db: psycopg.Connection
) -> None:
    staff_user(db, "li.na", "editor")
    staff_user(db, "zhou.min", "viewer")
    today = rq.local_today()
    late = _register(db, today - timedelta(days=60))
    recent = _register(db, today)
    soon = next(  # received so long ago that it is due within the next 3 working days
        r
        for r in (_register_dry(db, today - timedelta(days=n)) for n in range(20, 40))
        if today <= r.due_on <= add_working_days(today, 3)
    )
    soon = _register(db, soon.received_on)
    assert client.get("/staff/requests", follow_redirects=False).status_code == 303  # login
    login(client, "zhou.min")
    listed = client.get("/staff/requests?lang=en")
    assert listed.status_code == 200
    assert 'id="nav-requests"' in listed.text and "Requests for information" in listed.text
    due, everything = listed.text.split('id="requests"')
    # overdue in the reminder list; received today, due in 20 working days: only in the list
    assert f'data-request="{late.id}"' in due and f'data-request="{recent.id}"' not in due
    assert f'data-request="{soon.id}"' in due
    assert due.index(f'data-request="{late.id}"') < due.index(f'data-request="{soon.id}"')
    assert f'data-request="{late.id}"' in everything and f'data-request="{recent.id}"' in everything
    rq.answer(db, recent.id, actor="li.na", outcome="not_held", text="经检索，该信息不存在。")
    answered = client.get("/staff/requests?status=answered&lang=zh").text
    assert "依申请公开" in answered and "共 1 件申请" in answered
    assert f'data-request="{recent.id}"' in answered.split('id="requests"')[1]
    assert f'data-request="{recent.id}"' not in answered.split('id="requests"')[0]

    page = client.get(f"/staff/requests/{late.id}?lang=en")
    assert page.status_code == 200 and 'id="overdue"' in page.text
    assert str(late.due_on) in page.text and "(Beijing time)" in page.text
    assert 'id="answer-form"' not in page.text  # a viewer reads only
    refused = client.post(
        f"/staff/requests/{late.id}/assign",
        data={"csrf": hidden(page.text), "assignee": "li.na"},
    )
    assert refused.status_code == 403 and _row(db, late.id)[1] is None
    assert client.get("/staff/requests/999999").status_code == 404


def test_editor_assigns_asks_for_a_supplement_and_answers(
    client: TestClient, db: psycopg.Connection
) -> None:
    staff_user(db, "li.na", "editor")
    r = _register(db, rq.local_today())
    login(client, "li.na")
    page = client.get(f"/staff/requests/{r.id}?lang=en")
    csrf = hidden(page.text)
    assert 'id="extend-form"' not in page.text  # admin only

    no_csrf = client.post(f"/staff/requests/{r.id}/assign", data={"assignee": "li.na"})
    assert no_csrf.status_code == 403 and _row(db, r.id)[1] is None

    done = client.post(f"/staff/requests/{r.id}/assign", data={"csrf": csrf, "assignee": "li.na"})
    assert done.status_code == 200 and 'id="done"' in done.text
    assert _row(db, r.id)[:2] == ("received", "li.na")
    unknown = client.post(
        f"/staff/requests/{r.id}/assign", data={"csrf": csrf, "assignee": "nobody"}
    )
    assert unknown.status_code == 422 and "assignee" in unknown.text

    asked = client.post(
        f"/staff/requests/{r.id}/supplement", data={"csrf": csrf, "note": "请说明河段起止位置"}
    )
    assert asked.status_code == 200 and _row(db, r.id)[0] == "supplement_requested"
    back = client.post(f"/staff/requests/{r.id}/supplement-received", data={"csrf": csrf})
    assert back.status_code == 200 and _row(db, r.id)[0] == "received"

    extend = client.post(
        f"/staff/requests/{r.id}/extend", data={"csrf": csrf, "days": "10", "reason": "需调档"}
    )
    assert extend.status_code == 403 and _row(db, r.id)[2] == 0

    bad = client.post(
        f"/staff/requests/{r.id}/answer",
        data={"csrf": csrf, "outcome": "no-such-outcome", "text": "x"},
    )
    assert bad.status_code == 422 and _row(db, r.id)[0] == "received"
    answered = client.post(
        f"/staff/requests/{r.id}/answer",
        data={"csrf": csrf, "outcome": "not_held", "text": "经检索，该信息不存在。"},
    )
    assert answered.status_code == 200
    assert _row(db, r.id) == ("answered", "li.na", 0, "not_held", "li.na")
    assert "Information not held" in answered.text  # the outcome's name, from its code table
    history = answered.text.split('id="history"')[1]
    for action in ("request.assign", "request.supplement", "request.answer"):
        assert action in history
    again = client.post(
        f"/staff/requests/{r.id}/answer",
        data={"csrf": csrf, "outcome": "not_held", "text": "again"},
    )
    assert again.status_code == 409 and 'id="error"' in again.text


def test_admin_extends_with_a_reason(client: TestClient, db: psycopg.Connection) -> None:
    staff_user(db, "chen.jie", "admin")
    r = _register(db, rq.local_today())
    login(client, "chen.jie")
    page = client.get(f"/staff/requests/{r.id}?lang=zh")
    assert 'id="extend-form"' in page.text and "延长答复期限" in page.text
    extended = client.post(
        f"/staff/requests/{r.id}/extend",
        data={"csrf": hidden(page.text), "days": "10", "reason": "需调取归档材料"},
    )
    assert extended.status_code == 200
    after = rq.get_request(db, r.id)
    assert after.extension_days == 10 and after.extended_by == "chen.jie"
    assert after.due_on > r.due_on and str(after.due_on) in extended.text
