"""Fixtures of the staff console tests: staff users with passwords, and a logged-in client."""

from __future__ import annotations

import re
from typing import Any

import psycopg
from fastapi.testclient import TestClient

from schemas.staff.accounts import add_staff_user
from schemas.staff.passwords import set_password
from tests.api.conftest import api_url, client, settings, world  # noqa: F401 (fixtures)

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
