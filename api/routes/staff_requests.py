"""``/v1/staff/requests``: staff handle requests for information (:mod:`schemas.disclosure.requests`),
with the roles of the disclosure records (:mod:`api.auth`): viewers read, editors act, and
extending the time to answer — which the Regulation lets only the head of the disclosure office
approve (art. 33) — needs the admin role.

* ``GET /v1/staff/requests`` (viewer): every request, newest first, by status;
* ``GET /v1/staff/requests/overdue?within=N`` (viewer): open requests past their deadline and,
  with ``within``, those due in the next N working days (the reminder list), earliest first;
* ``GET /v1/staff/requests/{id}`` (viewer): one request with its contact, assignee,
  attachments and challenges;
* ``POST /v1/staff/requests`` (editor): register a request received by post, in person, by
  e-mail or fax, with its day of receipt; the answer carries the tracking token (once) to send
  to the requester;
* ``POST /v1/staff/requests/{id}/assign|supplement|supplement-received|answer`` (editor),
  ``…/extend`` (admin), ``…/attachments`` (editor, a PDF or image sent with the answer),
  ``…/challenges`` (editor, a reconsideration or lawsuit) and
  ``POST /v1/staff/request-challenges/{id}/decide`` (editor).

An unknown request is 404, an action its state does not allow 409, a bad value 422 naming it.
Every action is in the audit log.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any, Literal

import psycopg
from fastapi import APIRouter, Depends, File, Path, Query, Response, UploadFile
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from api.auth import StaffUser, require_role
from api.db import Database, get_database
from api.errors import (
    CONFLICT_RESPONSE,
    ERROR_RESPONSES,
    NOT_FOUND_RESPONSE,
    STAFF_RESPONSES,
    NotFound,
)
from api.params import Day, reject_nul
from api.render import private, private_json
from api.responses import Instant, instant
from api.routes.disclosures import file_response
from api.routes.requests import RequestOut, request_out
from schemas.disclosure import challenges as ch
from schemas.disclosure import requests as rq
from schemas.disclosure.workdays import add_working_days
from schemas.disclosure.workflow import MAX_ATTACHMENT_BYTES

__all__ = ["StaffRequest", "router"]

router = APIRouter(
    tags=["staff"],
    responses={**ERROR_RESPONSES, **STAFF_RESPONSES},
    dependencies=[Depends(reject_nul)],
)
BASE = "/v1/staff/requests"
ACTION_RESPONSES: dict[int | str, dict[str, Any]] = {**NOT_FOUND_RESPONSE, **CONFLICT_RESPONSE}

Viewer = Annotated[StaffUser, Depends(require_role("viewer"))]
Editor = Annotated[StaffUser, Depends(require_role("editor"))]
Admin = Annotated[StaffUser, Depends(require_role("admin"))]
RequestId = Annotated[int, Path(ge=1, le=2**63 - 1, description="Id of the request.")]
Short = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=rq.MAX_SHORT)
]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20_000)]
Status = Literal["received", "supplement_requested", "answered"]


class ChallengeOut(BaseModel):
    id: int
    kind: Literal["reconsideration", "lawsuit"]
    filed_on: dt.date
    outcome: str
    decided_on: dt.date | None
    note: str | None
    created_by: str
    updated_by: str


class StaffRequest(RequestOut):
    id: int
    contact: str
    assigned_to: str | None
    created: Instant
    created_by: str = Field(description="`public` for the portal and API form.")
    extended_by: str | None
    answered_by: str | None
    overdue: bool = Field(description="Open and past its due day (Asia/Shanghai today).")
    working_days_late: int = Field(description="Working days past the due day (0: not late).")
    challenges: list[ChallengeOut]


class StaffRequests(BaseModel):
    found: int
    today: dt.date
    results: list[StaffRequest]


class Registered(BaseModel):
    token: str = Field(description="The tracking token to send to the requester (shown once).")
    request: StaffRequest


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RegisterBody(_Body):
    channel: Literal["post", "in_person", "email", "fax"]
    received_on: Day = Field(description="Day of receipt (signed for, handed in).")
    requester_kind: Literal["person", "organisation"] = "person"
    requester_name: Short
    contact: Short
    description: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=rq.MAX_DESCRIPTION)
    ]
    preferred_form: Literal["electronic", "paper", "inspection"]


class AssignBody(_Body):
    assignee: Short = Field(description="A staff user with the editor or admin role.")


class SupplementBody(_Body):
    note: Text = Field(description="What the requester is asked to make clear (art. 30).")
    on: Day | None = Field(None, description="Day of the notice; default today.")


class ReceivedBody(_Body):
    on: Day | None = Field(None, description="Day the supplement arrived; default today.")


class ExtendBody(_Body):
    days: int = Field(ge=1, le=366, description="Working days (at most the extension clock).")
    reason: Text = Field(description="Told to the requester.")
    on: Day | None = None


class AnswerBody(_Body):
    outcome: str = Field(max_length=64, description="An `answer` code of /v1/request-outcomes.")
    text: Text = Field(description="The answer (for `not_disclosed`, the reason).")
    referred_to: Short | None = Field(None, description="For `not_responsible`: who is.")
    on: Day | None = Field(None, description="Day of the answer; default today.")


class ChallengeBody(_Body):
    kind: Literal["reconsideration", "lawsuit"]
    filed_on: Day
    outcome: str = Field("pending", max_length=64, description="A `challenge` code.")
    decided_on: Day | None = None
    note: Annotated[str, StringConstraints(max_length=ch.MAX_NOTE)] | None = None


class DecideBody(_Body):
    outcome: str = Field(max_length=64)
    decided_on: Day
    note: Annotated[str, StringConstraints(max_length=ch.MAX_NOTE)] | None = None


class AttachmentOut(BaseModel):
    id: int
    request_id: int
    filename: str
    media_type: str
    size_bytes: int
    sha256: str


def staff_request(conn: psycopg.Connection[Any], request: rq.Request) -> StaffRequest:
    today = rq.local_today()
    return StaffRequest(
        **request_out(conn, request).model_dump(),
        id=request.id,
        contact=request.contact,
        assigned_to=request.assigned_to,
        created=instant(request.created_at),
        created_by=request.created_by,
        extended_by=request.extended_by,
        answered_by=request.answered_by,
        overdue=request.status == "received" and request.due_on < today,
        working_days_late=rq.working_days_late(request, today)
        if request.status != "supplement_requested"
        else 0,
        challenges=[
            ChallengeOut.model_validate(c, from_attributes=True)
            for c in ch.challenges_of(conn, request.id)
        ],
    )


def _act(
    db: Database, action: Callable[[psycopg.Connection[Any]], rq.Request], status: int = 200
) -> Response:
    def run(conn: psycopg.Connection[Any]) -> StaffRequest:
        return staff_request(conn, action(conn))

    return private_json(db.call(run), status_code=status)


# --- Reading ------------------------------------------------------------------------------------


@router.get(BASE, response_model=StaffRequests, summary="List requests for information")
def list_requests(
    user: Viewer,
    db: Annotated[Database, Depends(get_database)],
    status: Annotated[Status | None, Query(description="Only requests in this state.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    def read(conn: psycopg.Connection[Any]) -> StaffRequests:
        found, rows = rq.list_requests(conn, status=status, limit=limit, offset=(page - 1) * limit)
        return StaffRequests(
            found=found, today=rq.local_today(), results=[staff_request(conn, r) for r in rows]
        )

    return private_json(db.call(read))


@router.get(
    f"{BASE}/overdue",
    response_model=StaffRequests,
    summary="Overdue requests, and those due soon (reminders)",
)
def overdue_requests(
    user: Viewer,
    db: Annotated[Database, Depends(get_database)],
    within: Annotated[
        int, Query(ge=0, le=40, description="Also those due in the next N working days.")
    ] = 0,
) -> Response:
    """Open requests (not waiting for a supplement) past their due day, earliest first; with
    `within`, also those due today or in the next `within` working days."""

    def read(conn: psycopg.Connection[Any]) -> StaffRequests:
        today = rq.local_today()
        if within:
            rows = rq.open_requests(conn, due_by=add_working_days(today, within))
        else:
            rows = rq.overdue(conn, today)
        return StaffRequests(
            found=len(rows), today=today, results=[staff_request(conn, r) for r in rows]
        )

    return private_json(db.call(read))


@router.get(
    f"{BASE}/{{request_id:int}}",
    response_model=StaffRequest,
    responses=NOT_FOUND_RESPONSE,
    summary="One request (staff)",
)
def get_request(
    user: Viewer, db: Annotated[Database, Depends(get_database)], request_id: RequestId
) -> Response:
    return private_json(db.call(lambda conn: staff_request(conn, rq.get_request(conn, request_id))))


@router.get(
    f"{BASE}/{{request_id}}/attachments/{{sha256}}",
    response_class=Response,
    responses={
        **NOT_FOUND_RESPONSE,
        200: {"content": {"application/octet-stream": {}}, "description": "The file."},
    },
    summary="A file of a request's answer (staff)",
)
def get_attachment(
    user: Viewer,
    db: Annotated[Database, Depends(get_database)],
    request_id: RequestId,
    sha256: Annotated[str, Path(pattern="^[0-9a-f]{64}$")],
) -> Response:
    found = db.call(lambda conn: rq.attachment_file(conn, request_id, bytes.fromhex(sha256)))
    if found is None:
        raise NotFound("no such attachment", parameter="sha256")
    name, media_type, content = found
    return private(file_response({"filename": name, "media_type": media_type, "content": content}))


# --- Acting -------------------------------------------------------------------------------------


@router.post(BASE, response_model=Registered, status_code=201, summary="Register a request")
def register(
    user: Editor, db: Annotated[Database, Depends(get_database)], body: RegisterBody
) -> Response:
    """A request received by post, in person, by e-mail or fax; its clock runs from the day of
    receipt."""

    def run(conn: psycopg.Connection[Any]) -> Registered:
        done = rq.submit(conn, actor=user.username, **body.model_dump())
        return Registered(token=done.token, request=staff_request(conn, done.request))

    return private_json(db.call(run), status_code=201)


@router.post(
    f"{BASE}/{{request_id}}/assign",
    response_model=StaffRequest,
    responses=ACTION_RESPONSES,
    summary="Assign a request",
)
def assign(
    user: Editor,
    db: Annotated[Database, Depends(get_database)],
    request_id: RequestId,
    body: AssignBody,
) -> Response:
    return _act(db, lambda c: rq.assign(c, request_id, actor=user.username, assignee=body.assignee))


@router.post(
    f"{BASE}/{{request_id}}/supplement",
    response_model=StaffRequest,
    responses=ACTION_RESPONSES,
    summary="Ask the requester for a supplement (the clock stops)",
)
def supplement(
    user: Editor,
    db: Annotated[Database, Depends(get_database)],
    request_id: RequestId,
    body: SupplementBody,
) -> Response:
    return _act(
        db,
        lambda c: rq.request_supplement(
            c, request_id, actor=user.username, note=body.note, on=body.on
        ),
    )


@router.post(
    f"{BASE}/{{request_id}}/supplement-received",
    response_model=StaffRequest,
    responses=ACTION_RESPONSES,
    summary="The supplement arrived (the clock starts again)",
)
def supplement_received(
    user: Editor,
    db: Annotated[Database, Depends(get_database)],
    request_id: RequestId,
    body: ReceivedBody,
) -> Response:
    return _act(
        db, lambda c: rq.supplement_received(c, request_id, actor=user.username, on=body.on)
    )


@router.post(
    f"{BASE}/{{request_id}}/extend",
    response_model=StaffRequest,
    responses=ACTION_RESPONSES,
    summary="Extend the time to answer once (admin: the approving head)",
)
def extend(
    user: Admin,
    db: Annotated[Database, Depends(get_database)],
    request_id: RequestId,
    body: ExtendBody,
) -> Response:
    return _act(
        db,
        lambda c: rq.extend(
            c, request_id, actor=user.username, days=body.days, reason=body.reason, on=body.on
        ),
    )


@router.post(
    f"{BASE}/{{request_id}}/answer",
    response_model=StaffRequest,
    responses=ACTION_RESPONSES,
    summary="Answer a request with one of the Regulation's outcomes",
)
def answer(
    user: Editor,
    db: Annotated[Database, Depends(get_database)],
    request_id: RequestId,
    body: AnswerBody,
) -> Response:
    return _act(
        db,
        lambda c: rq.answer(
            c,
            request_id,
            actor=user.username,
            outcome=body.outcome,
            text=body.text,
            referred_to=body.referred_to,
            on=body.on,
        ),
    )


@router.post(
    f"{BASE}/{{request_id}}/attachments",
    response_model=AttachmentOut,
    status_code=201,
    responses=ACTION_RESPONSES,
    summary="Attach a file (PDF, PNG, JPEG) to a request's answer",
)
def attach(
    user: Editor,
    db: Annotated[Database, Depends(get_database)],
    request_id: RequestId,
    file: Annotated[UploadFile, File(description="The file; the requester can download it.")],
) -> Response:
    data = file.file.read(MAX_ATTACHMENT_BYTES + 1)
    media = (file.content_type or "").split(";")[0].strip()
    attachment = db.call(
        lambda conn: rq.attach(
            conn,
            request_id,
            actor=user.username,
            filename=file.filename or "",
            media_type=media,
            data=data,
        )
    )
    out = AttachmentOut(**{k: getattr(attachment, k) for k in AttachmentOut.model_fields})
    return private_json(out, status_code=201)


@router.post(
    f"{BASE}/{{request_id}}/challenges",
    response_model=StaffRequest,
    status_code=201,
    responses=ACTION_RESPONSES,
    summary="Record a reconsideration or lawsuit about a request",
)
def challenge(
    user: Editor,
    db: Annotated[Database, Depends(get_database)],
    request_id: RequestId,
    body: ChallengeBody,
) -> Response:
    def run(conn: psycopg.Connection[Any]) -> rq.Request:
        ch.record_challenge(conn, request_id, actor=user.username, **body.model_dump())
        return rq.get_request(conn, request_id)

    return _act(db, run, status=201)


@router.post(
    "/v1/staff/request-challenges/{challenge_id}/decide",
    response_model=StaffRequest,
    responses=ACTION_RESPONSES,
    summary="Record the outcome of a reconsideration or lawsuit",
)
def decide(
    user: Editor,
    db: Annotated[Database, Depends(get_database)],
    challenge_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    body: DecideBody,
) -> Response:
    def run(conn: psycopg.Connection[Any]) -> rq.Request:
        decided = ch.decide(
            conn,
            challenge_id,
            actor=user.username,
            outcome=body.outcome,
            decided_on=body.decided_on,
            note=body.note,
        )
        return rq.get_request(conn, decided.request_id)

    return _act(db, run)
