"""Staff passwords for the console's login: argon2id hashes (``argon2-cffi``), never the password.

``set_password`` stores a new hash (audited as "set", never the password or its hash);
``check_password`` answers the same way, and takes about the same time, for an unknown user, an
inactive one, one without a password and a wrong password, so a login form cannot tell them
apart. A hash made with older parameters is re-hashed on the next good login.
"""

from __future__ import annotations

import functools
from typing import Any

import psycopg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from schemas.staff.accounts import StaffUser
from schemas.staff.audit import audit

__all__ = ["MIN_LENGTH", "check_password", "hash_password", "set_password"]

MIN_LENGTH = 10
"""Shortest password accepted, in characters."""
MAX_LENGTH = 1024

# argon2-cffi's defaults are RFC 9106's second recommended (low-memory) argon2id profile.
_HASHER = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified against when there is no hash to check, so every refusal costs the same."""
    return _HASHER.hash("sourcewatch: no such user")


def hash_password(password: str) -> str:
    """The argon2id PHC string of ``password`` (``ValueError`` when too short or too long)."""
    if len(password) < MIN_LENGTH:
        raise ValueError(f"a password needs at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise ValueError(f"a password has at most {MAX_LENGTH} characters")
    return _HASHER.hash(password)


def set_password(
    conn: psycopg.Connection[Any], username: str, password: str, *, actor: str
) -> None:
    """Give the active user ``username`` a new password; audited (only that it was set).
    ``LookupError`` for an unknown or inactive user, ``ValueError`` for a bad password."""
    hashed = hash_password(password)
    with conn.transaction():
        row = conn.execute(
            "UPDATE staff_users SET password_hash = %s, password_set_at = now()"
            " WHERE username = %s AND active RETURNING id",
            (hashed, username),
        ).fetchone()
        if row is None:
            raise LookupError(f"no active staff user {username!r}")
        audit(conn, actor, "user.password", "staff_user", username, after={"password": "set"})


def check_password(conn: psycopg.Connection[Any], username: str, password: str) -> StaffUser | None:
    """The active user when ``password`` is theirs, else None (whatever the reason)."""
    row = conn.execute(
        "SELECT id, username, roles, password_hash FROM staff_users WHERE username = %s AND active",
        (username,),
    ).fetchone()
    stored = row[3] if row is not None and row[3] else None
    try:
        _HASHER.verify(stored or _dummy_hash(), password[:MAX_LENGTH])
    except (VerificationError, InvalidHashError):
        return None
    if row is None or stored is None:
        return None
    if _HASHER.check_needs_rehash(stored):
        conn.execute(
            "UPDATE staff_users SET password_hash = %s WHERE id = %s",
            (_HASHER.hash(password), row[0]),
        )
    return StaffUser(int(row[0]), str(row[1]), frozenset(row[2]))
