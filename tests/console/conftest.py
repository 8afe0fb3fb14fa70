"""Fixtures of the staff console tests: staff users with passwords, and a logged-in client."""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from api.server import build_server
from api.settings import ApiSettings
from schemas.staff.accounts import add_staff_user
from schemas.staff.passwords import set_password
from tests.api.conftest import api_url, client, settings, world  # noqa: F401 (fixtures)
from tests.fixtures.mqtt import wait_until

PASSWORD = "correct horse battery"


def staff_user(db: psycopg.Connection, username: str, *roles: str) -> str:
    """A staff user with ``roles`` and the password :data:`PASSWORD`; the user name."""
    add_staff_user(db, username, list(roles), actor="test")
    set_password(db, username, PASSWORD, actor="test")
    return username


def hidden(html: str, name: str = "csrf") -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, html[-2000:]
    return found.group(1)


def login(c: TestClient, username: str, password: str = PASSWORD) -> Any:
    """Post the login form as a browser would (its CSRF cookie and field); the response."""
    form = c.get("/staff/login")
    assert form.status_code == 200
    return c.post(
        "/staff/login",
        data={"csrf": hidden(form.text), "username": username, "password": password},
        follow_redirects=False,
    )


# --- Browser tests: Playwright driving Debian's Chromium against a real uvicorn server ----------

CHROMIUM = Path("/usr/bin/chromium")
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="headless Chromium is not installed (/usr/bin/chromium; Debian: apt-get install "
    "chromium; `make test` installs it when run as root)",
)


@pytest.fixture
def console_url(role_urls: dict[str, str], db: psycopg.Connection) -> Iterator[str]:
    """The real API (console included) under uvicorn on a free port of 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    served = ApiSettings(
        database_url=role_urls["api"],
        api_host="127.0.0.1",
        api_port=port,
        api_rate_limit_per_minute=10_000,
    )
    server = build_server(served)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started or not thread.is_alive(), timeout=10, what="the API")
    assert server.started, "the API did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip("headless Chromium is not installed (/usr/bin/chromium)")
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def browser_page(chromium: Browser, console_url: str) -> Iterator[Callable[[], Page]]:
    """New pages, each in its own context (its own cookies: one person each)."""
    contexts: list[BrowserContext] = []

    def new() -> Page:
        context = chromium.new_context(base_url=console_url, accept_downloads=True)
        context.set_default_timeout(60_000)
        contexts.append(context)
        return context.new_page()

    try:
        yield new
    finally:
        for context in contexts:
            context.close()


def browser_login(page: Page, username: str, password: str = PASSWORD, lang: str = "en") -> None:
    page.goto(f"/staff/login?lang={lang}")
    page.fill("#username", username)
    page.fill("#password", password)
    with page.expect_navigation():
        page.click("#login")
