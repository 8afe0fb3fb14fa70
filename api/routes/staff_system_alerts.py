"""``GET /v1/staff/system-alerts`` (viewer): the service itself losing data — a broker that
dropped messages (``broker-drops``, raised by ingest from the broker's ``$SYS`` counters), a
history recall that failed (``recall-failed``) — latest first, JSON or CSV."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from api.auth import StaffUser, require_role
from api.db import Database, Row, get_database
from api.errors import ERROR_RESPONSES, STAFF_RESPONSES
from api.params import Format, Pagination, output_format, pagination, reject_nul
from api.queries import system_alerts as queries
from api.render import CSV_RESPONSE, private
from api.responses import Instant, Page, instant
from api.routes.common import list_response

__all__ = ["SystemAlert", "router"]

router = APIRouter(
    prefix="/v1/staff/system-alerts",
    tags=["staff"],
    responses={**ERROR_RESPONSES, **STAFF_RESPONSES},
    dependencies=[Depends(reject_nul)],
)

Viewer = Annotated[StaffUser, Depends(require_role("viewer"))]
Kind = Literal["broker-drops", "recall-failed"]


class SystemAlert(BaseModel):
    id: int
    kind: Kind
    subject: str = Field(description="What it is about: the broker (host:port), the outlet MN.")
    state: Literal["open", "closed"]
    first_at: Instant
    last_at: Instant
    count: int = Field(description="Messages dropped, recalls failed … since first_at.")
    message_zh: str
    message_en: str
    details: Any


def _alert(row: Row) -> SystemAlert:
    return SystemAlert(
        **{**row, "first_at": instant(row["first_at"]), "last_at": instant(row["last_at"])}
    )


@router.get(
    "",
    response_model=Page[SystemAlert],
    responses=CSV_RESPONSE,
    summary="System alerts: the service losing data (viewer)",
)
def list_system_alerts(
    request: Request,
    user: Viewer,
    db: Annotated[Database, Depends(get_database)],
    page: Annotated[Pagination, Depends(pagination)],
    fmt: Annotated[Format, Depends(output_format)],
    state: Annotated[Literal["open", "closed"] | None, Query()] = None,
    kind: Annotated[Kind | None, Query()] = None,
) -> Response:
    """Latest first; JSON or CSV."""
    response = list_response(
        request,
        db,
        fmt=fmt,
        pagination=page,
        count=queries.system_alerts_count(state, kind),
        select=lambda limit, offset: queries.system_alerts_select(state, kind, limit, offset),
        convert=_alert,
        model=SystemAlert,
        filename="system-alerts.csv",
    )
    return private(response)
