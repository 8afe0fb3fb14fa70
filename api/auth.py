"""Staff authentication: bearer tokens for machines, the console's session cookie for people
(accounts and tokens: :mod:`schemas.staff.accounts`; sessions: :mod:`schemas.staff.sessions`).

Endpoints declare the role they need with ``Depends(require_role("enforcement"))``. A request
with ``Authorization: Bearer`` is judged by its token alone. Without one, the console's session
cookie (``sw_session``) is accepted; a request that changes something (not GET, HEAD or
OPTIONS) must then also carry the session's CSRF token in ``X-CSRF-Token``, so that another
site cannot make a logged-in browser act. A missing, unknown, expired or revoked credential is
401 (:class:`api.errors.Unauthorized`), a user without the role or a cookie request without
its CSRF token is 403 (:class:`api.errors.Forbidden`), both in the one JSON error shape.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable

from fastapi import Request

from api.db import get_database
from api.errors import Forbidden, Unauthorized
from schemas.staff.accounts import ROLES, StaffUser, authenticate_token
from schemas.staff.sessions import Session, find_session

__all__ = [
    "CSRF_HEADER",
    "SESSION_COOKIE",
    "StaffUser",
    "authenticate",
    "csrf_matches",
    "require_role",
    "session_of",
]

SESSION_COOKIE = "sw_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def session_of(request: Request) -> Session | None:
    """The live console session of the request's cookie, looked up once per request."""
    if hasattr(request.state, "staff_session"):
        found: Session | None = request.state.staff_session
        return found
    value = request.cookies.get(SESSION_COOKIE)
    found = None
    if value and len(value) <= 200:
        with get_database(request).connection() as conn:
            found = find_session(conn, value)
    request.state.staff_session = found
    return found


def csrf_matches(session: Session, given: str | None) -> bool:
    """Whether ``given`` is the session's CSRF token (compared in constant time)."""
    return bool(given) and hmac.compare_digest(session.csrf_token.encode(), str(given).encode())


def authenticate(request: Request) -> StaffUser:
    authorization = request.headers.get("authorization")
    if authorization is None:
        session = session_of(request)
        if session is None:
            raise Unauthorized(
                "staff endpoints need an 'Authorization: Bearer <token>' header"
                " (or a staff console session)"
            )
        if request.method not in SAFE_METHODS and not csrf_matches(
            session, request.headers.get(CSRF_HEADER)
        ):
            raise Forbidden(f"a console session's request needs its CSRF token ({CSRF_HEADER})")
        return session.user
    if not authorization.startswith("Bearer "):
        raise Unauthorized("staff endpoints need an 'Authorization: Bearer <token>' header")
    token = authorization.removeprefix("Bearer ").strip()
    with get_database(request).connection() as conn:
        user = authenticate_token(conn, token)
    if user is None:
        raise Unauthorized("the token is unknown, revoked or expired")
    return user


def require_role(role: str) -> Callable[[Request], StaffUser]:
    """A FastAPI dependency: the authenticated staff user, who must have ``role``."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")

    def dependency(request: Request) -> StaffUser:
        user = authenticate(request)
        if not user.has(role):
            raise Forbidden(f"this endpoint needs the {role!r} role")
        return user

    return dependency
