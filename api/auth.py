"""Staff authentication: bearer tokens for machines, the console's session cookie for people
(accounts and tokens: :mod:`schemas.staff.accounts`; sessions: :mod:`schemas.staff.sessions`).

Endpoints declare the role they need with ``Depends(require_role("enforcement"))``. A request
with ``Authorization: Bearer`` is judged by its token alone. Without one, the console's session
cookie (``sw_session``) is accepted; a request that changes something (not GET, HEAD or
OPTIONS) must then also carry the session's CSRF token in ``X-CSRF-Token``, so that another
site cannot make a logged-in browser act. A missing, unknown, expired or revoked credential is
401 (:class:`api.errors.Unauthorized`), a user without the role or a cookie request without
its CSRF token is 403 (:class:`api.errors.Forbidden`), both in the one JSON error shape.

:class:`StaffGate` checks the token of every ``/v1/staff/`` request before anything reads its
body (issue 15: an anonymous 30 MB upload was spooled before its 401), so a 401 comes before
any answer about the body (400, 422, a chunked body cut off with 413) but one: a declared
``Content-Length`` over the limit is 413 at once, unread, for anyone
(:class:`api.bodylimit.BodyLimitMiddleware` runs first); the dependency then reuses the user it
found.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping

from fastapi import Request, Security
from fastapi.security import APIKeyCookie, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from api.db import Database, DatabaseError, database_of
from api.errors import ApiError, Forbidden, Unauthorized, database_error, error_response
from schemas.staff.accounts import ROLES, StaffUser, authenticate_token
from schemas.staff.sessions import Session, find_session

__all__ = [
    "CSRF_HEADER",
    "SESSION_COOKIE",
    "STAFF_PREFIX",
    "StaffGate",
    "StaffUser",
    "authenticate",
    "csrf_matches",
    "require_role",
    "session_of",
]

STAFF_PREFIX = "/v1/staff/"
SESSION_COOKIE = "sw_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_USER = "staff_user"  # where the gate leaves the user, in the request's state

# How the OpenAPI document says a staff operation is authenticated (either scheme will do).
# Neither is read through these objects: :class:`StaffGate` has judged the request already.
BEARER = HTTPBearer(
    scheme_name="bearer",
    description="A staff API token (`sourcewatch staff add` or `staff token`, or POST /v1/staff/users/{username}/tokens).",
    auto_error=False,
)
SESSION = APIKeyCookie(
    name=SESSION_COOKIE,
    scheme_name="session",
    description="The staff console's session cookie; a request that changes something also "
    f"needs the session's CSRF token in `{CSRF_HEADER}`.",
    auto_error=False,
)


def _session(database: Database, value: str | None) -> Session | None:
    if not value or len(value) > 200:
        return None
    with database.connection() as conn:
        return find_session(conn, value)


def session_of(request: Request) -> Session | None:
    """The live console session of the request's cookie, looked up once per request."""
    if hasattr(request.state, "staff_session"):
        found: Session | None = request.state.staff_session
        return found
    found = _session(database_of(request), request.cookies.get(SESSION_COOKIE))
    request.state.staff_session = found
    return found


def csrf_matches(session: Session, given: str | None) -> bool:
    """Whether ``given`` is the session's CSRF token (compared in constant time)."""
    return bool(given) and hmac.compare_digest(session.csrf_token.encode(), str(given).encode())


def _user(
    database: Database, method: str, headers: Mapping[str, str], cookies: Mapping[str, str]
) -> StaffUser:
    """The staff user of a request's bearer token, else of its console session (whose CSRF
    token a request that changes something must carry)."""
    authorization = headers.get("authorization")
    if authorization is None:
        session = _session(database, cookies.get(SESSION_COOKIE))
        if session is None:
            raise Unauthorized(
                "staff endpoints need an 'Authorization: Bearer <token>' header"
                " (or a staff console session)"
            )
        if method not in SAFE_METHODS and not csrf_matches(session, headers.get(CSRF_HEADER)):
            raise Forbidden(f"a console session's request needs its CSRF token ({CSRF_HEADER})")
        return session.user
    if not authorization.startswith("Bearer "):
        raise Unauthorized("staff endpoints need an 'Authorization: Bearer <token>' header")
    with database.connection() as conn:
        user = authenticate_token(conn, authorization.removeprefix("Bearer ").strip())
    if user is None:
        raise Unauthorized("the token is unknown, revoked or expired")
    return user


def authenticate(request: Request) -> StaffUser:
    found = getattr(request.state, _USER, None)
    if isinstance(found, StaffUser):
        return found  # checked by the gate, before the body was read
    return _user(database_of(request), request.method, request.headers, request.cookies)


def require_role(role: str) -> Callable[[Request], StaffUser]:
    """A FastAPI dependency: the authenticated staff user, who must have ``role``."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")

    def dependency(
        request: Request,
        _bearer: object = Security(BEARER),
        _session: object = Security(SESSION),
    ) -> StaffUser:
        user = authenticate(request)
        if not user.has(role):
            raise Forbidden(f"this endpoint needs the {role!r} role")
        return user

    return dependency


class StaffGate:
    """ASGI middleware: a ``/v1/staff/`` request without a valid token or console session is
    answered 401 (403 without its CSRF token) before its body is read (CORS preflights pass:
    they carry no credentials)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if (
            scope["type"] != "http"
            or not path.startswith(STAFF_PREFIX)
            or scope["method"] == "OPTIONS"
        ):
            await self.app(scope, receive, send)
            return
        try:
            request = Request(scope)
            database: Database = scope["app"].state.database
            user = await run_in_threadpool(
                _user, database, str(scope["method"]), request.headers, request.cookies
            )
        except ApiError as exc:
            await error_response(exc)(scope, receive, send)
            return
        except DatabaseError as exc:  # 503 when the database does not answer
            await error_response(database_error(exc))(scope, receive, send)
            return
        scope.setdefault("state", {})[_USER] = user
        await self.app(scope, receive, send)
