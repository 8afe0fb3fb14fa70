"""``/v1/staff/cases``: staff work cases (authenticated, :mod:`api.auth`).

* ``GET /v1/staff/cases`` (viewer): every kind of case, filtered by ``state``, ``kind``,
  ``severity``, ``enterprise_id``, paged like the public lists (JSON or CSV);
* ``GET /v1/staff/cases/{id}`` (viewer): the case with its full history (actors and details),
  comments and replies;
* ``POST /v1/staff/cases/{id}/acknowledge|assign|comment|close|reply`` (enforcement): the actions
  of :mod:`schemas.cases.workflow`, each appending one audited ``case_events`` row whose actor is
  the token's user; the answer is the case as it is afterwards;
* ``GET /v1/staff/cases/{id}/evidence.zip`` (enforcement): the evidence bundle
  (:mod:`schemas.cases.evidence`), read in one snapshot.

An unknown case is 404, an action the case does not allow now 409 (:mod:`api.errors` maps the
errors of :mod:`schemas.cases.errors`), a bad body 422. Answers are never cached by proxies.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Annotated, Any, Literal

import psycopg
from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints

from api import convert
from api.auth import StaffUser, require_role
from api.db import Database, Row, fetch_rows, get_database
from api.errors import (
    CONFLICT_RESPONSE,
    ERROR_RESPONSES,
    NOT_FOUND_RESPONSE,
    STAFF_RESPONSES,
    InvalidParameter,
    NotFound,
)
from api.params import Format, Pagination, output_format, pagination, reject_nul
from api.queries import cases as queries
from api.render import CSV_RESPONSE, PRIVATE, json_response, private
from api.responses import (
    EnterpriseRef,
    Instant,
    Page,
    StaffOutletRef,
    instant,
    optional_instant,
)
from api.routes.common import list_response
from schemas.cases import workflow
from schemas.cases.evidence import build_evidence
from schemas.cases.kinds import CaseKind, Severity

__all__ = [
    "AcknowledgeBody",
    "AssignBody",
    "CloseBody",
    "CommentBody",
    "ReplyBody",
    "StaffCase",
    "StaffCaseDetail",
    "router",
]

router = APIRouter(
    prefix="/v1/staff/cases",
    tags=["staff"],
    responses={**ERROR_RESPONSES, **STAFF_RESPONSES},
    dependencies=[Depends(reject_nul)],
)

CASE_ID = Path(ge=1, le=2**63 - 1, description="Case id.")
ACTION_RESPONSES: dict[int | str, dict[str, Any]] = {**NOT_FOUND_RESPONSE, **CONFLICT_RESPONSE}

State = Literal["open", "closed"]
Text = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=workflow.MAX_TEXT)
]
Viewer = Annotated[StaffUser, Depends(require_role("viewer"))]
Enforcement = Annotated[StaffUser, Depends(require_role("enforcement"))]
CaseId = Annotated[int, CASE_ID]


# --- Models -------------------------------------------------------------------------------------


class Acknowledgement(BaseModel):
    at: Instant
    by: str | None = Field(description="The staff user who acknowledged the case.")


class StaffCase(BaseModel):
    id: int
    kind: CaseKind
    state: State
    severity: Severity
    subject: str = Field(description="Pattern or fault name; empty for exceedances and outages.")
    pollutant: str = Field(description="HJ 212 code; empty when the case is about the outlet.")
    period: str = Field(description="hour or day for exceedances, else empty.")
    limit_id: int
    outlet: StaffOutletRef
    enterprise: EnterpriseRef
    opened: Instant
    first_at: Instant = Field(description="Start of the first period in the case.")
    last_at: Instant = Field(description="Start of the latest period in the case.")
    escalated: Instant | None
    closed: Instant | None
    close_reason: str | None
    max_multiple: float | None
    acknowledged: Acknowledgement | None
    assigned_to: str | None


class CaseEvent(BaseModel):
    id: int
    at: Instant
    actor: str = Field(description="A staff user name, or 'evaluator' for the machine.")
    action: str
    severity: str | None
    detail: dict[str, Any]


class Comment(BaseModel):
    event_id: int
    at: Instant
    actor: str
    text: str


class Reply(Comment):
    on_behalf_of_enterprise: bool = Field(
        description="The enterprise's explanation (true) or the regulator's answer (false)."
    )


class StaffCaseDetail(StaffCase):
    details: dict[str, Any] = Field(description="What the evaluator recorded with the case.")
    history: list[CaseEvent] = Field(description="Every event, oldest first.")
    comments: list[Comment]
    replies: list[Reply]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AcknowledgeBody(_Body):
    note: Annotated[str, StringConstraints(max_length=workflow.MAX_TEXT)] | None = None


class AssignBody(_Body):
    assignee: Text = Field(description="User name of an active staff user.")


class CommentBody(_Body):
    text: Text


class CloseBody(_Body):
    reason: Text


class ReplyBody(_Body):
    text: Text
    on_behalf_of_enterprise: StrictBool = True


# --- Conversion ---------------------------------------------------------------------------------


def _fields(row: Row) -> dict[str, Any]:
    acknowledged = row["acknowledged_at"]
    return {
        "id": row["id"],
        "kind": row["kind"],
        "state": row["state"],
        "severity": row["severity"],
        "subject": row["subject"],
        "pollutant": row["pollutant"],
        "period": row["period"],
        "limit_id": row["limit_id"],
        "outlet": convert.staff_outlet_ref(row),
        "enterprise": convert.enterprise_ref(row),
        "opened": instant(row["opened_at"]),
        "first_at": instant(row["first_at"]),
        "last_at": instant(row["last_at"]),
        "escalated": optional_instant(row["escalated_at"]),
        "closed": optional_instant(row["closed_at"]),
        "close_reason": row["close_reason"],
        "max_multiple": convert.number(row["max_multiple"]),
        "acknowledged": None
        if acknowledged is None
        else Acknowledgement(at=instant(acknowledged), by=row["acknowledged_by"]),
        "assigned_to": row["assigned_to"],
    }


def summary(row: Row) -> StaffCase:
    return StaffCase(**_fields(row))


def detail(row: Row, events: list[Row]) -> StaffCaseDetail:
    history = [
        CaseEvent(
            id=e["id"],
            at=instant(e["at"]),
            actor=e["actor"],
            action=e["action"],
            severity=e["severity"],
            detail=e["detail"] or {},
        )
        for e in events
    ]
    comments = [
        Comment(event_id=e.id, at=e.at, actor=e.actor, text=str(e.detail.get("text", "")))
        for e in history
        if e.action == "commented"
    ]
    replies = [
        Reply(
            event_id=e.id,
            at=e.at,
            actor=e.actor,
            text=str(e.detail.get("text", "")),
            on_behalf_of_enterprise=bool(e.detail.get("on_behalf_of_enterprise", True)),
        )
        for e in history
        if e.action == "replied"
    ]
    return StaffCaseDetail(
        **_fields(row),
        details=row["details"] or {},
        history=history,
        comments=comments,
        replies=replies,
    )


def _read(conn: psycopg.Connection[Any], case_id: int) -> StaffCaseDetail:
    found = fetch_rows(conn, queries.one(case_id, staff=True))
    if not found:
        raise NotFound(f"case {case_id} does not exist", parameter="case_id")
    return detail(found[0], fetch_rows(conn, queries.events(case_id, staff=True)))


def _act(
    db: Database, case_id: int, action: Callable[[psycopg.Connection[Any]], object]
) -> Response:
    """Run the action and read the case back, in one transaction; the case as JSON."""

    def run(conn: psycopg.Connection[Any]) -> StaffCaseDetail:
        action(conn)
        return _read(conn, case_id)

    case = db.call(run)
    return Response(case.model_dump_json(), media_type="application/json", headers=PRIVATE)


# --- Routes -------------------------------------------------------------------------------------


@router.get(
    "",
    response_model=Page[StaffCase],
    responses=CSV_RESPONSE,
    summary="List cases (staff)",
)
def list_cases(
    request: Request,
    user: Viewer,
    db: Annotated[Database, Depends(get_database)],
    page: Annotated[Pagination, Depends(pagination)],
    fmt: Annotated[Format, Depends(output_format)],
    state: Annotated[State | None, Query(description="open or closed.")] = None,
    kind: Annotated[CaseKind | None, Query(description="Only cases of this kind.")] = None,
    severity: Annotated[Severity | None, Query(description="Only cases of this severity.")] = None,
    enterprise_id: Annotated[
        int | None, Query(ge=1, le=2**63 - 1, description="Only this enterprise's cases.")
    ] = None,
) -> Response:
    """Cases of every kind, newest first, with acknowledgement and assignee. JSON or CSV."""
    f = queries.CaseFilter(
        state=state, kind=kind, severity=severity, enterprise_id=enterprise_id, staff=True
    )
    response = list_response(
        request,
        db,
        fmt=fmt,
        pagination=page,
        count=queries.count(f),
        select=lambda limit, offset: queries.select(f, limit, offset),
        convert=summary,
        model=StaffCase,
        filename="cases.csv",
    )
    return private(response)


@router.get(
    "/{case_id}",
    response_model=StaffCaseDetail,
    responses=NOT_FOUND_RESPONSE,
    summary="One case with its full history, comments and replies (staff)",
)
def get_case(
    request: Request,
    user: Viewer,
    db: Annotated[Database, Depends(get_database)],
    case_id: CaseId,
) -> Response:
    """The case, every event (who, what, when, with the detail), comments and replies."""
    return private(json_response(request, db.call(lambda conn: _read(conn, case_id))))


@router.post(
    "/{case_id}/acknowledge",
    response_model=StaffCaseDetail,
    responses=ACTION_RESPONSES,
    summary="Acknowledge a case",
)
def acknowledge(
    user: Enforcement,
    db: Annotated[Database, Depends(get_database)],
    case_id: CaseId,
    body: Annotated[AcknowledgeBody | None, Body()] = None,
) -> Response:
    """Record that the token's user has seen the case; a second acknowledgement is 409."""
    note = body.note if body else None
    return _act(db, case_id, lambda conn: workflow.acknowledge(conn, case_id, user.username, note))


@router.post(
    "/{case_id}/assign",
    response_model=StaffCaseDetail,
    responses=ACTION_RESPONSES,
    summary="Assign a case to a staff user",
)
def assign(
    user: Enforcement,
    db: Annotated[Database, Depends(get_database)],
    case_id: CaseId,
    body: AssignBody,
) -> Response:
    """Give the case to ``assignee``; a closed case, or the same assignee again, is 409."""

    def action(conn: psycopg.Connection[Any]) -> object:
        if not fetch_rows(conn, queries.active_staff_user(body.assignee)):
            raise InvalidParameter("assignee", f"no active staff user {body.assignee!r}")
        return workflow.assign(conn, case_id, user.username, body.assignee)

    return _act(db, case_id, action)


@router.post(
    "/{case_id}/comment",
    response_model=StaffCaseDetail,
    responses=ACTION_RESPONSES,
    summary="Comment on a case",
)
def comment(
    user: Enforcement,
    db: Annotated[Database, Depends(get_database)],
    case_id: CaseId,
    body: CommentBody,
) -> Response:
    """Add a staff comment to the case's history."""
    return _act(db, case_id, lambda conn: workflow.comment(conn, case_id, user.username, body.text))


@router.post(
    "/{case_id}/close",
    response_model=StaffCaseDetail,
    responses=ACTION_RESPONSES,
    summary="Close a case",
)
def close(
    user: Enforcement,
    db: Annotated[Database, Depends(get_database)],
    case_id: CaseId,
    body: CloseBody,
) -> Response:
    """Close the case with a reason; closing a closed case is 409."""
    return _act(db, case_id, lambda conn: workflow.close(conn, case_id, user.username, body.reason))


@router.post(
    "/{case_id}/reply",
    response_model=StaffCaseDetail,
    responses=ACTION_RESPONSES,
    summary="Record a reply on a case",
)
def reply(
    user: Enforcement,
    db: Annotated[Database, Depends(get_database)],
    case_id: CaseId,
    body: ReplyBody,
) -> Response:
    """Record the enterprise's explanation (right of reply) or, with
    ``on_behalf_of_enterprise: false``, the regulator's answer; allowed on closed cases too."""
    return _act(
        db,
        case_id,
        lambda conn: workflow.record_reply(
            conn,
            case_id,
            user.username,
            body.text,
            on_behalf_of_enterprise=body.on_behalf_of_enterprise,
        ),
    )


@router.get(
    "/{case_id}/evidence.zip",
    response_class=Response,
    responses={
        200: {"content": {"application/zip": {}}, "description": "The evidence bundle (ZIP)."},
        **NOT_FOUND_RESPONSE,
    },
    summary="The evidence bundle of a case (ZIP)",
)
def evidence(
    user: Enforcement,
    db: Annotated[Database, Depends(get_database)],
    case_id: CaseId,
) -> Response:
    """Raw frames byte for byte, values as at the decision, means, the limit, the history and
    the SHA-256 of every file (``SHA256SUMS``), all read in one snapshot."""
    buffer = io.BytesIO()
    with db.connection(snapshot=True) as conn:
        manifest = build_evidence(conn, case_id, buffer)
    headers = {
        **PRIVATE,
        "Content-Disposition": f'attachment; filename="case-{case_id}-evidence.zip"',
        "X-Manifest-SHA256": manifest.manifest_sha256,
    }
    return Response(buffer.getvalue(), media_type="application/zip", headers=headers)
