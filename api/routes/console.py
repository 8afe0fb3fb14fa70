"""``/staff/``: the staff console, server-rendered pages for people (not in the OpenAPI schema).

* ``/staff/login`` — user name and password (:mod:`schemas.staff.passwords`); a good login
  starts a server-side session (:mod:`schemas.staff.sessions`) held in the ``sw_session``
  cookie (HttpOnly, SameSite=Lax, Secure over https or with ``SOURCEWATCH_STAFF_COOKIE_SECURE``).
  A wrong user name or password gets one uniform answer (401); after too many failures for the
  user name or the client address, attempts are refused (429) before any password is checked.
  ``POST /staff/logout`` ends the session.
* ``/staff/`` — the case inbox, filtered by kind, severity, district, state and "assigned to
  me", kept live by ``console.js`` from the staff alert stream;
* ``/staff/cases/{id}`` — the case: hourly means against the limit (inline SVG, and a table
  with each hour's status: the running hour 进行中 / in progress, not invalid, by
  :mod:`schemas.core.periods` as in the API), the judged periods, raw values with their flags,
  the history, and forms to acknowledge, assign, comment, record a reply and close, each
  calling :mod:`schemas.cases.workflow` (the same audited functions as the staff API), and the
  evidence bundle's link.

Every form carries the session's CSRF token (synchronizer token; the login form a
double-submit cookie); a POST without it is refused with 403 and changes nothing. Pages need a
session (else a redirect to the login page); an action needs its role (else 403).
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

import psycopg
from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.datastructures import FormData

from api.auth import SESSION_COOKIE, session_of
from api.console import chart as charts
from api.console import label, lang_of, page
from api.console.access import (
    ConsoleResponse,
    Form,
    checked_form,
    client_ip,
    console_session,
    form_text,
    message,
    secure_cookies,
    send_response,
    settings_of,
)
from api.db import Database, fetch_rows, get_database
from api.params import reject_nul
from api.queries import case_data
from api.queries import cases as case_queries
from api.queries import enterprises as enterprise_queries
from api.queries import pollutants as pollutant_queries
from schemas.cases import workflow
from schemas.cases.errors import CaseNotFound, InvalidTransition
from schemas.cases.kinds import CASE_KINDS, SEVERITIES
from schemas.core.periods import period_in_progress
from schemas.staff.accounts import list_staff_users
from schemas.staff.passwords import check_password
from schemas.staff.sessions import (
    Session,
    Throttle,
    clear_failures,
    end_session,
    record_failure,
    start_session,
    throttled,
)

__all__ = ["ConsoleResponse", "router", "send_response"]

router = APIRouter(prefix="/staff", include_in_schema=False, dependencies=[Depends(reject_nul)])

LOGIN_CSRF_COOKIE = "sw_login_csrf"
PAGE_SIZE = 50
MARGIN = timedelta(hours=12)  # the case page shows data this long before and after the case


# --- Login and logout ----------------------------------------------------------------------------


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/staff/") and not target.startswith("//"):
        return target
    return "/staff/"


def _login_page(
    request: Request,
    *,
    status: int = 200,
    error: str | None = None,
    username: str = "",
    next_url: str = "/staff/",
    headers: dict[str, str] | None = None,
) -> Response:
    token = secrets.token_urlsafe(32)
    response = page(
        request,
        "login.html",
        status_code=status,
        headers=headers,
        login_csrf=token,
        error=error,
        username=username,
        next=next_url,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",  # not a credential: only the session must be
        path="/staff/login",
        max_age=3600,
    )
    return response


@router.get("/login", response_class=HTMLResponse)
def loginread_form(
    request: Request, next: Annotated[str | None, Query(max_length=500)] = None
) -> Response:
    if session_of(request) is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    return _login_page(request, next_url=_safe_next(next))


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, form: Form, db: Annotated[Database, Depends(get_database)]) -> Response:
    lang = lang_of(request)
    expected = request.cookies.get(LOGIN_CSRF_COOKIE)
    given = form_text(form, "csrf")
    if not expected or not given or not csrf_matches_plain(expected, given):
        return message(request, None, 403, label("forbidden", lang), label("csrf_refused", lang))
    username = form_text(form, "username").strip()[:200]
    password = form_text(form, "password")
    next_url = _safe_next(form_text(form, "next"))
    settings = settings_of(request)
    throttle = Throttle(
        per_user=settings.staff_login_failures_per_user,
        per_ip=settings.staff_login_failures_per_ip,
        window=timedelta(minutes=settings.staff_login_window_minutes),
    )
    ip = client_ip(request)

    def attempt(conn: psycopg.Connection[Any]) -> tuple[str, str | Session]:
        if throttled(conn, username, ip, throttle):
            return "throttled", ""
        user = check_password(conn, username, password) if username and password else None
        if user is None:
            record_failure(conn, username, ip)
            return "failed", ""
        clear_failures(conn, username)
        lifetime = timedelta(hours=settings.staff_session_hours)
        value, session = start_session(
            conn, user, lifetime, client_ip=ip, user_agent=request.headers.get("user-agent")
        )
        return value, session

    outcome, session = db.call(attempt)
    if outcome == "throttled":
        minutes = settings.staff_login_window_minutes
        return _login_page(
            request,
            status=429,
            error=label("login_throttled", lang, minutes=minutes),
            username=username,
            next_url=next_url,
            headers={"Retry-After": str(minutes * 60)},
        )
    if outcome == "failed":
        return _login_page(
            request,
            status=401,
            error=label("login_failed", lang),
            username=username,
            next_url=next_url,
        )
    assert isinstance(session, Session)
    response = RedirectResponse(next_url, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        outcome,
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request),
        path="/",
        max_age=settings.staff_session_hours * 3600,
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/staff/login")
    return response


def csrf_matches_plain(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode(), given.encode())


@router.post("/logout")
def logout(
    request: Request, form: Form, db: Annotated[Database, Depends(get_database)]
) -> Response:
    checked_form(request, form, "viewer")
    value = request.cookies.get(SESSION_COOKIE, "")
    db.call(lambda conn: end_session(conn, value))
    response = RedirectResponse("/staff/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# --- The case inbox ------------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def inbox(
    request: Request,
    session: Annotated[Session, Depends(console_session("viewer"))],
    db: Annotated[Database, Depends(get_database)],
    kind: Annotated[str | None, Query(max_length=20)] = None,
    severity: Annotated[str | None, Query(max_length=20)] = None,
    district: Annotated[str | None, Query(max_length=100)] = None,
    state: Annotated[str | None, Query(max_length=10)] = None,
    mine: Annotated[str | None, Query(max_length=1)] = None,
    page_number: Annotated[int, Query(alias="page", ge=1, le=10_000)] = 1,
) -> Response:
    """Cases newest first, filtered; the table updates itself from the alert stream."""
    f = case_queries.CaseFilter(
        kind=kind if kind in CASE_KINDS else None,
        severity=severity if severity in SEVERITIES else None,
        district=district or None,
        state=state if state in ("open", "closed") else None,
        assigned_to=session.user.username if mine else None,
        staff=True,
    )
    counted, rows, districts = db.run(
        case_queries.count(f),
        case_queries.select(f, PAGE_SIZE, (page_number - 1) * PAGE_SIZE),
        enterprise_queries.districts(),
    )
    found = int(counted[0]["found"])
    lang = lang_of(request)
    base = {
        "kind": f.kind,
        "severity": f.severity,
        "district": f.district,
        "state": f.state,
        "mine": "1" if mine else None,
    }

    def url(number: int) -> str:
        return "/staff/?" + urlencode({k: v for k, v in {**base, "page": number}.items() if v})

    keys = [f"kind_{k}" for k in CASE_KINDS] + [f"severity_{s}" for s in SEVERITIES]
    keys += ["state_open", "state_closed", "acknowledged"]
    return page(
        request,
        "inbox.html",
        user=session.user,
        csrf=session.csrf_token,
        f=f,
        mine=bool(mine),
        kinds=CASE_KINDS,
        severities=SEVERITIES,
        districts=[r["district"] for r in districts],
        cases=rows,
        found=found,
        page_number=page_number,
        previous_url=url(page_number - 1) if page_number > 1 else None,
        next_url=url(page_number + 1) if page_number * PAGE_SIZE < found else None,
        js_labels={k: label(k, lang) for k in keys},
    )


# --- One case ------------------------------------------------------------------------------------


def _case_page(
    request: Request,
    session: Session,
    db: Database,
    case_id: int,
    *,
    status: int = 200,
    done: str | None = None,
    error: str | None = None,
) -> Response:
    now = datetime.now(UTC)  # the clock of in_progress (schemas.core.periods)
    with db.connection() as conn:
        found = fetch_rows(conn, case_queries.one(case_id, staff=True))
        if not found:
            lang = lang_of(request)
            return message(request, session, 404, label("not_found", lang), f"#{case_id}")
        case = found[0]
        events = fetch_rows(conn, case_queries.events(case_id, staff=True))
        periods = fetch_rows(conn, case_queries.periods(case_id))
        start, end = (
            case["first_at"] - MARGIN,
            case["last_at"] + MARGIN + timedelta(days=1 if case["period"] == "day" else 0, hours=1),
        )
        means: list[dict[str, Any]] = []
        raw: list[dict[str, Any]] = []
        if case["pollutant"]:
            means = fetch_rows(
                conn,
                case_data.hourly_means(case["outlet_id"], case["pollutant"], start, end, now),
            )
            raw = fetch_rows(
                conn, case_data.raw_values(case["outlet_id"], case["pollutant"], start, end)
            )
        units = (
            fetch_rows(conn, pollutant_queries.one(case["pollutant"])) if case["pollutant"] else []
        )
        users = [u.username for u in list_staff_users(conn) if u.active]
    lang = lang_of(request)
    unit = ""
    if units:
        unit = (units[0]["unit_en"] if lang == "en" else units[0]["unit_zh"]) or ""
    limit = periods[-1]["limit_value"] if periods else None
    for p in periods:  # a judged period not ended yet: its mean's validity is not final
        p["in_progress"] = period_in_progress(
            p["period_start"], case["period"], p["outlet_timezone"], now
        )
    return page(
        request,
        "case.html",
        status_code=status,
        user=session.user,
        csrf=session.csrf_token,
        c=case,
        events=events,
        periods=periods,
        chart=charts.draw(means, limit, start, end),
        means=means,
        limit=limit,
        unit=unit,
        raw=raw,
        raw_max=case_data.RAW_ROWS,
        margin_hours=int(MARGIN.total_seconds() // 3600),
        staff_users=users,
        can_act=session.user.has("enforcement"),
        done=done,
        error=error,
    )


CaseId = Annotated[int, Path(ge=1, le=2**63 - 1)]


@router.get("/cases/{case_id}", response_class=HTMLResponse)
def case_page(
    request: Request,
    session: Annotated[Session, Depends(console_session("viewer"))],
    db: Annotated[Database, Depends(get_database)],
    case_id: CaseId,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    shown = done if done in _ACTIONS else None
    return _case_page(request, session, db, case_id, done=shown)


def _acknowledge(conn: psycopg.Connection[Any], case_id: int, actor: str, form: FormData) -> object:
    return workflow.acknowledge(conn, case_id, actor, form_text(form, "note") or None)


def _assign(conn: psycopg.Connection[Any], case_id: int, actor: str, form: FormData) -> object:
    assignee = form_text(form, "assignee").strip()
    if not fetch_rows(conn, case_queries.active_staff_user(assignee)):
        raise InvalidTransition(case_id, "assign", f"no active staff user {assignee!r}")
    return workflow.assign(conn, case_id, actor, assignee)


def _comment(conn: psycopg.Connection[Any], case_id: int, actor: str, form: FormData) -> object:
    return workflow.comment(conn, case_id, actor, form_text(form, "text"))


def _close(conn: psycopg.Connection[Any], case_id: int, actor: str, form: FormData) -> object:
    return workflow.close(conn, case_id, actor, form_text(form, "reason"))


def _reply(conn: psycopg.Connection[Any], case_id: int, actor: str, form: FormData) -> object:
    return workflow.record_reply(
        conn,
        case_id,
        actor,
        form_text(form, "text"),
        on_behalf_of_enterprise=not form_text(form, "regulator"),
    )


_ACTIONS: dict[str, Callable[[psycopg.Connection[Any], int, str, FormData], object]] = {
    "acknowledge": _acknowledge,
    "assign": _assign,
    "comment": _comment,
    "close": _close,
    "reply": _reply,
}


@router.post("/cases/{case_id}/{action}", response_class=HTMLResponse)
def case_action(
    request: Request,
    form: Form,
    db: Annotated[Database, Depends(get_database)],
    case_id: CaseId,
    action: Annotated[str, Path(max_length=20)],
) -> Response:
    """One action of :mod:`schemas.cases.workflow` (enforcement), then back to the case page;
    a refused action shows the case again with the reason (409), having changed nothing."""
    session = checked_form(request, form, "enforcement")
    act = _ACTIONS.get(action)
    if act is None:
        lang = lang_of(request)
        return message(request, session, 404, label("not_found", lang), action)
    try:
        db.call(lambda conn: act(conn, case_id, session.user.username, form))
    except CaseNotFound:
        lang = lang_of(request)
        return message(request, session, 404, label("not_found", lang), f"#{case_id}")
    except InvalidTransition as exc:
        return _case_page(request, session, db, case_id, status=409, error=exc.reason)
    return RedirectResponse(f"/staff/cases/{case_id}?done={action}", status_code=303)
