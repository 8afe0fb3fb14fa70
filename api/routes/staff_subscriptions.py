"""``/v1/staff/subscriptions`` (admin): who is notified of which cases and system alerts, over
which channel (:mod:`schemas.subscriptions`). Every change is audited with before and after.
System alerts go to staff only: ``system_alerts: true`` needs a ``subscriber`` that is the
user name of an active staff user (422 otherwise).

The secret (webhook HMAC key, robot sign secret) is write-only: it can be set, replaced or
removed (``null``), and answers only say whether one is set (``secret_set``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import psycopg
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from api.auth import StaffUser, require_role
from api.db import Database, get_database
from api.errors import ERROR_RESPONSES, NOT_FOUND_RESPONSE, STAFF_RESPONSES
from api.params import reject_nul
from api.render import private_json
from api.responses import Instant, Meta, Page, instant
from schemas.cases.kinds import CaseKind, Severity
from schemas.subscriptions import (
    Subscription,
    SubscriptionError,
    add_subscription,
    deactivate_subscription,
    get_subscription,
    list_subscriptions,
    update_subscription,
)
from schemas.system_alerts import AlertKind

__all__ = ["router"]

router = APIRouter(
    prefix="/v1/staff/subscriptions",
    tags=["staff"],
    responses={**ERROR_RESPONSES, **STAFF_RESPONSES},
    dependencies=[Depends(reject_nul)],
)

Admin = Annotated[StaffUser, Depends(require_role("admin"))]
Db = Annotated[Database, Depends(get_database)]
SubscriptionId = Annotated[int, Path(ge=1, le=2**63 - 1, description="Subscription id.")]
Channel = Literal["webhook", "email", "mqtt", "wecom", "dingtalk"]


class SubscriptionChanges(BaseModel):
    """Fields of a subscription; in a PATCH, only those given change."""

    model_config = ConfigDict(extra="forbid")

    subscriber: str | None = Field(None, description="Staff user name or e-mail.")
    channel: Channel | None = None
    target: str | None = Field(None, description="URL, e-mail address or MQTT topic.")
    secret: str | None = Field(
        None, description="Write-only: webhook HMAC key or robot sign secret; null removes it."
    )
    enterprise_ids: list[int] | None = Field(None, description="Empty: every enterprise.")
    districts: list[str] | None = None
    pollutants: list[str] | None = Field(None, description="HJ 212 codes; empty: all.")
    kinds: list[CaseKind] | None = None
    min_severity: Severity | None = None
    max_per_hour: int | None = Field(None, ge=1, le=10_000)
    digest_after: int | None = Field(None, ge=1, le=10_000)
    cases: bool | None = Field(None, description="Case notifications (default true).")
    system_alerts: bool | None = Field(
        None,
        description="System alerts (default false); staff only: the subscriber must be an "
        "active staff user's name. The case filters do not apply to them.",
    )
    system_alert_kinds: list[AlertKind] | None = Field(
        None, description="Only these kinds of system alert; empty: every kind."
    )


class NewSubscription(SubscriptionChanges):
    subscriber: str = Field(description="Staff user name or e-mail.")
    channel: Channel
    target: str = Field(description="URL, e-mail address or MQTT topic.")


class SubscriptionOut(BaseModel):
    id: int
    subscriber: str
    channel: Channel
    target: str
    secret_set: bool = Field(description="Whether a secret is stored (it is never returned).")
    enterprise_ids: list[int]
    districts: list[str]
    pollutants: list[str]
    kinds: list[CaseKind]
    min_severity: Severity
    max_per_hour: int
    digest_after: int | None
    cases: bool
    system_alerts: bool
    system_alert_kinds: list[AlertKind]
    active: bool
    created: Instant


class Deactivated(BaseModel):
    subscription: SubscriptionOut
    pending_cancelled: int = Field(description="Pending notifications cancelled.")


def _out(s: Subscription) -> SubscriptionOut:
    fields = s.public()
    created = fields.pop("created_at")
    return SubscriptionOut.model_validate({**fields, "created": instant(created)})


def _defaults(body: NewSubscription) -> dict[str, Any]:
    given = body.model_dump(exclude_unset=True)
    return {k: v for k, v in given.items() if v is not None or k in ("secret", "digest_after")}


def _changes(body: SubscriptionChanges) -> dict[str, Any]:
    """The fields given; null is "remove" for ``secret`` and ``digest_after`` only."""
    given = body.model_dump(exclude_unset=True)
    nullable = ("secret", "digest_after")
    if bad := sorted(k for k, v in given.items() if v is None and k not in nullable):
        raise SubscriptionError(f"{', '.join(bad)}: null is not a value here")
    return given


@router.get("", response_model=Page[SubscriptionOut], summary="List subscriptions (admin)")
def list_all(
    user: Admin,
    db: Db,
    request: Request,
    include_inactive: Annotated[bool, Query(description="Also deactivated ones.")] = False,
    subscriber: Annotated[
        str | None, Query(max_length=200, description="Only this subscriber's.")
    ] = None,
) -> Response:
    """In id order, active ones unless asked; secrets are never returned."""
    found = db.call(
        lambda conn: list_subscriptions(
            conn, subscriber=subscriber, include_inactive=include_inactive
        )
    )
    results = [_out(s) for s in found]
    meta = Meta(page=1, limit=max(len(results), 1), found=len(results), next=None)
    return private_json(Page[SubscriptionOut](meta=meta, results=results))


@router.get(
    "/{subscription_id}",
    response_model=SubscriptionOut,
    responses=NOT_FOUND_RESPONSE,
    summary="One subscription (admin)",
)
def get_one(user: Admin, db: Db, subscription_id: SubscriptionId) -> Response:
    return private_json(_out(db.call(lambda conn: get_subscription(conn, subscription_id))))


@router.post(
    "",
    response_model=SubscriptionOut,
    status_code=201,
    summary="Subscribe someone to cases or system alerts (admin)",
)
def create(user: Admin, db: Db, request: Request, body: NewSubscription) -> Response:
    """Filters are lists (empty: everything); a webhook needs a secret, e-mail, MQTT and WeCom
    take none; an http(s) target must resolve to global addresses (unless the server allows
    private ones); a bad field is 422 naming it."""
    values = _defaults(body)
    allow = request.app.state.settings.notify_allow_private_targets

    def run(conn: psycopg.Connection[Any]) -> Subscription:
        new_id = add_subscription(conn, **values, actor=user.username, allow_private_targets=allow)
        return get_subscription(conn, new_id)

    return private_json(_out(db.call(run)), status_code=201)


@router.patch(
    "/{subscription_id}",
    response_model=SubscriptionOut,
    responses=NOT_FOUND_RESPONSE,
    summary="Change a subscription (admin)",
)
def update(
    user: Admin,
    db: Db,
    request: Request,
    subscription_id: SubscriptionId,
    body: SubscriptionChanges,
) -> Response:
    """Change the fields given; omit ``secret`` to keep it, ``null`` removes it."""
    values = _changes(body)
    allow = request.app.state.settings.notify_allow_private_targets
    changed = db.call(
        lambda conn: update_subscription(
            conn, subscription_id, values, actor=user.username, allow_private_targets=allow
        )
    )
    return private_json(_out(changed))


@router.post(
    "/{subscription_id}/deactivate",
    response_model=Deactivated,
    responses=NOT_FOUND_RESPONSE,
    summary="Stop a subscription (admin)",
)
def deactivate(user: Admin, db: Db, subscription_id: SubscriptionId) -> Response:
    """Its pending notifications are cancelled; deactivating twice changes nothing."""

    def run(conn: psycopg.Connection[Any]) -> tuple[int, Subscription]:
        cancelled = deactivate_subscription(conn, subscription_id, actor=user.username)
        return cancelled, get_subscription(conn, subscription_id)

    cancelled, subscription = db.call(run)
    return private_json(Deactivated(subscription=_out(subscription), pending_cancelled=cancelled))
