"""Staff accounts and tokens (schemas/staff/accounts.py) and their CLI: roles, expiry, revocation, and
the audit log of every change — against the real database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from schemas.core.settings import Settings
from schemas.staff.accounts import (
    add_staff_user,
    authenticate_token,
    issue_token,
    revoke_token,
    revoke_user_tokens,
)
from sourcewatch.cli import main

DAY = timedelta(days=1)  # how long the tests' tokens live


def test_roles(db: psycopg.Connection) -> None:
    add_staff_user(db, "li.na", ["editor"], actor="test")
    user = authenticate_token(db, issue_token(db, "li.na", actor="test", expires_at=DAY))
    assert user is not None
    assert user.has("editor") and user.has("viewer")
    assert not user.has("enforcement") and not user.has("admin")
    add_staff_user(db, "zhao", ["admin"], actor="test")
    admin = authenticate_token(db, issue_token(db, "zhao", actor="test", expires_at=DAY))
    assert admin is not None and all(admin.has(r) for r in ("viewer", "editor", "enforcement"))
    with pytest.raises(ValueError, match="roles must be among"):
        add_staff_user(db, "x", ["inspector"], actor="test")
    with pytest.raises(ValueError, match="at least one role"):
        add_staff_user(db, "x", [], actor="test")


def test_expired_and_revoked_tokens_stop_working(db: psycopg.Connection) -> None:
    add_staff_user(db, "li.na", ["viewer"], actor="test")
    soon = issue_token(db, "li.na", actor="test", expires_at=datetime.now(UTC) + timedelta(hours=1))
    past = issue_token(
        db, "li.na", actor="test", expires_at=datetime.now(UTC) - timedelta(seconds=1)
    )
    assert authenticate_token(db, soon) is not None
    assert authenticate_token(db, past) is None
    assert revoke_token(db, soon, actor="test") and not revoke_token(db, soon, actor="test")
    assert authenticate_token(db, soon) is None
    others = [issue_token(db, "li.na", actor="test", expires_at=DAY) for _ in range(2)]
    assert revoke_user_tokens(db, "li.na", actor="test") == 3  # the expired one too
    assert all(authenticate_token(db, t) is None for t in others)
    with pytest.raises(ValueError, match="time zone"):
        issue_token(db, "li.na", actor="test", expires_at=datetime(2030, 1, 1))
    stored = db.execute("SELECT token_sha256 FROM staff_tokens").fetchall()
    assert all(len(bytes(d)) == 32 for (d,) in stored)  # digests only, never the token


def test_changes_are_audited(db: psycopg.Connection) -> None:
    add_staff_user(db, "li.na", ["viewer"], "李娜", actor="admin.zhao")
    add_staff_user(db, "li.na", ["editor", "viewer"], actor="admin.zhao")
    token = issue_token(db, "li.na", actor="admin.zhao", label="laptop", expires_at=DAY)
    revoke_token(db, token, actor="li.na")
    rows = db.execute(
        "SELECT actor, action, object_type, before, after FROM staff_audit ORDER BY id"
    ).fetchall()
    assert [(a, act, t) for a, act, t, _, _ in rows] == [
        ("admin.zhao", "user.create", "staff_user"),
        ("admin.zhao", "user.update", "staff_user"),
        ("admin.zhao", "token.issue", "staff_token"),
        ("li.na", "token.revoke", "staff_token"),
    ]
    assert rows[1][3]["roles"] == ["viewer"] and rows[1][4]["roles"] == ["editor", "viewer"]
    assert token not in str(rows)


def test_cli_add_token_revoke(
    db: psycopg.Connection,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SOURCEWATCH_DATABASE_URL", database_url)
    assert main(["staff", "add", "li.na", "--role", "editor", "--expires", "30"]) == 0
    first = capsys.readouterr().out.strip()
    user = authenticate_token(db, first)
    assert user is not None and user.roles == frozenset({"editor"})
    expires = db.execute("SELECT expires_at FROM staff_tokens").fetchone()
    assert expires is not None and timedelta(days=29) < expires[0] - datetime.now(UTC) <= timedelta(
        days=30
    )
    assert main(["staff", "token", "li.na"]) == 0
    second = capsys.readouterr().out.strip()
    assert main(["staff", "token", "nobody"]) == 1
    assert main(["staff", "revoke", "--token", first]) == 0
    assert authenticate_token(db, first) is None and authenticate_token(db, second) is not None
    assert main(["staff", "revoke", "--token", first]) == 1  # already revoked
    assert main(["staff", "revoke", "--user", "li.na"]) == 0
    assert authenticate_token(db, second) is None
    actors = {a for (a,) in db.execute("SELECT DISTINCT actor FROM staff_audit")}
    assert len(actors) == 1 and next(iter(actors)).startswith("cli:")


def test_tokens_expire_by_default(
    db: psycopg.Connection,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Issue 15: `staff add`/`staff token` without --expires made tokens that never expire."""
    monkeypatch.setenv("SOURCEWATCH_DATABASE_URL", database_url)
    assert main(["staff", "add", "li.na", "--role", "editor"]) == 0
    monkeypatch.setenv("SOURCEWATCH_STAFF_TOKEN_DAYS", "7")
    assert main(["staff", "token", "li.na"]) == 0
    capsys.readouterr()
    (default,), (short,) = db.execute(
        "SELECT expires_at - created_at FROM staff_tokens ORDER BY id"
    ).fetchall()
    assert default == timedelta(days=90) and short == timedelta(days=7)
    with pytest.raises(psycopg.errors.NotNullViolation):  # no token without an end
        db.execute(
            "INSERT INTO staff_tokens (user_id, token_sha256) SELECT id, '\\x00' FROM staff_users"
        )
    with pytest.raises(SystemExit):
        main(["staff", "token", "li.na", "--expires", "0"])
    assert Settings.model_fields["staff_token_days"].default == 90
