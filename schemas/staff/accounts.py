"""Staff accounts, roles and API tokens (``staff_users``, ``staff_tokens``).

Roles: ``viewer`` reads staff data; ``enforcement`` works exceedance and other cases;
``editor`` authors, reviews and publishes disclosure records; ``admin`` may do everything,
including managing accounts. Any role includes ``viewer``.

Tokens are random (256 bits), shown once when issued and stored only as SHA-256 digests; every
token expires (``sourcewatch staff add/token``: after ``SOURCEWATCH_STAFF_TOKEN_DAYS`` unless
``--expires`` says otherwise); revoked or expired tokens stop working at once. Every change to accounts
and tokens is written to the audit log (:mod:`schemas.staff.audit`) by the caller's actor.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql

from schemas.staff.audit import audit

__all__ = [
    "ROLES",
    "StaffAccount",
    "StaffUser",
    "TokenInfo",
    "add_staff_user",
    "authenticate_token",
    "deactivate_staff_user",
    "issue_token",
    "list_staff_users",
    "list_tokens",
    "revoke_token",
    "revoke_token_id",
    "revoke_user_tokens",
    "token_info",
]

ROLES = ("viewer", "editor", "enforcement", "admin")
TOKEN_PREFIX = "sw_"


@dataclass(frozen=True, slots=True)
class StaffUser:
    id: int
    username: str
    roles: frozenset[str]

    def has(self, role: str) -> bool:
        """Whether the user may act in ``role``: admin may do all, any role may read."""
        return (
            role in self.roles or "admin" in self.roles or (role == "viewer" and bool(self.roles))
        )


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _check_roles(roles: list[str]) -> None:
    if not roles:
        raise ValueError("a staff user needs at least one role")
    if bad := [r for r in roles if r not in ROLES]:
        raise ValueError(f"roles must be among {', '.join(ROLES)}, got {', '.join(bad)}")


def add_staff_user(
    conn: psycopg.Connection[Any],
    username: str,
    roles: list[str],
    display_name: str | None = None,
    *,
    actor: str,
) -> int:
    """Create the user, or update the roles (and name) of an existing one; its id."""
    if not username.strip():
        raise ValueError("username must not be empty")
    _check_roles(roles)
    with conn.transaction():
        before = conn.execute(
            "SELECT username, display_name, roles, active FROM staff_users WHERE username = %s",
            (username,),
        ).fetchone()
        row = conn.execute(
            "INSERT INTO staff_users (username, display_name, roles) VALUES (%s, %s, %s) "
            "ON CONFLICT (username) DO UPDATE SET roles = EXCLUDED.roles, "
            "display_name = coalesce(EXCLUDED.display_name, staff_users.display_name), "
            "active = true RETURNING id, display_name",
            (username, display_name, sorted(set(roles))),
        ).fetchone()
        assert row is not None
        audit(
            conn,
            actor,
            "user.update" if before else "user.create",
            "staff_user",
            username,
            before=None
            if before is None
            else {"display_name": before[1], "roles": before[2], "active": before[3]},
            after={"display_name": row[1], "roles": sorted(set(roles)), "active": True},
        )
    return int(row[0])


def issue_token(
    conn: psycopg.Connection[Any],
    username: str,
    *,
    actor: str,
    expires_at: datetime | timedelta,
    label: str | None = None,
) -> str:
    """A new token for ``username``; the only time the token itself is known. Every token
    expires: at ``expires_at``, or that long after it is issued (a ``timedelta``)."""
    if isinstance(expires_at, datetime) and expires_at.tzinfo is None:
        raise ValueError("expires_at needs a time zone")
    if isinstance(expires_at, timedelta) and expires_at <= timedelta(0):
        raise ValueError("a token must be valid for some time")
    with conn.transaction():
        user = conn.execute(
            "SELECT id FROM staff_users WHERE username = %s AND active", (username,)
        ).fetchone()
        if user is None:
            raise ValueError(f"no active staff user {username!r}")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        at = "%s::timestamptz" if isinstance(expires_at, datetime) else "now() + %s::interval"
        row = conn.execute(
            sql.SQL(
                "INSERT INTO staff_tokens (user_id, token_sha256, label, expires_at)"
                " VALUES (%s, %s, %s, {at}) RETURNING id, expires_at"
            ).format(at=sql.SQL(at)),
            (user[0], digest(token), label, expires_at),
        ).fetchone()
        assert row is not None
        audit(
            conn,
            actor,
            "token.issue",
            "staff_token",
            row[0],
            after={"user": username, "label": label, "expires_at": row[1]},
        )
    return token


def revoke_token(conn: psycopg.Connection[Any], token: str, *, actor: str) -> bool:
    """Revoke one token (given in full); False when it is unknown or already revoked."""
    with conn.transaction():
        row = conn.execute(
            "UPDATE staff_tokens SET revoked_at = now()"
            " WHERE token_sha256 = %s AND revoked_at IS NULL RETURNING id",
            (digest(token),),
        ).fetchone()
        if row is not None:
            audit(conn, actor, "token.revoke", "staff_token", row[0], after={"revoked": True})
    return row is not None


def revoke_user_tokens(conn: psycopg.Connection[Any], username: str, *, actor: str) -> int:
    """Revoke every live token of ``username`` (a lost laptop, a leaver); how many."""
    with conn.transaction():
        rows = conn.execute(
            "UPDATE staff_tokens t SET revoked_at = now() FROM staff_users u"
            " WHERE u.id = t.user_id AND u.username = %s AND t.revoked_at IS NULL RETURNING t.id",
            (username,),
        ).fetchall()
        for (token_id,) in rows:
            audit(conn, actor, "token.revoke", "staff_token", token_id, after={"user": username})
    return len(rows)


def authenticate_token(conn: psycopg.Connection[Any], token: str) -> StaffUser | None:
    """The active user holding this live token (and note its use), or None."""
    row = conn.execute(
        "UPDATE staff_tokens t SET last_used_at = now() FROM staff_users u "
        "WHERE t.token_sha256 = %s AND u.id = t.user_id AND u.active AND t.revoked_at IS NULL "
        "AND (t.expires_at IS NULL OR t.expires_at > now()) "
        "RETURNING u.id, u.username, u.roles",
        (digest(token),),
    ).fetchone()
    return None if row is None else StaffUser(int(row[0]), str(row[1]), frozenset(row[2]))


# --- Administration (the staff API's users and tokens) ------------------------------------------


@dataclass(frozen=True, slots=True)
class StaffAccount:
    """A staff user as an administrator sees it (no secrets)."""

    id: int
    username: str
    display_name: str | None
    roles: tuple[str, ...]
    active: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A token's record: never the token itself (only its digest is stored)."""

    id: int
    username: str
    label: str | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


def list_staff_users(conn: psycopg.Connection[Any]) -> list[StaffAccount]:
    rows = conn.execute(
        "SELECT id, username, display_name, roles, active, created_at FROM staff_users"
        " ORDER BY username"
    ).fetchall()
    return [StaffAccount(r[0], r[1], r[2], tuple(r[3]), r[4], r[5]) for r in rows]


def deactivate_staff_user(conn: psycopg.Connection[Any], username: str, *, actor: str) -> int:
    """Deactivate the user and revoke every live token; how many tokens were revoked.
    ``LookupError`` for an unknown user."""
    with conn.transaction():
        row = conn.execute(
            "SELECT active FROM staff_users WHERE username = %s FOR UPDATE", (username,)
        ).fetchone()
        if row is None:
            raise LookupError(f"no staff user {username!r}")
        conn.execute("UPDATE staff_users SET active = false WHERE username = %s", (username,))
        revoked = revoke_user_tokens(conn, username, actor=actor)
        if row[0]:
            audit(
                conn,
                actor,
                "user.deactivate",
                "staff_user",
                username,
                before={"active": True},
                after={"active": False, "tokens_revoked": revoked},
            )
    return revoked


def list_tokens(conn: psycopg.Connection[Any], username: str) -> list[TokenInfo]:
    """Every token of ``username``, newest first (``LookupError`` for an unknown user)."""
    if (
        conn.execute("SELECT 1 FROM staff_users WHERE username = %s", (username,)).fetchone()
        is None
    ):
        raise LookupError(f"no staff user {username!r}")
    rows = conn.execute(
        "SELECT t.id, u.username, t.label, t.created_at, t.expires_at, t.revoked_at,"
        " t.last_used_at FROM staff_tokens t JOIN staff_users u ON u.id = t.user_id"
        " WHERE u.username = %s ORDER BY t.id DESC",
        (username,),
    ).fetchall()
    return [TokenInfo(*r) for r in rows]


def revoke_token_id(conn: psycopg.Connection[Any], token_id: int, *, actor: str) -> bool:
    """Revoke a token by its id; False when it was revoked already (``LookupError`` when
    there is no such token)."""
    with conn.transaction():
        row = conn.execute(
            "SELECT revoked_at IS NULL FROM staff_tokens WHERE id = %s FOR UPDATE", (token_id,)
        ).fetchone()
        if row is None:
            raise LookupError(f"no token {token_id}")
        if row[0]:
            conn.execute("UPDATE staff_tokens SET revoked_at = now() WHERE id = %s", (token_id,))
            audit(conn, actor, "token.revoke", "staff_token", token_id, after={"revoked": True})
    return bool(row[0])


def token_info(conn: psycopg.Connection[Any], token_id: int) -> TokenInfo | None:
    """The record of one token (never the token), or None."""
    row = conn.execute(
        "SELECT t.id, u.username, t.label, t.created_at, t.expires_at, t.revoked_at,"
        " t.last_used_at FROM staff_tokens t JOIN staff_users u ON u.id = t.user_id"
        " WHERE t.id = %s",
        (token_id,),
    ).fetchone()
    return None if row is None else TokenInfo(*row)
