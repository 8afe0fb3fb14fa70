"""``/v1/requests``: anyone may ask for government information (依申请公开) and follow their own
request (:mod:`schemas.disclosure.requests`).

* ``POST /v1/requests`` — submit a request (name or organisation, contact, description of the
  information, preferred form): the answer carries the reference number and a secret tracking
  token, shown once. Limited per client address (``SOURCEWATCH_API_REQUEST_SUBMITS_PER_HOUR``)
  on top of the API's rate limit.
* ``GET /v1/requests/{reference}`` with the token in ``X-Tracking-Token`` — the request as it
  stands: its deadline, extension, supplement, answer and attachments. Without the right token
  it is 404, whether the reference exists or not.
* ``GET /v1/requests/{reference}/attachments/{sha256}`` — a file of the answer (same header).
* ``GET /v1/request-outcomes`` — the clocks and the outcomes a request can be answered with,
  with their clauses.

Answers about a request are never cached by proxies.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import psycopg
from fastapi import APIRouter, Depends, Header, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from api.db import Database, get_database
from api.errors import ERROR_RESPONSES, NOT_FOUND_RESPONSE, NotFound, RateLimited
from api.params import reject_nul
from api.render import json_response, private, private_json
from api.responses import Names
from api.routes.disclosures import file_response
from schemas.disclosure import requests as rq
from schemas.disclosure.request_codes import clocks, outcomes

__all__ = [
    "CodeName",
    "RequestAttachmentOut",
    "RequestOut",
    "request_out",
    "router",
    "submit_allowed",
]

router = APIRouter(tags=["requests"], responses=ERROR_RESPONSES, dependencies=[Depends(reject_nul)])

Reference = Annotated[
    str,
    Path(
        pattern=r"^[A-Za-z]{3}-[0-9]{4}-[A-Za-z0-9]{6}$",
        max_length=20,
        description="The request's reference number (YSQ-2026-7K3P9Q).",
    ),
]
TokenHeader = Annotated[
    str,
    Header(
        alias="X-Tracking-Token",
        min_length=1,
        max_length=100,
        description="The tracking token given when the request was submitted.",
    ),
]
Short = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=rq.MAX_SHORT)
]
Description = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=rq.MAX_DESCRIPTION)
]
Form = Literal["electronic", "paper", "inspection"]
Kind = Literal["person", "organisation"]
RESPONSES_404: dict[int | str, dict[str, Any]] = {**NOT_FOUND_RESPONSE}


class CodeName(BaseModel):
    code: str
    name: Names


class RequestAttachmentOut(BaseModel):
    filename: str
    media_type: str
    size_bytes: int
    sha256: str


class RequestOut(BaseModel):
    """A request as its requester sees it."""

    reference: str = Field(examples=["YSQ-2026-7K3P9Q"])
    status: Literal["received", "supplement_requested", "answered"]
    channel: CodeName
    requester_kind: Kind
    requester_name: str
    description: str
    preferred_form: CodeName
    received_on: dt.date = Field(description="Day of receipt (Asia/Shanghai).")
    clock_start: dt.date = Field(
        description="Day the clock runs from: receipt, or the day a supplement arrived."
    )
    answer_days: int = Field(description="Working days to answer (art. 33).")
    extension_days: int = Field(description="Working days the time to answer was extended by.")
    extension_reason: str | None
    due_on: dt.date = Field(description="Last day to answer (working days, Chinese calendar).")
    supplement_requested_on: dt.date | None
    supplement_note: str | None = Field(description="What the requester was asked to make clear.")
    supplement_received_on: dt.date | None
    outcome: CodeName | None
    answer_text: str | None
    referred_to: str | None = Field(description="The body responsible, when referred elsewhere.")
    answered_on: dt.date | None
    on_time: bool | None = Field(description="Answered on or before the due day; null if open.")
    attachments: list[RequestAttachmentOut]


class SubmitBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    requester_kind: Kind = Field("person", description="A person or an organisation.")
    requester_name: Short = Field(description="Name of the person or organisation.")
    contact: Short = Field(description="How to reach the requester (telephone, e-mail, address).")
    description: Description = Field(description="The information asked for.")
    preferred_form: Form = Field(description="How the requester wants to receive it.")


class Submitted(BaseModel):
    reference: str
    token: str = Field(description="Secret: keep it to follow the request; shown only once.")
    received_on: dt.date
    due_on: dt.date
    tracking_url: str


class ClockOut(BaseModel):
    code: str
    working_days: int
    name: Names
    clause: str | None
    source_document: str
    confirmed: bool


class OutcomeOut(BaseModel):
    code: str
    kind: Literal["answer", "challenge"]
    name: Names
    clause: str | None
    source_document: str
    confirmed: bool


class RequestCodes(BaseModel):
    clocks: list[ClockOut]
    outcomes: list[OutcomeOut]


def _named(code: str, names: dict[str, tuple[str, str]]) -> CodeName:
    zh, en = names.get(code, (code, code))
    return CodeName(code=code, name=Names(zh=zh, en=en))


def request_out(conn: psycopg.Connection[Any], request: rq.Request) -> RequestOut:
    outcome_names = {o.code: (o.name_zh, o.name_en) for o in outcomes(conn)}
    return RequestOut(
        reference=request.reference,
        status=request.status,
        channel=_named(request.channel, rq.CHANNELS),
        requester_kind=request.requester_kind,
        requester_name=request.requester_name,
        description=request.description,
        preferred_form=_named(request.preferred_form, rq.FORMS),
        received_on=request.received_on,
        clock_start=request.clock_start,
        answer_days=request.answer_days,
        extension_days=request.extension_days,
        extension_reason=request.extension_reason,
        due_on=request.due_on,
        supplement_requested_on=request.supplement_requested_on,
        supplement_note=request.supplement_note,
        supplement_received_on=request.supplement_received_on,
        outcome=None if request.outcome is None else _named(request.outcome, outcome_names),
        answer_text=request.answer_text,
        referred_to=request.referred_to,
        answered_on=request.answered_on,
        on_time=request.on_time,
        attachments=[
            RequestAttachmentOut(
                filename=a.filename,
                media_type=a.media_type,
                size_bytes=a.size_bytes,
                sha256=a.sha256,
            )
            for a in rq.attachments(conn, request.id)
        ],
    )


def submit_allowed(request: Request) -> None:
    """The per-address limit on submitted requests (a second :class:`api.ratelimit.RateLimiter`
    with a one-hour window); 429 beyond it."""
    limiter = request.app.state.submit_limiter
    if limiter.limit <= 0:
        return
    client = request.client
    decision = limiter.hit(client.host if client else "unknown")
    if not decision.allowed:
        raise RateLimited(
            decision.limit, max(decision.reset_s, 1), window=f"{limiter.window_s:g} s"
        )


def _tracked(conn: psycopg.Connection[Any], reference: str, token: str) -> rq.Request:
    found = rq.track(conn, reference, token)
    if found is None:
        raise NotFound("no request with this reference and tracking token", parameter="reference")
    return found


@router.post(
    "/v1/requests",
    response_model=Submitted,
    status_code=201,
    summary="Ask for government information (依申请公开)",
)
def submit(
    request: Request, db: Annotated[Database, Depends(get_database)], body: SubmitBody
) -> Response:
    """The request is received today (Asia/Shanghai); the answer is due within the statutory
    working days. Keep the token: it is the only way to follow the request."""
    submit_allowed(request)
    done = db.call(
        lambda conn: rq.submit(
            conn,
            requester_kind=body.requester_kind,
            requester_name=body.requester_name,
            contact=body.contact,
            description=body.description,
            preferred_form=body.preferred_form,
        )
    )
    out = Submitted(
        reference=done.request.reference,
        token=done.token,
        received_on=done.request.received_on,
        due_on=done.request.due_on,
        tracking_url=f"/v1/requests/{done.request.reference}",
    )
    return private_json(out, status_code=201)


@router.get(
    "/v1/requests/{reference}",
    response_model=RequestOut,
    responses=RESPONSES_404,
    summary="Follow one's own request by its reference and tracking token",
)
def get_request(
    db: Annotated[Database, Depends(get_database)], reference: Reference, token: TokenHeader
) -> Response:
    return private_json(db.call(lambda conn: request_out(conn, _tracked(conn, reference, token))))


@router.get(
    "/v1/requests/{reference}/attachments/{sha256}",
    response_class=Response,
    responses={
        **RESPONSES_404,
        200: {"content": {"application/octet-stream": {}}, "description": "The file."},
    },
    summary="A file sent with the answer to one's own request",
)
def get_request_attachment(
    db: Annotated[Database, Depends(get_database)],
    reference: Reference,
    sha256: Annotated[str, Path(pattern="^[0-9a-f]{64}$", description="SHA-256 of the file.")],
    token: TokenHeader,
) -> Response:
    def read(conn: psycopg.Connection[Any]) -> tuple[str, str, bytes] | None:
        return rq.attachment_file(conn, _tracked(conn, reference, token).id, bytes.fromhex(sha256))

    found = db.call(read)
    if found is None:
        raise NotFound("no such attachment", parameter="sha256")
    name, media_type, content = found
    return private(file_response({"filename": name, "media_type": media_type, "content": content}))


@router.get(
    "/v1/request-outcomes",
    response_model=RequestCodes,
    summary="The clocks of a request and the outcomes it can be answered with",
)
def get_request_codes(request: Request, db: Annotated[Database, Depends(get_database)]) -> Response:
    def read(conn: psycopg.Connection[Any]) -> RequestCodes:
        return RequestCodes(
            clocks=[
                ClockOut(
                    code=c.code,
                    working_days=c.working_days,
                    name=Names(zh=c.name_zh, en=c.name_en),
                    clause=c.clause,
                    source_document=c.source_document,
                    confirmed=c.confirmed,
                )
                for c in sorted(clocks(conn).values(), key=lambda c: c.code)
            ],
            outcomes=[
                OutcomeOut(
                    code=o.code,
                    kind=o.kind,
                    name=Names(zh=o.name_zh, en=o.name_en),
                    clause=o.clause,
                    source_document=o.source_document,
                    confirmed=o.confirmed,
                )
                for o in outcomes(conn)
            ],
        )

    return json_response(request, db.call(read), max_age=3600)
