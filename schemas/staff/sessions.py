"""The staff console's server-side sessions (``staff_sessions``) and login throttling
(``staff_login_failures``), both in PostgreSQL so that every API process agrees.

A session is a random value (256 bits) given to the browser as a cookie and stored only as its
SHA-256 digest, with a CSRF token the console's forms echo back. It ends at its expiry or at
logout. Every failed login is recorded under the user name tried and under the client
address; :func:`throttled` says whether either has too many in the window (a successful login
clears its user name's failures, not its address's).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg

from schemas.staff.accounts import StaffUser
from schemas.staff.audit import audit

__all__ = [
    "Session",
    "Throttle",
    "clear_failures",
    "end_session",
    "find_session",
    "record_failure",
    "start_session",
    "throttled",
]


@dataclass(frozen=True, slots=True)
class Session:
    id: int
    user: StaffUser
    csrf_token: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Throttle:
    """At most ``per_user`` failures for one user name and ``per_ip`` for one client address
    within ``window``."""

    per_user: int
    per_ip: int
    window: timedelta


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


def start_session(
    conn: psycopg.Connection[Any],
    user: StaffUser,
    lifetime: timedelta,
    *,
    client_ip: str | None,
    user_agent: str | None,
) -> tuple[str, Session]:
    """A new session for ``user``: the cookie value (known only now) and the session.
    Audited as a login."""
    value = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    with conn.transaction():
        row = conn.execute(
            "INSERT INTO staff_sessions (user_id, session_sha256, csrf_token, expires_at,"
            " client_ip, user_agent) VALUES (%s, %s, %s, now() + %s::interval, %s, %s)"
            " RETURNING id, expires_at",
            (user.id, _digest(value), csrf, lifetime, client_ip, (user_agent or "")[:300]),
        ).fetchone()
        assert row is not None
        audit(
            conn,
            user.username,
            "session.login",
            "staff_session",
            row[0],
            after={"client_ip": client_ip, "expires_at": row[1]},
        )
    return value, Session(int(row[0]), user, csrf, row[1])


def find_session(conn: psycopg.Connection[Any], value: str) -> Session | None:
    """The live session of this cookie value (of an active user), noting its use; else None."""
    row = conn.execute(
        "UPDATE staff_sessions s SET last_seen_at = now() FROM staff_users u"
        " WHERE s.session_sha256 = %s AND u.id = s.user_id AND u.active"
        " AND s.ended_at IS NULL AND s.expires_at > now()"
        " RETURNING s.id, u.id, u.username, u.roles, s.csrf_token, s.expires_at",
        (_digest(value),),
    ).fetchone()
    if row is None:
        return None
    return Session(
        int(row[0]), StaffUser(int(row[1]), str(row[2]), frozenset(row[3])), row[4], row[5]
    )


def end_session(conn: psycopg.Connection[Any], value: str) -> bool:
    """Log out: end the session of this cookie value; False when it was not live."""
    with conn.transaction():
        row = conn.execute(
            "UPDATE staff_sessions s SET ended_at = now() FROM staff_users u"
            " WHERE s.session_sha256 = %s AND s.ended_at IS NULL AND u.id = s.user_id"
            " RETURNING s.id, u.username",
            (_digest(value),),
        ).fetchone()
        if row is not None:
            audit(conn, row[1], "session.logout", "staff_session", row[0], after={"ended": True})
    return row is not None


def record_failure(conn: psycopg.Connection[Any], username: str, client_ip: str | None) -> None:
    """Count one failed login against the user name and the client address."""
    rows = [("user", username.strip().lower()[:200])]
    if client_ip:
        rows.append(("ip", client_ip))
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO staff_login_failures (scope, key) VALUES (%s, %s)", rows)


def throttled(
    conn: psycopg.Connection[Any], username: str, client_ip: str | None, throttle: Throttle
) -> bool:
    """Whether the user name or the client address has reached its failures in the window
    (failures older than the window, which no longer count, are deleted first)."""
    conn.execute(
        "DELETE FROM staff_login_failures WHERE at <= now() - %s::interval", (throttle.window,)
    )
    row = conn.execute(
        "SELECT count(*) FILTER (WHERE scope = 'user' AND key = %(user)s),"
        " count(*) FILTER (WHERE scope = 'ip' AND key = %(ip)s)"
        " FROM staff_login_failures WHERE at > now() - %(window)s::interval"
        " AND ((scope = 'user' AND key = %(user)s) OR (scope = 'ip' AND key = %(ip)s))",
        {"user": username.strip().lower()[:200], "ip": client_ip or "", "window": throttle.window},
    ).fetchone()
    assert row is not None
    return int(row[0]) >= throttle.per_user or int(row[1]) >= throttle.per_ip


def clear_failures(conn: psycopg.Connection[Any], username: str) -> None:
    """After a successful login: the user name's failures no longer count."""
    conn.execute(
        "DELETE FROM staff_login_failures WHERE scope = 'user' AND key = %s",
        (username.strip().lower()[:200],),
    )
