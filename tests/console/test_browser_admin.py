"""Browser tests of bad input on the console's upload forms (headless Chromium via Playwright,
real uvicorn): a registry upload with errors lists every bad row and imports nothing; an
attachment over the size limit is refused and nothing is stored."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest
from playwright.sync_api import Page, expect

from schemas.disclosure import workflow as wf
from tests.alerts.test_registry_to_case import HEADER
from tests.console.conftest import browser_login, needs_chromium, staff_user
from tests.console.test_admin_pages import BAD_ROWS
from tests.console.test_disclosure_pages import PDF, PENALTY

pytestmark = [pytest.mark.integration, needs_chromium]


def test_registry_upload_with_errors_lists_every_bad_row_and_imports_nothing(
    db: psycopg.Connection, browser_page: Callable[[], Page]
) -> None:
    staff_user(db, "li.na", "admin")
    page = browser_page()
    browser_login(page, "li.na")
    page.click("#nav-registry")
    page.set_input_files(
        "#form-registry input[type=file]",
        files=[
            {"name": "registry.csv", "mimeType": "text/csv", "buffer": (HEADER + BAD_ROWS).encode()}
        ],
    )
    page.click("#form-registry button")
    expect(page.locator("#nothing-imported")).to_contain_text("nothing was imported")
    rows = page.locator("#row-errors tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("limit_category")
    expect(rows.nth(1)).to_contain_text("kind")
    assert db.execute("SELECT count(*) FROM enterprises").fetchone() == (0,)
    assert db.execute("SELECT count(*) FROM outlets").fetchone() == (0,)


def test_an_oversized_attachment_is_refused(
    db: psycopg.Connection, browser_page: Callable[[], Page]
) -> None:
    staff_user(db, "li.na", "editor")
    page = browser_page()
    browser_login(page, "li.na")
    page.goto("/staff/disclosures/new?record_type=penalty_decision")
    for name, value in PENALTY.items():
        field = page.locator(f"[name='{name}']")
        if field.evaluate("e => e.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(value)
    page.click("#save")
    expect(page.locator("#record-status")).to_have_text("draft")
    big = PDF + b"0" * wf.MAX_ATTACHMENT_BYTES
    page.set_input_files(
        "#form-attach input[type=file]",
        files=[{"name": "scan.pdf", "mimeType": "application/pdf", "buffer": big}],
    )
    page.click("#form-attach button")
    expect(page.locator("#message")).to_contain_text("20 MB")
    assert db.execute("SELECT count(*) FROM disclosure_attachments").fetchone() == (0,)
