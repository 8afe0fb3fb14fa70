"""History recall (反控补数) for staff (viewer), see ``ingest/recall.py``:

* ``GET /v1/staff/recall/gaps``: the gaps in minute, hour and day records now
  (``schemas/recall/gaps.py``), whether or not a request asks for them yet;
* ``GET /v1/staff/recall/requests``: the history queries, newest first, by ``state``
  (waiting, sent, done, failed) and ``mn`` (JSON or CSV);
* ``GET /v1/staff/recall/requests/{id}``: one request with each try: its QN, the 9011
  (QnRtn) and 9012 (ExeRtn) answers, the data packets and how it ended.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import psycopg
from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, Field

from api.auth import StaffUser, require_role
from api.db import Database, Row, fetch_rows, get_database
from api.errors import ERROR_RESPONSES, NOT_FOUND_RESPONSE, STAFF_RESPONSES, NotFound
from api.params import Format, Pagination, output_format, pagination, reject_nul
from api.queries import recall as queries
from api.render import CSV_RESPONSE, json_response, private
from api.responses import Instant, Page, instant, optional_instant
from api.routes.common import list_response
from schemas.recall.gaps import find_gaps

__all__ = ["RecallAttempt", "RecallGap", "RecallRequest", "router"]

router = APIRouter(
    prefix="/v1/staff/recall",
    tags=["staff"],
    responses={**ERROR_RESPONSES, **STAFF_RESPONSES},
    dependencies=[Depends(reject_nul)],
)

Viewer = Annotated[StaffUser, Depends(require_role("viewer"))]
State = Literal["waiting", "sent", "done", "failed"]
Outcome = Literal["healed", "refused", "no-answer", "partial"]


class RecallGap(BaseModel):
    outlet_id: int
    mn: str
    cn: str = Field(
        description="The history query that recalls it: 2051 minute, 2061 hour, 2031 day data."
    )
    begin_at: Instant
    end_at: Instant
    missing: int = Field(description="Records missing in the interval.")
    expected_per_hour: int


class RecallGaps(BaseModel):
    since: Instant
    until: Instant
    results: list[RecallGap]


class RecallRequest(BaseModel):
    id: int
    outlet_id: int
    mn: str
    cn: str
    begin_at: Instant
    end_at: Instant
    state: State
    outcome: Outcome | None = Field(description="Of the latest try (the final one when done).")
    reason: str | None
    tries: int
    next_at: Instant
    missing: int = Field(description="Records missing when the gap was found.")
    expected_per_hour: int
    created_at: Instant
    updated_at: Instant


class RecallAttempt(BaseModel):
    try_number: int = Field(description="1 for the first query, 2 for the first retry, …")
    qn: str
    transport: Literal["mqtt", "tcp"]
    sent_at: Instant
    qn_rtn: int | None = Field(description="9011 QnRtn (1 ready, 2 refused, …).")
    exe_rtn: int | None = Field(description="9012 ExeRtn (1 done, 100 no data, …).")
    packets: int
    missing_after: int | None
    outcome: Outcome | None
    finished_at: Instant | None


class RecallRequestDetail(RecallRequest):
    attempts: list[RecallAttempt]


_TIMES = ("begin_at", "end_at", "next_at", "created_at", "updated_at")


def _request(row: Row) -> RecallRequest:
    return RecallRequest(**{**row, **{k: instant(row[k]) for k in _TIMES}})


@router.get(
    "/gaps",
    response_model=RecallGaps,
    summary="Gaps in minute, hour and day records now (viewer)",
)
def list_gaps(
    request: Request,
    user: Viewer,
    db: Annotated[Database, Depends(get_database)],
    hours: Annotated[
        int, Query(ge=1, le=24 * 31, description="How far back to look (hours).")
    ] = 48,
) -> Response:
    """Outlet-hours (days for day records) between an outlet's first and last record of the
    window with fewer records than it usually sends."""
    until = datetime.now(UTC)
    since = until - timedelta(hours=hours)

    def read(conn: psycopg.Connection[Any]) -> list[RecallGap]:
        return [
            RecallGap(
                outlet_id=g.outlet_id,
                mn=g.mn,
                cn=g.cn,
                begin_at=instant(g.begin),
                end_at=instant(g.end),
                missing=g.missing,
                expected_per_hour=g.expected_per_hour,
            )
            for g in find_gaps(conn, since=since, until=until, kinds=("min", "hour", "day"))
        ]

    body = RecallGaps(since=instant(since), until=instant(until), results=db.call(read))
    return private(json_response(request, body, max_age=0))


@router.get(
    "/requests",
    response_model=Page[RecallRequest],
    responses=CSV_RESPONSE,
    summary="History recall requests (viewer)",
)
def list_requests(
    request: Request,
    user: Viewer,
    db: Annotated[Database, Depends(get_database)],
    page: Annotated[Pagination, Depends(pagination)],
    fmt: Annotated[Format, Depends(output_format)],
    state: Annotated[State | None, Query(description="waiting, sent, done or failed.")] = None,
    mn: Annotated[str | None, Query(max_length=64, description="The outlet's MN.")] = None,
) -> Response:
    """Newest first; JSON or CSV."""
    response = list_response(
        request,
        db,
        fmt=fmt,
        pagination=page,
        count=queries.recall_requests_count(state, mn),
        select=lambda limit, offset: queries.recall_requests_select(state, mn, limit, offset),
        convert=_request,
        model=RecallRequest,
        filename="recall-requests.csv",
    )
    return private(response)


@router.get(
    "/requests/{request_id}",
    response_model=RecallRequestDetail,
    responses=NOT_FOUND_RESPONSE,
    summary="One recall request with its tries (viewer)",
)
def get_request(
    request: Request,
    user: Viewer,
    db: Annotated[Database, Depends(get_database)],
    request_id: Annotated[int, Path(ge=1, le=2**63 - 1, description="Request id.")],
) -> Response:
    def read(conn: psycopg.Connection[Any]) -> tuple[list[Row], list[Row]]:
        found = fetch_rows(conn, queries.recall_requests_select(None, None, 1, 0, request_id))
        return found, fetch_rows(conn, queries.recall_attempts(request_id))

    found, tries = db.call(read)
    if not found:
        raise NotFound(f"no recall request {request_id}")
    base = _request(found[0])
    attempts = [
        RecallAttempt(
            **{
                **{k: v for k, v in t.items() if k != "try"},
                "try_number": t["try"],
                "sent_at": instant(t["sent_at"]),
                "finished_at": optional_instant(t["finished_at"]),
            }
        )
        for t in tries
    ]
    body = RecallRequestDetail(**base.model_dump(), attempts=attempts)
    return private(json_response(request, body, max_age=0))
