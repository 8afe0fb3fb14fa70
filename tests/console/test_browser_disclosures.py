"""Browser tests of disclosure authoring (headless Chromium via Playwright, real uvicorn): one
editor drafts a penalty decision from the generated form and attaches its PDF, a second editor
approves and publishes it, and the public portal and the Atom feed show it; a viewer cannot
reach the authoring forms."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest
from playwright.sync_api import Page, expect

from tests.api.conftest import World
from tests.console.conftest import browser_login, needs_chromium, staff_user
from tests.console.test_disclosure_pages import PDF, PENALTY, USCC

pytestmark = [pytest.mark.integration, needs_chromium]


@pytest.fixture
def world(world: World, db: psycopg.Connection) -> World:
    db.execute("UPDATE enterprises SET uscc = %s WHERE id = %s", (USCC, world.hangzhou))
    return world


def test_two_editors_draft_approve_publish_and_the_public_sees_it(
    db: psycopg.Connection, world: World, browser_page: Callable[[], Page]
) -> None:
    staff_user(db, "li.na", "editor")
    staff_user(db, "chen.jie", "editor")
    author = browser_page()
    browser_login(author, "li.na")
    author.click("#nav-disclosures")
    author.select_option("#new-type", "penalty_decision")
    author.click("#new-record button")
    expect(author.locator("h1")).to_contain_text("New draft")
    author.select_option("#enterprise", str(world.hangzhou))
    for name, value in PENALTY.items():
        field = author.locator(f"[name='{name}']")
        if field.evaluate("e => e.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(value)
    author.click("#save")
    expect(author.locator("#record-status")).to_have_text("draft")
    record_url = author.url.split("?")[0]  # /staff/disclosures/{id}
    author.set_input_files(
        "#form-attach input[type=file]",
        files=[{"name": "decision.pdf", "mimeType": "application/pdf", "buffer": PDF}],
    )
    author.click("#form-attach button")
    expect(author.locator("#attachments")).to_contain_text("decision.pdf")
    author.click("#form-approve button")  # her own edit: refused
    expect(author.locator("#refused")).to_be_visible()

    reviewer = browser_page()
    browser_login(reviewer, "chen.jie")
    reviewer.goto(record_url)
    reviewer.click("#form-approve button")
    expect(reviewer.locator("#record-status")).to_have_text("approved")
    expect(reviewer.locator("#approved-by")).to_have_text("chen.jie")
    reviewer.click("#form-publish button")
    expect(reviewer.locator("#record-status")).to_have_text("published")

    public = browser_page()
    public.goto(f"/portal/enterprises/{world.hangzhou}?lang=en")
    expect(public.locator("main")).to_contain_text("杭环罚〔2026〕12号")
    feed = public.request.get("/v1/feeds/disclosures.atom")
    assert feed.ok and "杭环罚〔2026〕12号" in feed.text()


def test_a_viewer_cannot_reach_the_authoring_forms(
    db: psycopg.Connection, browser_page: Callable[[], Page]
) -> None:
    staff_user(db, "sun.li", "viewer")
    page = browser_page()
    browser_login(page, "sun.li")
    expect(page.locator("#whoami")).to_contain_text("sun.li")
    expect(page.locator("#nav-disclosures")).to_have_count(0)
    answer = page.goto("/staff/disclosures/new?record_type=penalty_decision")
    assert answer is not None and answer.status == 403
    expect(page.locator("#message")).to_contain_text("editor")
    answer = page.goto("/staff/disclosures/import")
    assert answer is not None and answer.status == 403
