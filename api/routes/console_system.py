"""``/staff/system``: nothing silently missing (issue 14) in the staff console, read-only for
viewers besides closing an alert (admin), as in the staff API:

* the open system alerts (:mod:`api.routes.staff_system_alerts`: broker drops, failed
  recalls), each with a close form for admins (:func:`schemas.system_alerts.close_alert`,
  audited; the next occurrence opens a new alert);
* the gaps in minute, hour and day records of the last :data:`GAP_HOURS` hours
  (:func:`schemas.recall.gaps.find_gaps`, as ``/v1/staff/recall/gaps``);
* the newest history recall requests (反控补数) by state, each with its tries and how they
  ended (as ``/v1/staff/recall/requests/{id}``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from api.console import label, lang_of, page
from api.console.access import Form, checked_form, console_session, message, session_before_body
from api.db import Database, fetch_rows, get_database
from api.params import reject_nul
from api.queries import recall as recall_queries
from api.queries import system_alerts as alert_queries
from schemas.recall.gaps import find_gaps
from schemas.staff.sessions import Session
from schemas.system_alerts import close_alert

__all__ = ["router"]

router = APIRouter(
    prefix="/staff/system",
    include_in_schema=False,
    dependencies=[Depends(reject_nul), Depends(session_before_body)],
)

Viewer = Annotated[Session, Depends(console_session("viewer"))]
GAP_HOURS = 48  # as the default of /v1/staff/recall/gaps
LISTED = 100
RECALL_LISTED = 50
RECALL_STATES = ("waiting", "sent", "done", "failed")


@router.get("", response_class=HTMLResponse)
def system_page(
    request: Request,
    session: Viewer,
    db: Annotated[Database, Depends(get_database)],
    state: Annotated[str | None, Query(max_length=20)] = None,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    recall_state = state if state in RECALL_STATES else None
    until = datetime.now(UTC)

    def read(conn: psycopg.Connection[Any]) -> dict[str, Any]:
        recalls = fetch_rows(
            conn,
            recall_queries.recall_requests_select(recall_state, None, RECALL_LISTED, 0),
        )
        return {
            "alerts": fetch_rows(conn, alert_queries.system_alerts_select("open", None, LISTED, 0)),
            "gaps": find_gaps(
                conn,
                since=until - timedelta(hours=GAP_HOURS),
                until=until,
                kinds=("min", "hour", "day"),
            ),
            "recalls": recalls,
            "tries": {
                r["id"]: fetch_rows(conn, recall_queries.recall_attempts(r["id"])) for r in recalls
            },
        }

    return page(
        request,
        "system.html",
        user=session.user,
        csrf=session.csrf_token,
        gap_hours=GAP_HOURS,
        state=recall_state,
        states=RECALL_STATES,
        done=done == "close",
        **db.call(read),
    )


@router.post("/alerts/{alert_id}/close", response_class=HTMLResponse)
def close(
    request: Request,
    form: Form,
    db: Annotated[Database, Depends(get_database)],
    alert_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
) -> Response:
    session = checked_form(request, form, "admin")
    closed = db.call(
        lambda conn: close_alert(conn, alert_id, actor=session.user.username, at=datetime.now(UTC))
    )
    if closed is None:
        return message(request, session, 404, label("not_found", lang_of(request)), f"#{alert_id}")
    return RedirectResponse("/staff/system?done=close", status_code=303)
