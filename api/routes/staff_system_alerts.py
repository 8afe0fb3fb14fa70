"""System alerts: the service itself losing data — a broker that dropped messages
(``broker-drops``, raised by ingest from the broker's ``$SYS`` counters), a history recall
that failed (``recall-failed``).

* ``GET /v1/staff/system-alerts`` (viewer): latest first, by ``state`` and ``kind``, JSON or CSV;
* ``POST /v1/staff/system-alerts/{id}/close`` (admin): dealt with; audited. The next
  occurrence opens a new alert. Closing a closed alert changes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import psycopg
from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, Field

from api.auth import StaffUser, require_role
from api.db import Database, Row, fetch_rows, get_database
from api.errors import ERROR_RESPONSES, NOT_FOUND_RESPONSE, STAFF_RESPONSES, NotFound
from api.params import Format, Pagination, output_format, pagination, reject_nul
from api.queries import system_alerts as queries
from api.render import CSV_RESPONSE, private, private_json
from api.responses import Instant, Page, instant, optional_instant
from api.routes.common import list_response
from schemas.system_alerts import AlertKind, close_alert

__all__ = ["SystemAlert", "router"]

router = APIRouter(
    prefix="/v1/staff/system-alerts",
    tags=["staff"],
    responses={**ERROR_RESPONSES, **STAFF_RESPONSES},
    dependencies=[Depends(reject_nul)],
)

Viewer = Annotated[StaffUser, Depends(require_role("viewer"))]
Admin = Annotated[StaffUser, Depends(require_role("admin"))]
Kind = AlertKind  # one home: schemas.system_alerts


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
    closed_at: Instant | None
    closed_by: str | None


def _alert(row: Row) -> SystemAlert:
    return SystemAlert(
        **{
            **row,
            "first_at": instant(row["first_at"]),
            "last_at": instant(row["last_at"]),
            "closed_at": optional_instant(row["closed_at"]),
        }
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


@router.post(
    "/{alert_id}/close",
    response_model=SystemAlert,
    responses=NOT_FOUND_RESPONSE,
    summary="Close a system alert once dealt with (admin)",
)
def close(
    user: Admin,
    db: Annotated[Database, Depends(get_database)],
    alert_id: Annotated[int, Path(ge=1, le=2**63 - 1, description="System alert id.")],
) -> Response:
    """Audited; the next occurrence opens a new alert."""

    def run(conn: psycopg.Connection[Any]) -> list[Row]:
        if close_alert(conn, alert_id, actor=user.username, at=datetime.now(UTC)) is None:
            return []
        return fetch_rows(conn, queries.system_alert(alert_id))

    rows = db.call(run)
    if not rows:
        raise NotFound(f"no system alert {alert_id}")
    return private_json(_alert(rows[0]))
