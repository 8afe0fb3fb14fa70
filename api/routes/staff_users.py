"""``/v1/staff/users`` and ``/v1/staff/tokens`` (admin): staff accounts, their roles and API
tokens (:mod:`schemas.staff.accounts`), every change audited.

A token is shown once, in the answer that issues it; lists show only its record (label,
expiry, last use, revocation). An administrator cannot deactivate their own account (someone
else must), so the service is never left without one by mistake.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from api.auth import StaffUser, require_role
from api.db import Database, get_database
from api.errors import (
    CONFLICT_RESPONSE,
    ERROR_RESPONSES,
    NOT_FOUND_RESPONSE,
    STAFF_RESPONSES,
    Conflict,
    InvalidParameter,
    NotFound,
)
from api.params import reject_nul
from api.render import private_json
from api.responses import Instant, Meta, Page, instant
from schemas.staff.accounts import (
    ROLES,
    StaffAccount,
    TokenInfo,
    add_staff_user,
    deactivate_staff_user,
    issue_token,
    list_staff_users,
    list_tokens,
    revoke_token_id,
    token_info,
)

__all__ = ["router"]

router = APIRouter(
    prefix="/v1/staff",
    tags=["staff"],
    responses={**ERROR_RESPONSES, **STAFF_RESPONSES},
    dependencies=[Depends(reject_nul)],
)

Admin = Annotated[StaffUser, Depends(require_role("admin"))]
Db = Annotated[Database, Depends(get_database)]
Username = Annotated[
    str,
    Path(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._@-]+$", description="User name."),
]
TokenId = Annotated[int, Path(ge=1, le=2**63 - 1, description="Token id.")]


class AccountBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    roles: list[str] = Field(min_length=1, description=f"Among {', '.join(ROLES)}.")
    display_name: (
        Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None
    ) = None


class TokenBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = Field(
        None, description="What the token is for (a laptop, a script)."
    )
    expires_in_days: int | None = Field(
        None,
        ge=1,
        le=3650,
        description="Days until it expires; null: the service's default"
        " (SOURCEWATCH_STAFF_TOKEN_DAYS). Every token expires.",
    )


class AccountOut(BaseModel):
    id: int
    username: str
    display_name: str | None
    roles: list[str]
    active: bool
    created: Instant


class TokenOut(BaseModel):
    id: int
    username: str
    label: str | None
    created: Instant
    expires: Instant | None
    revoked: Instant | None
    last_used: Instant | None


class IssuedToken(TokenOut):
    token: str = Field(description="The token itself: shown this once, only its digest is kept.")


class UserDeactivated(BaseModel):
    user: AccountOut
    tokens_revoked: int


def _account(a: StaffAccount) -> AccountOut:
    return AccountOut(
        id=a.id,
        username=a.username,
        display_name=a.display_name,
        roles=list(a.roles),
        active=a.active,
        created=instant(a.created_at),
    )


def _token(t: TokenInfo) -> TokenOut:
    def when(value: datetime | None) -> Instant | None:
        return None if value is None else instant(value)

    return TokenOut(
        id=t.id,
        username=t.username,
        label=t.label,
        created=instant(t.created_at),
        expires=when(t.expires_at),
        revoked=when(t.revoked_at),
        last_used=when(t.last_used_at),
    )


def _find(conn: psycopg.Connection[Any], username: str) -> StaffAccount:
    for account in list_staff_users(conn):
        if account.username == username:
            return account
    raise NotFound(f"no staff user {username!r}", parameter="username")


@router.get("/users", response_model=Page[AccountOut], summary="Staff users (admin)")
def list_users(user: Admin, db: Db) -> Response:
    accounts = [_account(a) for a in db.call(list_staff_users)]
    meta = Meta(page=1, limit=max(len(accounts), 1), found=len(accounts), next=None)
    return private_json(Page[AccountOut](meta=meta, results=accounts))


@router.put(
    "/users/{username}",
    response_model=AccountOut,
    summary="Create a staff user or set their roles (admin)",
)
def put_user(user: Admin, db: Db, username: Username, body: AccountBody) -> Response:
    """Create the user, or set the roles (and name) of an existing one; a deactivated user
    is active again. Tokens are issued separately."""
    if bad := [r for r in body.roles if r not in ROLES]:
        raise InvalidParameter("roles", f"must be among {', '.join(ROLES)}, got {bad}")

    def run(conn: psycopg.Connection[Any]) -> StaffAccount:
        add_staff_user(conn, username, body.roles, body.display_name, actor=user.username)
        return _find(conn, username)

    return private_json(_account(db.call(run)))


@router.post(
    "/users/{username}/deactivate",
    response_model=UserDeactivated,
    responses={**NOT_FOUND_RESPONSE, **CONFLICT_RESPONSE},
    summary="Deactivate a staff user and revoke their tokens (admin)",
)
def deactivate_user(user: Admin, db: Db, username: Username) -> Response:
    if username == user.username:
        raise Conflict("an administrator cannot deactivate their own account")

    def run(conn: psycopg.Connection[Any]) -> tuple[int, StaffAccount]:
        _find(conn, username)
        revoked = deactivate_staff_user(conn, username, actor=user.username)
        return revoked, _find(conn, username)

    revoked, account = db.call(run)
    return private_json(UserDeactivated(user=_account(account), tokens_revoked=revoked))


@router.get(
    "/users/{username}/tokens",
    response_model=Page[TokenOut],
    responses=NOT_FOUND_RESPONSE,
    summary="A staff user's tokens, newest first (admin)",
)
def list_user_tokens(user: Admin, db: Db, username: Username) -> Response:
    def run(conn: psycopg.Connection[Any]) -> list[TokenInfo]:
        _find(conn, username)
        return list_tokens(conn, username)

    tokens = [_token(t) for t in db.call(run)]
    meta = Meta(page=1, limit=max(len(tokens), 1), found=len(tokens), next=None)
    return private_json(Page[TokenOut](meta=meta, results=tokens))


@router.post(
    "/users/{username}/tokens",
    response_model=IssuedToken,
    status_code=201,
    responses={**NOT_FOUND_RESPONSE, **CONFLICT_RESPONSE},
    summary="Issue a token for a staff user (admin)",
)
def issue(user: Admin, db: Db, request: Request, username: Username, body: TokenBody) -> Response:
    """The answer carries the token; it is not shown again. An inactive user gets none (409)."""
    days = body.expires_in_days or request.app.state.settings.staff_token_days
    expires = datetime.now(UTC) + timedelta(days=days)

    def run(conn: psycopg.Connection[Any]) -> tuple[str, TokenInfo]:
        account = _find(conn, username)
        if not account.active:
            raise Conflict(f"{username} is deactivated: set their roles to reactivate them")
        token = issue_token(
            conn, username, actor=user.username, label=body.label, expires_at=expires
        )
        (newest, *_) = list_tokens(conn, username)
        return token, newest

    token, info = db.call(run)
    return private_json(IssuedToken(**_token(info).model_dump(), token=token), status_code=201)


@router.post(
    "/tokens/{token_id}/revoke",
    response_model=TokenOut,
    responses=NOT_FOUND_RESPONSE,
    summary="Revoke a token (admin)",
)
def revoke(user: Admin, db: Db, token_id: TokenId) -> Response:
    """It stops working at once; revoking twice changes nothing."""

    def run(conn: psycopg.Connection[Any]) -> TokenInfo:
        try:
            revoke_token_id(conn, token_id, actor=user.username)
        except LookupError:
            raise NotFound(f"no token {token_id}", parameter="token_id") from None
        info = token_info(conn, token_id)
        assert info is not None
        return info

    return private_json(_token(db.call(run)))
