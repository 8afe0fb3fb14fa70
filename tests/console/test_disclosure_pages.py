"""The console's disclosure authoring: forms generated from the typed models, drafts, approval
by another editor, publication, correction, withdrawal, attachments with a size limit, bulk
import with per-row errors; only editors reach these pages. Every step goes through
schemas/disclosure/workflow.py."""

from __future__ import annotations

import re

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.console.forms import fields_of
from schemas.disclosure import workflow as wf
from schemas.disclosure.staff_types import STAFF_MODELS
from tests.api.conftest import World
from tests.console.conftest import hidden, login, staff_user

USCC = "91330100000000001C"  # a valid GB 32100-2015 code
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PENALTY = {
    "c.party": "杭州热电有限公司",
    "c.uscc": USCC,
    "c.decision_number": "杭环罚〔2026〕12号",
    "c.facts": "二氧化硫小时均值超标排放",
    "c.legal_basis": "《大气污染防治法》第九十九条",
    "c.penalty": "罚款二十万元",
    "c.fine_yuan": "200000",
    "c.decision_date": "2026-09-30",
    "c.authority": "杭州市生态环境局",
    "c.execution_status": "pending",
}


@pytest.fixture
def world(world: World, db: psycopg.Connection) -> World:
    db.execute("UPDATE enterprises SET uscc = %s WHERE id = %s", (USCC, world.hangzhou))
    return world


def test_every_staff_type_has_a_form_from_its_model() -> None:
    for record_type, model in STAFF_MODELS.items():
        fields = fields_of(record_type)
        assert [f.name for f in fields] == list(model.model_fields), record_type
        assert all(f.label_zh and f.label_en for f in fields)
    widgets = {f.name: f.widget for f in fields_of("penalty_decision")}
    assert widgets["decision_date"] == "date" and widgets["execution_status"] == "select"
    assert widgets["facts"] == "textarea" and widgets["fine_yuan"] == "number"
    assert {f.name: f.widget for f in fields_of("emergency_event")}["plan_activated"] == "yesno"


def _csrf(client: TestClient, path: str) -> str:
    return hidden(client.get(path).text)


def test_draft_approve_by_another_publish_correct_withdraw(
    client: TestClient, db: psycopg.Connection, world: World, role_urls: dict[str, str]
) -> None:
    staff_user(db, "li.na", "editor")
    staff_user(db, "chen.jie", "editor")
    login(client, "li.na")
    form = client.get("/staff/disclosures/new?record_type=penalty_decision&lang=en")
    assert form.status_code == 200 and 'name="c.decision_date" value=""' in form.text
    assert "处罚决定日期 / Decision date" in form.text
    csrf = hidden(form.text)
    bad = client.post(
        "/staff/disclosures/new",
        data={**PENALTY, "c.uscc": "123", "record_type": "penalty_decision", "csrf": csrf},
    )
    assert bad.status_code == 422 and 'data-field="uscc"' in bad.text
    assert "has-error" in bad.text and db.execute(
        "SELECT count(*) FROM disclosure_records"
    ).fetchone() == (0,)
    made = client.post(
        "/staff/disclosures/new",
        data={
            **PENALTY,
            "record_type": "penalty_decision",
            "enterprise_id": str(world.hangzhou),
            "csrf": csrf,
        },
        follow_redirects=False,
    )
    assert made.status_code == 303, made.text[-1000:]
    record_id = int(re.findall(r"/staff/disclosures/(\d+)", made.headers["location"])[0])
    attached = client.post(
        f"/staff/disclosures/{record_id}/attach",
        data={"csrf": csrf},
        files={"file": ("decision.pdf", PDF, "application/pdf")},
        follow_redirects=False,
    )
    assert attached.status_code == 303, attached.text[-1000:]
    # the last editor may not approve
    own = client.post(f"/staff/disclosures/{record_id}/approve", data={"csrf": csrf})
    assert own.status_code == 409
    client.cookies.clear()
    login(client, "chen.jie")
    csrf = _csrf(client, f"/staff/disclosures/{record_id}")
    for action in ("approve", "publish"):
        done = client.post(
            f"/staff/disclosures/{record_id}/{action}", data={"csrf": csrf}, follow_redirects=False
        )
        assert done.status_code == 303, (action, done.text[-800:])
    public = client.get(f"/v1/disclosures/{record_id}").json()
    assert public["content"]["decision_number"] == "杭环罚〔2026〕12号"
    assert [a["filename"] for a in public["attachments"]] == ["decision.pdf"]
    corrected = client.post(
        f"/staff/disclosures/{record_id}/correct",
        data={"csrf": csrf, "reason": "fine amount typo"},
        follow_redirects=False,
    )
    assert corrected.status_code == 303
    new_id = int(re.findall(r"/staff/disclosures/(\d+)", corrected.headers["location"])[0])
    assert new_id != record_id
    withdrawn = client.post(
        f"/staff/disclosures/{record_id}/withdraw",
        data={"csrf": csrf, "reason": "decision annulled on review"},
        follow_redirects=False,
    )
    assert withdrawn.status_code == 303
    statuses = db.execute("SELECT id, status FROM disclosure_records ORDER BY id").fetchall()
    assert statuses == [(record_id, "withdrawn"), (new_id, "draft")]
    actors = db.execute(
        "SELECT actor, action FROM staff_audit WHERE object_type = 'disclosure_record' ORDER BY id"
    ).fetchall()
    assert [a[1] for a in actors] == [
        "disclosure.create",
        "disclosure.attach",
        "disclosure.approve",
        "disclosure.publish",
        "disclosure.correct",
        "disclosure.withdraw",
    ]


def test_oversized_upload_is_refused_and_nothing_stored(
    client: TestClient, db: psycopg.Connection, world: World
) -> None:
    staff_user(db, "li.na", "editor")
    login(client, "li.na")
    csrf = _csrf(client, "/staff/disclosures/new?record_type=penalty_decision")
    made = client.post(
        "/staff/disclosures/new",
        data={**PENALTY, "record_type": "penalty_decision", "csrf": csrf},
        follow_redirects=False,
    )
    record_id = int(re.findall(r"/staff/disclosures/(\d+)", made.headers["location"])[0])
    big = PDF + b"0" * wf.MAX_ATTACHMENT_BYTES
    refused = client.post(
        f"/staff/disclosures/{record_id}/attach",
        data={"csrf": csrf},
        files={"file": ("big.pdf", big, "application/pdf")},
    )
    assert refused.status_code == 413 and "20 MB" in refused.text
    assert db.execute("SELECT count(*) FROM disclosure_attachments").fetchone() == (0,)


def test_bulk_import_lists_every_bad_row(
    client: TestClient, db: psycopg.Connection, world: World
) -> None:
    staff_user(db, "li.na", "editor")
    login(client, "li.na")
    csrf = _csrf(client, "/staff/disclosures/import")
    names = [k.removeprefix("c.") for k in PENALTY]
    lines = [",".join(names)]
    for number, uscc in (("1", USCC), ("2", "bad"), ("3", "also bad")):
        row = {**PENALTY, "c.decision_number": f"杭环罚〔2026〕{number}号", "c.uscc": uscc}
        lines.append(",".join(row[f"c.{n}"] for n in names))
    answer = client.post(
        "/staff/disclosures/import",
        data={"csrf": csrf, "record_type": "penalty_decision"},
        files={"file": ("penalties.csv", "\n".join(lines).encode(), "text/csv")},
    )
    assert answer.status_code == 200, answer.text[-1000:]
    assert 'data-created="1"' in answer.text
    errors = re.findall(r"<tr><td>(\d+)</td><td>([a-z_]+)</td>", answer.text)
    assert errors == [("3", "uscc"), ("4", "uscc")]
    assert db.execute("SELECT count(*) FROM disclosure_records").fetchone() == (1,)


@pytest.mark.parametrize(
    "path",
    [
        "/staff/disclosures",
        "/staff/disclosures/new?record_type=penalty_decision",
        "/staff/disclosures/import",
    ],
)
def test_viewers_and_officers_cannot_reach_authoring(
    client: TestClient, db: psycopg.Connection, path: str
) -> None:
    staff_user(db, "sun.li", "viewer", "enforcement")
    login(client, "sun.li")
    answer = client.get(path)
    assert answer.status_code == 403 and "editor" in answer.text
    csrf = _csrf(client, "/staff/")
    posted = client.post(
        "/staff/disclosures/new",
        data={**PENALTY, "record_type": "penalty_decision", "csrf": csrf},
    )
    assert posted.status_code == 403
    assert db.execute("SELECT count(*) FROM disclosure_records").fetchone() == (0,)


def test_a_draft_is_edited_from_its_prefilled_form(
    client: TestClient, db: psycopg.Connection, world: World
) -> None:
    staff_user(db, "li.na", "editor")
    login(client, "li.na")
    csrf = _csrf(client, "/staff/disclosures/new?record_type=penalty_decision")
    made = client.post(
        "/staff/disclosures/new",
        data={**PENALTY, "record_type": "penalty_decision", "csrf": csrf},
        follow_redirects=False,
    )
    record_id = int(re.findall(r"/staff/disclosures/(\d+)", made.headers["location"])[0])
    form = client.get(f"/staff/disclosures/{record_id}/edit").text
    assert 'name="c.decision_number" value="杭环罚〔2026〕12号"' in form
    assert '<option value="pending" selected>' in form
    edited = client.post(
        f"/staff/disclosures/{record_id}/edit",
        data={**PENALTY, "c.execution_status": "executed", "csrf": csrf},
        follow_redirects=False,
    )
    assert edited.status_code == 303
    (content,) = (
        db.execute("SELECT content FROM disclosure_records WHERE id = %s", (record_id,)).fetchone()
        or ()
    )
    assert content["execution_status"] == "executed"
    bad = client.post(
        f"/staff/disclosures/{record_id}/edit",
        data={**PENALTY, "c.decision_date": "not a day", "csrf": csrf},
    )
    assert bad.status_code == 422 and 'data-field="decision_date"' in bad.text
