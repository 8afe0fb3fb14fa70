"""``/staff/requests``: requests for information (issue 17) in the staff console, with the roles
of the staff API (:mod:`api.routes.staff_requests`): viewers read, editors act, extending the
time to answer needs the admin role (the approving head, art. 33).

* ``/staff/requests?status=…`` — every request by state, newest first, beside the reminder
  list: open requests overdue or due in the next :data:`DUE_SOON` working days;
* ``/staff/requests/{id}`` — one request: its clock (due day, Asia/Shanghai), answer and
  history (the audit log), and the forms of what can be done now;
* ``POST /staff/requests/{id}/assign|supplement|supplement-received|extend|answer``.

Every action is a function of :mod:`schemas.disclosure.requests` (the same audited path as
the staff API); a refused action shows the request again with the reason (409, 422 for a bad
value).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.datastructures import FormData

from api.console import label, lang_of, page
from api.console.access import (
    Form,
    checked_form,
    console_session,
    form_text,
    message,
    session_before_body,
)
from api.db import Database, get_database
from api.params import reject_nul
from api.queries import audit as audit_queries
from schemas.disclosure import requests as rq
from schemas.disclosure.errors import ContentError, DisclosureError, RequestNotFound
from schemas.disclosure.request_codes import outcomes
from schemas.disclosure.workdays import add_working_days
from schemas.staff.sessions import Session

__all__ = ["router"]

router = APIRouter(
    prefix="/staff/requests",
    include_in_schema=False,
    dependencies=[Depends(reject_nul), Depends(session_before_body)],
)

Viewer = Annotated[Session, Depends(console_session("viewer"))]
RequestId = Annotated[int, Path(ge=1, le=2**63 - 1)]
STATUSES = ("received", "supplement_requested", "answered")
PAGE_SIZE = 100
DUE_SOON = 3  # working days: the reminder list shows open requests due this soon
HISTORY = 200


def _day(value: str) -> dt.date | None:
    """An optional ``YYYY-MM-DD`` field (empty: today, as in the staff API); else 422."""
    try:
        return dt.date.fromisoformat(value.strip()) if value.strip() else None
    except ValueError:
        raise ContentError(
            "request", [{"field": "on", "message": "not a day (YYYY-MM-DD)"}]
        ) from None


@router.get("", response_class=HTMLResponse)
def requests_page(
    request: Request,
    session: Viewer,
    db: Annotated[Database, Depends(get_database)],
    status: Annotated[str | None, Query(max_length=30)] = None,
) -> Response:
    shown = status if status in STATUSES else None
    today = rq.local_today()

    def read(conn: psycopg.Connection[Any]) -> tuple[int, list[rq.Request], list[rq.Request]]:
        found, rows = rq.list_requests(conn, status=shown, limit=PAGE_SIZE, offset=0)
        due = rq.open_requests(conn, due_by=add_working_days(today, DUE_SOON))
        return found, rows, due

    found, rows, due = db.call(read)
    return page(
        request,
        "requests.html",
        user=session.user,
        csrf=session.csrf_token,
        requests=rows,
        found=found,
        due=due,
        due_soon=DUE_SOON,
        today=today,
        status=shown,
        statuses=STATUSES,
    )


def _request_page(
    request: Request,
    session: Session,
    db: Database,
    request_id: int,
    *,
    status: int = 200,
    done: str | None = None,
    error: str | None = None,
) -> Response:
    def read(conn: psycopg.Connection[Any]) -> dict[str, Any]:
        found = rq.get_request(conn, request_id)
        return {
            "r": found,
            "outcomes": outcomes(conn, "answer"),
            "files": rq.attachments(conn, request_id),
        }

    try:
        shown = db.call(read)
    except RequestNotFound:
        lang = lang_of(request)
        return message(request, session, 404, label("not_found", lang), f"#{request_id}")
    history = db.fetch_all(
        audit_queries.audit_select("disclosure_request", str(request_id), None, HISTORY, 0)
    )
    today = rq.local_today()
    r: rq.Request = shown["r"]
    return page(
        request,
        "request.html",
        status_code=status,
        user=session.user,
        csrf=session.csrf_token,
        today=today,
        overdue=r.status == "received" and r.due_on < today,
        late=rq.working_days_late(r, today) if r.status != "supplement_requested" else 0,
        history=history,
        done=done,
        error=error,
        **shown,
    )


Action = Callable[[psycopg.Connection[Any], int, str, FormData], rq.Request]


def _assign(conn: psycopg.Connection[Any], rid: int, actor: str, form: FormData) -> rq.Request:
    return rq.assign(conn, rid, actor=actor, assignee=form_text(form, "assignee").strip())


def _supplement(conn: psycopg.Connection[Any], rid: int, actor: str, form: FormData) -> rq.Request:
    note = form_text(form, "note")
    return rq.request_supplement(conn, rid, actor=actor, note=note, on=_day(form_text(form, "on")))


def _received(conn: psycopg.Connection[Any], rid: int, actor: str, form: FormData) -> rq.Request:
    return rq.supplement_received(conn, rid, actor=actor, on=_day(form_text(form, "on")))


def _extend(conn: psycopg.Connection[Any], rid: int, actor: str, form: FormData) -> rq.Request:
    days = form_text(form, "days").strip()
    return rq.extend(
        conn,
        rid,
        actor=actor,
        days=int(days) if days.isdigit() and len(days) < 4 else 0,
        reason=form_text(form, "reason"),
        on=_day(form_text(form, "on")),
    )


def _answer(conn: psycopg.Connection[Any], rid: int, actor: str, form: FormData) -> rq.Request:
    return rq.answer(
        conn,
        rid,
        actor=actor,
        outcome=form_text(form, "outcome"),
        text=form_text(form, "text"),
        referred_to=form_text(form, "referred_to").strip() or None,
        on=_day(form_text(form, "on")),
    )


# the action, the role it needs (as in the staff API)
ACTIONS: dict[str, tuple[Action, str]] = {
    "assign": (_assign, "editor"),
    "supplement": (_supplement, "editor"),
    "supplement-received": (_received, "editor"),
    "extend": (_extend, "admin"),
    "answer": (_answer, "editor"),
}


@router.get("/{request_id}", response_class=HTMLResponse)
def request_page(
    request: Request,
    session: Viewer,
    db: Annotated[Database, Depends(get_database)],
    request_id: RequestId,
    done: Annotated[str | None, Query(max_length=30)] = None,
) -> Response:
    return _request_page(request, session, db, request_id, done=done if done in ACTIONS else None)


@router.post("/{request_id}/{action}", response_class=HTMLResponse)
def act(
    request: Request,
    form: Form,
    db: Annotated[Database, Depends(get_database)],
    request_id: RequestId,
    action: Annotated[str, Path(max_length=30)],
) -> Response:
    step, role = ACTIONS.get(action, (None, "editor"))
    session = checked_form(request, form, role)
    if step is None:
        return message(request, session, 404, label("not_found", lang_of(request)), action)
    try:
        db.call(lambda conn: step(conn, request_id, session.user.username, form))
    except RequestNotFound:
        lang = lang_of(request)
        return message(request, session, 404, label("not_found", lang), f"#{request_id}")
    except DisclosureError as exc:
        status = 422 if isinstance(exc, ContentError) else 409
        return _request_page(request, session, db, request_id, status=status, error=str(exc))
    return RedirectResponse(f"/staff/requests/{request_id}?done={action}", status_code=303)
