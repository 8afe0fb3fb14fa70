"""``/staff/admin/…``: the console's administration pages (admins only; 403 for anyone else).

* ``registry`` — upload a registry file (CSV or JSON, as ``sourcewatch registry import``): with
  any bad row every row error is listed and nothing is imported (422); ``outlet?mn=`` changes
  one outlet and its enterprise in forms generated from the registry's models (the MN, the
  limit binding and the password excepted: the password has its own input, never shown back);
* ``limits`` — the known standards and categories, an outlet's limits in force, bindings and
  permit-limit versions (``?mn=``), binding an outlet to a category, importing permit limits
  (every bad row listed, nothing imported);
* ``subscriptions`` — who is told what; created with a secret that is never shown again
  (the list says only whether one is set, and a robot URL's credential is masked); changed on
  its own page (an empty target or secret keeps the stored one); deactivated;
* ``users`` — staff users and roles, a console password, deactivation, a new API token
  shown once, and each user's usable tokens (label, dates, never the token) with a revoke
  button each.

Each page calls the same audited functions as the CLI and the staff API
(:mod:`schemas.registry.changes`, :mod:`schemas.limits.changes`, :mod:`schemas.subscriptions`,
:mod:`schemas.staff.accounts`, :mod:`schemas.staff.passwords`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import PurePath
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import HTMLResponse
from starlette.datastructures import FormData, UploadFile

from api.console import label, page
from api.console.access import (
    Form,
    checked_form,
    console_session,
    form_text,
    session_before_body,
)
from api.console.forms import FieldSpec, form_content, model_fields, values_of
from api.db import Database, get_database
from api.params import reject_nul
from api.routes.console_disclosures import at_most
from api.routes.staff_limits import MAX_LIMITS_BYTES
from api.routes.staff_registry import MAX_REGISTRY_BYTES
from schemas.cases.kinds import CASE_KINDS, SEVERITIES
from schemas.core.localtime import LOCAL_TZ
from schemas.limits import changes as limit_changes
from schemas.limits import overview
from schemas.limits.rules import LimitsError
from schemas.limits.standards import loaded_categories
from schemas.registry import changes as registry_changes
from schemas.registry.entries import BINDING_COLUMNS, EnterpriseIn, OutletIn, RegistryError
from schemas.registry.files import parse_registry_bytes
from schemas.staff import accounts
from schemas.staff.passwords import set_password
from schemas.staff.sessions import Session
from schemas.subscriptions import (
    CHANNELS,
    SubscriptionError,
    UnknownSubscription,
    add_subscription,
    deactivate_subscription,
    get_subscription,
    list_subscriptions,
    update_subscription,
)
from schemas.system_alerts import ALERT_KINDS

__all__ = ["router"]

router = APIRouter(
    prefix="/staff/admin",
    include_in_schema=False,
    dependencies=[Depends(reject_nul), Depends(session_before_body)],
)
Admin = Annotated[Session, Depends(console_session("admin"))]
Db = Annotated[Database, Depends(get_database)]


def _upload(form: FormData) -> tuple[bytes, str] | None:
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return None
    return upload.file.read(), PurePath(upload.filename).name


def _errors(rows: Any) -> list[dict[str, Any]]:
    return [{"row": e.row, "field": e.field or "", "message": e.message} for e in rows]


# --- Registry -----------------------------------------------------------------------------------


def _registry_page(
    request: Request, session: Session, *, status: int = 200, **result: Any
) -> Response:
    result.setdefault("errors", [])
    result.setdefault("report", None)
    result.setdefault("problem", None)
    return page(
        request,
        "admin_registry.html",
        status_code=status,
        user=session.user,
        csrf=session.csrf_token,
        max_mb=MAX_REGISTRY_BYTES // 2**20,
        **result,
    )


@router.get("/registry", response_class=HTMLResponse)
def registry_form(request: Request, session: Admin) -> Response:
    return _registry_page(request, session)


@router.post(
    "/registry", response_class=HTMLResponse, dependencies=[Depends(at_most(MAX_REGISTRY_BYTES))]
)
def registry_upload(request: Request, form: Form, db: Db) -> Response:
    """Validate the whole file first: with any bad row, list them all and import nothing."""
    session = checked_form(request, form, "admin")
    upload = _upload(form)
    if upload is None:
        return _registry_page(request, session, status=422, problem="file")
    data, name = upload
    try:
        parsed = parse_registry_bytes(data, PurePath(name))
    except RegistryError as exc:
        return _registry_page(request, session, status=422, problem=str(exc))
    if parsed.errors:
        return _registry_page(request, session, status=422, errors=_errors(parsed.errors))
    try:
        report = db.call(
            lambda conn: registry_changes.import_registry_audited(
                conn, parsed.enterprises, actor=session.user.username, filename=name
            )
        )
    except RegistryError as exc:
        return _registry_page(request, session, status=422, problem=str(exc))
    return _registry_page(request, session, report=report)


# --- One enterprise and outlet -----------------------------------------------------------------

# Not edited here: the MN (the page's key), the password (its own input, never shown back) and
# the binding to a limit category (the limits page).
_OUTLET_FIXED = ("mn", "password", *BINDING_COLUMNS)


def _labelled(specs: list[FieldSpec]) -> list[FieldSpec]:
    return [
        dataclasses.replace(
            f,
            label_zh=label(f"registry_field_{f.name}", "zh"),
            label_en=label(f"registry_field_{f.name}", "en"),
        )
        for f in specs
    ]


def _enterprise_fields() -> list[FieldSpec]:
    return _labelled(model_fields(EnterpriseIn, exclude=("outlets",)))


def _outlet_fields() -> list[FieldSpec]:
    return _labelled(model_fields(OutletIn, exclude=_OUTLET_FIXED))


def _outlet_page(
    request: Request,
    session: Session,
    db: Database,
    mn: str,
    *,
    status: int = 200,
    problem: str | None = None,
    done: str | None = None,
) -> Response:
    entry = db.call(lambda conn: registry_changes.registry_entry(conn, mn))
    if entry is None:
        return _registry_page(request, session, status=404, problem=f"no outlet with MN {mn}")
    enterprise, outlet = entry
    return page(
        request,
        "admin_outlet.html",
        status_code=status,
        user=session.user,
        csrf=session.csrf_token,
        mn=mn,
        enterprise_fields=_enterprise_fields(),
        outlet_fields=_outlet_fields(),
        enterprise=values_of(enterprise),
        outlet=values_of(outlet),
        password_set=outlet["password_set"],
        problem=problem,
        done=done,
    )


OutletMn = Annotated[str, Query(min_length=1, max_length=64)]


@router.get("/outlet", response_class=HTMLResponse)
def outlet_form(request: Request, session: Admin, db: Db, mn: OutletMn) -> Response:
    return _outlet_page(request, session, db, mn.strip())


def _registry_change(
    request: Request,
    form: FormData,
    db: Database,
    mn: str,
    done: str,
    change: Callable[[psycopg.Connection[Any], dict[str, Any], dict[str, Any], str], None],
) -> Response:
    session = checked_form(request, form, "admin")
    entry = db.call(lambda conn: registry_changes.registry_entry(conn, mn))
    if entry is None:
        return _registry_page(request, session, status=404, problem=f"no outlet with MN {mn}")
    try:
        db.call(lambda conn: change(conn, *entry, session.user.username))
    except RegistryError as exc:
        return _outlet_page(request, session, db, mn, status=422, problem=str(exc))
    return _outlet_page(request, session, db, mn, done=done)


@router.post("/outlet/enterprise", response_class=HTMLResponse)
def enterprise_change(request: Request, form: Form, db: Db, mn: OutletMn) -> Response:
    """Change the fields given of the outlet's enterprise (an empty field keeps its value)."""

    def change(
        conn: psycopg.Connection[Any], enterprise: dict[str, Any], _: dict[str, Any], actor: str
    ) -> None:
        values = form_content(form, _enterprise_fields())
        registry_changes.update_enterprise(conn, enterprise["id"], values, actor=actor)

    return _registry_change(request, form, db, mn.strip(), "enterprise_changed", change)


@router.post("/outlet", response_class=HTMLResponse)
def outlet_change(request: Request, form: Form, db: Db, mn: OutletMn) -> Response:
    """Change the fields given of the outlet (an empty field keeps its value; the password
    only when one is typed)."""

    def change(
        conn: psycopg.Connection[Any], _: dict[str, Any], outlet: dict[str, Any], actor: str
    ) -> None:
        values = form_content(form, _outlet_fields())
        if password := form_text(form, "pw"):
            values["password"] = password
        registry_changes.update_outlet(conn, outlet["id"], values, actor=actor)

    return _registry_change(request, form, db, mn.strip(), "outlet_changed", change)


# --- Limits -------------------------------------------------------------------------------------


def _limits_page(
    request: Request,
    session: Session,
    db: Database,
    mn: str | None,
    *,
    status: int = 200,
    **result: Any,
) -> Response:
    today = datetime.now(LOCAL_TZ).date()

    def read(conn: psycopg.Connection[Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"categories": list(loaded_categories(conn).values())}
        out["outlet"] = None
        if mn:
            try:
                outlet_id, kind = overview.find_outlet(conn, mn)
            except LimitsError as exc:
                out["lookup_error"] = str(exc)
                return out
            out["outlet"] = {"id": outlet_id, "kind": kind, "mn": mn}
            out["in_force"] = overview.in_force(conn, outlet_id, today)
            out["bindings"] = overview.bindings(conn, outlet_id)
            out["versions"] = overview.outlet_limit_versions(conn, outlet_id)
        return out

    found = db.call(read)
    found.setdefault("lookup_error", None)
    result.setdefault("errors", [])
    result.setdefault("problem", None)
    result.setdefault("imported", None)
    result.setdefault("bound", None)
    return page(
        request,
        "admin_limits.html",
        status_code=status,
        user=session.user,
        csrf=session.csrf_token,
        mn=mn or "",
        today=today,
        max_mb=MAX_LIMITS_BYTES // 2**20,
        **found,
        **result,
    )


@router.get("/limits", response_class=HTMLResponse)
def limits(
    request: Request, session: Admin, db: Db, mn: Annotated[str | None, Query(max_length=64)] = None
) -> Response:
    return _limits_page(request, session, db, (mn or "").strip() or None)


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        return None


@router.post("/limits/bind", response_class=HTMLResponse)
def bind(request: Request, form: Form, db: Db) -> Response:
    session = checked_form(request, form, "admin")
    mn = form_text(form, "mn").strip()
    valid_from = _day(form_text(form, "valid_from"))
    valid_to = _day(form_text(form, "valid_to")) if form_text(form, "valid_to").strip() else None
    source = form_text(form, "source").strip()
    if valid_from is None or not source:
        problem = "valid_from (YYYY-MM-DD) and source are required"
        return _limits_page(request, session, db, mn, status=422, problem=problem)
    try:
        db.call(
            lambda conn: limit_changes.bind(
                conn,
                mn,
                form_text(form, "standard"),
                form_text(form, "category"),
                valid_from,
                source,
                actor=session.user.username,
                valid_to=valid_to,
            )
        )
    except LimitsError as exc:
        return _limits_page(request, session, db, mn, status=422, problem=str(exc))
    return _limits_page(request, session, db, mn, bound=True)


@router.post(
    "/limits/import", response_class=HTMLResponse, dependencies=[Depends(at_most(MAX_LIMITS_BYTES))]
)
def import_limits(request: Request, form: Form, db: Db) -> Response:
    session = checked_form(request, form, "admin")
    upload = _upload(form)
    if upload is None:
        return _limits_page(request, session, db, None, status=422, problem="file")
    data, name = upload
    try:
        result = db.call(
            lambda conn: limit_changes.import_limits(
                conn, data, actor=session.user.username, filename=name
            )
        )
    except LimitsError as exc:
        return _limits_page(request, session, db, None, status=422, problem=str(exc))
    if not result.ok:
        return _limits_page(request, session, db, None, status=422, errors=_errors(result.errors))
    return _limits_page(request, session, db, None, imported=result)


# --- Subscriptions ------------------------------------------------------------------------------


def _subscriptions_page(
    request: Request,
    session: Session,
    db: Database,
    *,
    status: int = 200,
    problem: str | None = None,
    done: str | None = None,
) -> Response:
    return page(
        request,
        "admin_subscriptions.html",
        status_code=status,
        user=session.user,
        csrf=session.csrf_token,
        subscriptions=[
            s.public()
            for s in db.call(lambda conn: list_subscriptions(conn, include_inactive=True))
        ],
        channels=CHANNELS,
        kinds=CASE_KINDS,
        alert_kinds=ALERT_KINDS,
        severities=SEVERITIES,
        problem=problem,
        done=done,
    )


@router.get("/subscriptions", response_class=HTMLResponse)
def subscriptions(request: Request, session: Admin, db: Db) -> Response:
    return _subscriptions_page(request, session, db)


def _list(form: FormData, name: str) -> list[str]:
    return [v for v in form.getlist(name) if isinstance(v, str) and v.strip()]


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


@router.post("/subscriptions", response_class=HTMLResponse)
def subscribe(request: Request, form: Form, db: Db) -> Response:
    session = checked_form(request, form, "admin")
    try:
        db.call(
            lambda conn: add_subscription(
                conn,
                subscriber=form_text(form, "subscriber").strip(),
                channel=form_text(form, "channel"),
                target=form_text(form, "target").strip(),
                secret=form_text(form, "secret") or None,
                districts=_csv(form_text(form, "districts")),
                pollutants=_csv(form_text(form, "pollutants")),
                kinds=_list(form, "kinds"),
                min_severity=form_text(form, "min_severity") or "info",
                cases=bool(form_text(form, "cases")),
                system_alerts=bool(form_text(form, "system_alerts")),
                system_alert_kinds=_list(form, "system_alert_kinds"),
                actor=session.user.username,
                allow_private_targets=_allow_private(request),
            )
        )
    except SubscriptionError as exc:
        return _subscriptions_page(request, session, db, status=422, problem=str(exc))
    return _subscriptions_page(request, session, db, done="subscription_added")


def _allow_private(request: Request) -> bool:
    allow: bool = request.app.state.settings.notify_allow_private_targets
    return allow


SubscriptionId = Annotated[int, Path(ge=1, le=2**63 - 1)]


def _subscription_page(
    request: Request,
    session: Session,
    db: Database,
    subscription_id: int,
    *,
    status: int = 200,
    problem: str | None = None,
    done: str | None = None,
) -> Response:
    try:
        shown = db.call(lambda conn: get_subscription(conn, subscription_id)).public()
    except SubscriptionError as exc:
        return _subscriptions_page(request, session, db, status=404, problem=str(exc))
    return page(
        request,
        "admin_subscription.html",
        status_code=status,
        user=session.user,
        csrf=session.csrf_token,
        s=shown,
        channels=CHANNELS,
        kinds=CASE_KINDS,
        alert_kinds=ALERT_KINDS,
        severities=SEVERITIES,
        problem=problem,
        done=done,
    )


@router.get("/subscriptions/{subscription_id}", response_class=HTMLResponse)
def subscription(
    request: Request, session: Admin, db: Db, subscription_id: SubscriptionId
) -> Response:
    return _subscription_page(request, session, db, subscription_id)


def _optional_int(form: FormData, name: str) -> int | None:
    text = form_text(form, name).strip()
    if not text:
        return None
    if not text.isdigit() or len(text) > 9:
        raise SubscriptionError(f"{name}: a whole number, got {text[:20]!r}")
    return int(text)


@router.post("/subscriptions/{subscription_id}", response_class=HTMLResponse)
def change_subscription(
    request: Request, form: Form, db: Db, subscription_id: SubscriptionId
) -> Response:
    """Change a subscription. The target and the secret are never shown back: an empty target
    or secret keeps the stored one; ``remove_secret`` removes the secret."""
    session = checked_form(request, form, "admin")
    try:
        changes: dict[str, Any] = {
            "subscriber": form_text(form, "subscriber").strip(),
            "channel": form_text(form, "channel"),
            "districts": _csv(form_text(form, "districts")),
            "pollutants": _csv(form_text(form, "pollutants")),
            "kinds": _list(form, "kinds"),
            "min_severity": form_text(form, "min_severity") or "info",
            "max_per_hour": _optional_int(form, "max_per_hour") or 30,
            "digest_after": _optional_int(form, "digest_after"),
            "cases": bool(form_text(form, "cases")),
            "system_alerts": bool(form_text(form, "system_alerts")),
            "system_alert_kinds": _list(form, "system_alert_kinds"),
        }
        if target := form_text(form, "target").strip():
            changes["target"] = target
        if form_text(form, "remove_secret"):
            changes["secret"] = None
        elif secret := form_text(form, "secret"):
            changes["secret"] = secret
        db.call(
            lambda conn: update_subscription(
                conn,
                subscription_id,
                changes,
                actor=session.user.username,
                allow_private_targets=_allow_private(request),
            )
        )
    except UnknownSubscription as exc:
        return _subscriptions_page(request, session, db, status=404, problem=str(exc))
    except SubscriptionError as exc:
        return _subscription_page(
            request, session, db, subscription_id, status=422, problem=str(exc)
        )
    return _subscription_page(request, session, db, subscription_id, done="subscription_changed")


@router.post("/subscriptions/{subscription_id}/deactivate", response_class=HTMLResponse)
def unsubscribe(
    request: Request, form: Form, db: Db, subscription_id: Annotated[int, Path(ge=1, le=2**63 - 1)]
) -> Response:
    session = checked_form(request, form, "admin")
    try:
        db.call(
            lambda conn: deactivate_subscription(conn, subscription_id, actor=session.user.username)
        )
    except SubscriptionError as exc:
        return _subscriptions_page(request, session, db, status=404, problem=str(exc))
    return _subscriptions_page(request, session, db, done="subscription_stopped")


# --- Staff users --------------------------------------------------------------------------------


def _users_page(
    request: Request,
    session: Session,
    db: Database,
    *,
    status: int = 200,
    problem: str | None = None,
    done: str | None = None,
    token: str | None = None,
) -> Response:
    users, tokens = db.call(_users_and_tokens)
    return page(
        request,
        "admin_users.html",
        status_code=status,
        user=session.user,
        csrf=session.csrf_token,
        users=users,
        tokens=tokens,
        roles=accounts.ROLES,
        problem=problem,
        done=done,
        token=token,
        token_days=db_settings_days(request),
    )


def _users_and_tokens(
    conn: psycopg.Connection[Any],
) -> tuple[list[accounts.StaffAccount], dict[str, list[accounts.TokenInfo]]]:
    """The staff users, and each active user's tokens that are still usable (not revoked, not
    expired), read on one connection."""
    now = datetime.now(LOCAL_TZ)
    users = accounts.list_staff_users(conn)
    tokens = {
        u.username: [
            t
            for t in accounts.list_tokens(conn, u.username)
            if t.revoked_at is None and (t.expires_at is None or t.expires_at > now)
        ]
        for u in users
        if u.active
    }
    return users, tokens


def db_settings_days(request: Request) -> int:
    days: int = request.app.state.settings.staff_token_days
    return days


@router.get("/users", response_class=HTMLResponse)
def users(request: Request, session: Admin, db: Db) -> Response:
    return _users_page(request, session, db)


def _user_action(
    request: Request,
    form: Form,
    db: Database,
    done: str,
    action: Callable[[psycopg.Connection[Any], Session], str | None],
) -> Response:
    session = checked_form(request, form, "admin")
    try:
        token = db.call(lambda conn: action(conn, session))
    except (ValueError, LookupError) as exc:
        return _users_page(request, session, db, status=422, problem=str(exc))
    return _users_page(request, session, db, done=done, token=token)


@router.post("/users", response_class=HTMLResponse)
def save_user(request: Request, form: Form, db: Db) -> Response:
    def action(conn: psycopg.Connection[Any], session: Session) -> None:
        accounts.add_staff_user(
            conn,
            form_text(form, "username").strip(),
            _list(form, "roles"),
            form_text(form, "display_name").strip() or None,
            actor=session.user.username,
        )
        if password := form_text(form, "password"):
            set_password(
                conn, form_text(form, "username").strip(), password, actor=session.user.username
            )

    return _user_action(request, form, db, "user_saved", action)


@router.post("/users/{username}/password", response_class=HTMLResponse)
def user_password(
    request: Request, form: Form, db: Db, username: Annotated[str, Path(max_length=200)]
) -> Response:
    def action(conn: psycopg.Connection[Any], session: Session) -> None:
        set_password(conn, username, form_text(form, "password"), actor=session.user.username)

    return _user_action(request, form, db, "password_set", action)


@router.post("/users/{username}/token", response_class=HTMLResponse)
def user_token(
    request: Request, form: Form, db: Db, username: Annotated[str, Path(max_length=200)]
) -> Response:
    days = db_settings_days(request)

    def action(conn: psycopg.Connection[Any], session: Session) -> str:
        return accounts.issue_token(
            conn,
            username,
            actor=session.user.username,
            expires_at=timedelta(days=days),
            label=form_text(form, "label").strip() or None,
        )

    return _user_action(request, form, db, "token_issued", action)


@router.post("/users/{username}/deactivate", response_class=HTMLResponse)
def user_deactivate(
    request: Request, form: Form, db: Db, username: Annotated[str, Path(max_length=200)]
) -> Response:
    def action(conn: psycopg.Connection[Any], session: Session) -> None:
        accounts.deactivate_staff_user(conn, username, actor=session.user.username)

    return _user_action(request, form, db, "user_deactivated", action)


@router.post("/tokens/{token_id}/revoke", response_class=HTMLResponse)
def token_revoke(
    request: Request, form: Form, db: Db, token_id: Annotated[int, Path(ge=1, le=2**63 - 1)]
) -> Response:
    def action(conn: psycopg.Connection[Any], session: Session) -> None:
        accounts.revoke_token_id(conn, token_id, actor=session.user.username)

    return _user_action(request, form, db, "token_revoked", action)
