"""Staff authentication: bearer tokens with roles (accounts and tokens: :mod:`schemas.staff.accounts`).

Endpoints declare the role they need with ``Depends(require_role("enforcement"))``; a missing,
unknown, expired or revoked token is 401 (:class:`api.errors.Unauthorized`), a token without
the role is 403 (:class:`api.errors.Forbidden`), both in the one JSON error shape.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request

from api.db import get_database
from api.errors import Forbidden, Unauthorized
from schemas.staff.accounts import ROLES, StaffUser, authenticate_token

__all__ = ["StaffUser", "authenticate", "require_role"]


def authenticate(request: Request) -> StaffUser:
    authorization = request.headers.get("authorization")
    if not authorization or not authorization.startswith("Bearer "):
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
