"""Spreadsheet formulas (OWASP "CSV Injection", docs/security.md#spreadsheet-formulas): text that
someone outside the bureau controls — a registry import's names, a request for information sent
through the API, a bulk import of drafts from an XLSX file — reaches the CSV and XLSX files
staff open, through the real paths; every such cell is inert, and numbers stay numbers."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from decimal import Decimal

import openpyxl
import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import World, csv_rows
from tests.api.test_annual_information_report import _request
from tests.api.test_requests import FORM
from tests.api.test_staff_disclosures import PENALTY, USCC, headers
from tests.api.test_staff_registry import MN_1, MN_2, USCC_A, USCC_B
from tests.fixtures.staff import staff_headers

HYPERLINK = '=HYPERLINK("http://x","y")'
# (text stored, the CSV cell written): the apostrophe before what a spreadsheet would evaluate;
# a plain number is read as that number, never a formula, so it is written as it is
EVIL = [
    (HYPERLINK, "'" + HYPERLINK),
    ("@SUM(1)", "'@SUM(1)"),
    ("-2+3", "'-2+3"),
    ("+1", "+1"),
]


def _csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def test_registry_names_are_inert_in_the_public_csv(
    client: TestClient, db: psycopg.Connection
) -> None:
    admin = staff_headers(db, "wang.admin", "admin")
    out = io.StringIO(newline="")
    w = csv.writer(out)
    w.writerow(
        ["enterprise_uscc", "enterprise_name_zh", "mn", "name_zh", "kind"]
        + ["emission_standard", "limit_category"]
    )
    gas = ["gas", "GB 13223-2011", "coal-boiler-existing"]
    w.writerow([USCC_A, EVIL[0][0], MN_1, EVIL[1][0], *gas])
    w.writerow([USCC_B, EVIL[2][0], MN_2, EVIL[3][0], "water", "GB 18918-2002", "class-1A"])
    done = client.post(
        "/v1/staff/registry/import",
        files={"file": ("registry.csv", out.getvalue().encode(), "text/csv")},
        headers=admin,
    )
    assert done.status_code == 200, done.text

    enterprises = csv_rows(client.get("/v1/enterprises?format=csv").text)
    by_uscc = {r["uscc"]: r["name_zh"] for r in enterprises}
    assert by_uscc == {USCC_A: EVIL[0][1], USCC_B: EVIL[2][1]}
    outlets = csv_rows(client.get("/v1/outlets?format=csv").text)
    assert sorted(r["name_zh"] for r in outlets) == sorted([EVIL[1][1], EVIL[3][1]])
    assert all(r["id"].isdigit() and r["enterprise_id"].isdigit() for r in outlets)
    # JSON keeps the names as they were sent
    names = {e["uscc"]: e["name"]["zh"] for e in client.get("/v1/enterprises").json()["results"]}
    assert names == {USCC_A: EVIL[0][0], USCC_B: EVIL[2][0]}


@pytest.mark.parametrize("text", [text for text, _ in EVIL])
def test_a_public_request_is_inert_in_the_audit_csv(
    client: TestClient, db: psycopg.Connection, text: str
) -> None:
    """A request sent through ``POST /v1/requests`` is in the staff audit log's CSV, its
    fields in the JSON of ``after`` (a cell starting with ``{``, which no spreadsheet runs)."""
    form = {**FORM, "requester_name": text, "description": text, "contact": text}
    answer = client.post("/v1/requests", json=form)
    assert answer.status_code == 201, answer.text
    admin = staff_headers(db, "wang.admin", "admin")
    got = client.get(
        "/v1/staff/audit?format=csv&object_type=disclosure_request", headers=admin
    ).text
    header, *rows = _csv(got)
    (row,) = rows
    entry = dict(zip(header, row, strict=True))
    assert entry["action"] == "request.submit"
    for column, value in entry.items():
        assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), (column, value)
    after = json.loads(entry["after"])
    assert after["requester_name"] == after["description"] == after["contact"] == text


def test_the_annual_report_csv_keeps_negative_changes(
    client: TestClient, db: psycopg.Connection
) -> None:
    """The report has no text of the requests, only counts; a fall on the year before is a
    negative number, written as it is."""
    for day in (date(2024, 3, 1), date(2024, 4, 1), date(2024, 5, 1), date(2025, 3, 3)):
        _request(db, "post", day)
    rows = csv_rows(client.get("/v1/reports/annual/2025?format=csv&table=year_on_year").text)
    received = next(r for r in rows if r["code"] == "requests_received")
    assert (received["count"], received["previous"], received["change"]) == ("1", "3", "-2")


def test_an_xlsx_import_is_inert_in_the_staff_csv(
    client: TestClient, db: psycopg.Connection, world: World
) -> None:
    """A bulk import from an XLSX file whose text cells start with ``=``, ``@``, ``-``: the
    drafts keep the text; the staff CSV has it in the content's JSON and the apostrophe before
    a title of its own."""
    db.execute("UPDATE enterprises SET uscc = %s WHERE id = %s", (USCC, world.hangzhou))
    editor = headers(db, "li.na", "editor")
    names = ["party", "uscc", "decision_number", "facts", "legal_basis", "penalty"]
    names += ["fine_yuan", "decision_date", "authority", "execution_status"]
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(names)
    row = {**PENALTY, "uscc": USCC, "party": HYPERLINK, "facts": "@SUM(1)", "penalty": "-2+3"}
    sheet.append([str(row[n]) for n in names])
    for cell in sheet[2]:
        cell.data_type = "s"  # text cells, as a spreadsheet saves what was typed after '
    body = io.BytesIO()
    book.save(body)
    answer = client.post(
        "/v1/staff/disclosures/import",
        params={"record_type": "penalty_decision"},
        files={"file": ("penalties.xlsx", body.getvalue(), "application/octet-stream")},
        headers=editor,
    )
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["created"]) == 1, answer.text
    (record_id,) = answer.json()["created"]
    changed = client.patch(
        f"/v1/staff/disclosures/{record_id}", json={"title_zh": "@SUM(1)"}, headers=editor
    )
    assert changed.status_code == 200, changed.text

    text = client.get("/v1/staff/disclosures?format=csv", headers=editor).text
    (entry,) = csv_rows(text)
    assert entry["title_zh"] == "'@SUM(1)"
    content = json.loads(entry["content"])
    assert (content["party"], content["facts"], content["penalty"]) == (
        HYPERLINK,
        "@SUM(1)",
        "-2+3",
    )
    assert entry["content"].startswith("{")
    assert Decimal(content["fine_yuan"]) == Decimal(str(PENALTY["fine_yuan"]))


def test_the_xlsx_template_has_no_formula(client: TestClient, db: psycopg.Connection) -> None:
    editor = headers(db, "li.na", "editor")
    answer = client.get(
        "/v1/staff/disclosures/import-template",
        params={"record_type": "penalty_decision", "format": "xlsx"},
        headers=editor,
    )
    assert answer.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(answer.content))
    cells = [c for ws in book.worksheets for row in ws.iter_rows() for c in row]
    assert cells and {c.data_type for c in cells if c.value is not None} <= {"s", "n"}
