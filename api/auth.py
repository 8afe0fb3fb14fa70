"""Staff authentication: bearer tokens with roles.

A staff user has roles (viewer < inspector < admin; a higher role includes the lower ones).
Tokens are random, shown once when issued, and stored only as SHA-256 digests. Endpoints
declare the role they need with ``Depends(require_role("inspector"))``; a missing or bad
token is 401 (:class:`api.errors.Unauthorized`), a token without the role is 403
(:class:`api.errors.Forbidden`), both in the one JSON error shape.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from fastapi import Request

from api.db import get_database
from api.errors import Forbidden, Unauthorized

__all__ = [
    "ROLES",
    "StaffUser",
    "add_staff_user",
    "authenticate",
    "issue_token",
    "require_role",
    "revoke_token",
]

ROLES = ("viewer", "inspector", "admin")
TOKEN_PREFIX = "sw_"


@dataclass(frozen=True, slots=True)
class StaffUser:
    id: int
    username: str
    roles: frozenset[str]

    def has(self, role: str) -> bool:
        needed = ROLES.index(role)
        return any(ROLES.index(r) >= needed for r in self.roles)


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def add_staff_user(
    conn: psycopg.Connection[Any], username: str, roles: list[str], display_name: str | None = None
) -> int:
    if not username.strip():
        raise ValueError("username must not be empty")
    if bad := [r for r in roles if r not in ROLES]:
        raise ValueError(f"roles must be among {', '.join(ROLES)}, got {', '.join(bad)}")
    row = conn.execute(
        "INSERT INTO staff_users (username, display_name, roles) VALUES (%s, %s, %s) "
        "ON CONFLICT (username) DO UPDATE SET roles = EXCLUDED.roles, "
        "display_name = coalesce(EXCLUDED.display_name, staff_users.display_name), active = true "
        "RETURNING id",
        (username, display_name, roles),
    ).fetchone()
    assert row is not None
    return int(row[0])


def issue_token(
    conn: psycopg.Connection[Any],
    username: str,
    *,
    label: str | None = None,
    expires_at: datetime | None = None,
) -> str:
    """A new token for ``username``; the only time the token itself is known."""
    user = conn.execute(
        "SELECT id FROM staff_users WHERE username = %s AND active", (username,)
    ).fetchone()
    if user is None:
        raise ValueError(f"no active staff user {username!r}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    conn.execute(
        "INSERT INTO staff_tokens (user_id, token_sha256, label, expires_at) VALUES (%s, %s, %s, %s)",
        (user[0], _digest(token), label, expires_at),
    )
    return token


def revoke_token(conn: psycopg.Connection[Any], token: str) -> bool:
    cur = conn.execute(
        "UPDATE staff_tokens SET revoked_at = now() WHERE token_sha256 = %s AND revoked_at IS NULL",
        (_digest(token),),
    )
    return cur.rowcount == 1


def authenticate(conn: psycopg.Connection[Any], authorization: str | None) -> StaffUser:
    if not authorization or not authorization.startswith("Bearer "):
        raise Unauthorized("staff endpoints need an 'Authorization: Bearer <token>' header")
    token = authorization.removeprefix("Bearer ").strip()
    row = conn.execute(
        "UPDATE staff_tokens t SET last_used_at = now() FROM staff_users u "
        "WHERE t.token_sha256 = %s AND u.id = t.user_id AND u.active AND t.revoked_at IS NULL "
        "AND (t.expires_at IS NULL OR t.expires_at > now()) "
        "RETURNING u.id, u.username, u.roles",
        (_digest(token),),
    ).fetchone()
    if row is None:
        raise Unauthorized("the token is unknown, revoked or expired")
    return StaffUser(int(row[0]), str(row[1]), frozenset(row[2]))


def require_role(role: str) -> Callable[[Request], StaffUser]:
    """A FastAPI dependency: the authenticated staff user, who must have ``role``."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")

    def dependency(request: Request) -> StaffUser:
        with get_database(request).connection() as conn:
            user = authenticate(conn, request.headers.get("authorization"))
        if not user.has(role):
            raise Forbidden(f"this endpoint needs the {role!r} role")
        return user

    return dependency
