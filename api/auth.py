"""Staff authentication: bearer tokens with roles (accounts and tokens: :mod:`schemas.staff.accounts`).

Endpoints declare the role they need with ``Depends(require_role("enforcement"))``; a missing,
unknown, expired or revoked token is 401 (:class:`api.errors.Unauthorized`), a token without
the role is 403 (:class:`api.errors.Forbidden`), both in the one JSON error shape.

:class:`StaffGate` checks the token of every ``/v1/staff/`` request before anything reads its
body (issue 15: an anonymous 30 MB upload was spooled before its 401), so a 401 always comes
before any answer about the body (400, 413, 422); the dependency then reuses the user it found.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from api.db import Database, DatabaseError, get_database
from api.errors import ApiError, Forbidden, Unauthorized, database_error, error_response
from schemas.staff.accounts import ROLES, StaffUser, authenticate_token

__all__ = ["STAFF_PREFIX", "StaffGate", "StaffUser", "authenticate", "require_role"]

STAFF_PREFIX = "/v1/staff/"
_USER = "staff_user"  # where the gate leaves the user, in the request's state


def _token(authorization: str | None) -> str:
    if not authorization or not authorization.startswith("Bearer "):
        raise Unauthorized("staff endpoints need an 'Authorization: Bearer <token>' header")
    return authorization.removeprefix("Bearer ").strip()


def _user(database: Database, token: str) -> StaffUser:
    with database.connection() as conn:
        user = authenticate_token(conn, token)
    if user is None:
        raise Unauthorized("the token is unknown, revoked or expired")
    return user


def authenticate(request: Request) -> StaffUser:
    found = getattr(request.state, _USER, None)
    if isinstance(found, StaffUser):
        return found  # checked by the gate, before the body was read
    return _user(get_database(request), _token(request.headers.get("authorization")))


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


class StaffGate:
    """ASGI middleware: a ``/v1/staff/`` request without a valid token is answered 401 before
    its body is read (CORS preflights pass: they carry no token)."""

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
            token = _token(Headers(scope=scope).get("authorization"))
            database: Database = scope["app"].state.database
            user = await run_in_threadpool(_user, database, token)
        except ApiError as exc:
            await error_response(exc)(scope, receive, send)
            return
        except DatabaseError as exc:  # 503 when the database does not answer
            await error_response(database_error(exc))(scope, receive, send)
            return
        scope.setdefault("state", {})[_USER] = user
        await self.app(scope, receive, send)
