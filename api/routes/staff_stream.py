"""Staff endpoints (authenticated): the live alert stream for dashboards and the case list.

``GET /v1/staff/alerts/stream`` is a server-sent-events stream of case events (the evaluator's
transitions and staff actions) as they commit: ``id`` is the event id, so a client that
reconnects with ``Last-Event-ID`` first receives what it missed. Comments keep the connection
alive every 15 s.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import StreamingResponse
from psycopg.rows import dict_row

from api.auth import StaffUser, require_role
from schemas.cases.kinds import SEVERITIES, CaseKind, Severity
from schemas.core import channels

__all__ = ["router"]

router = APIRouter(prefix="/v1/staff", tags=["staff"])

KEEPALIVE_S = 15.0
REPLAY_MAX = 1000

_EVENT = """
SELECT e.id AS event_id, e.case_id, e.action, e.severity, e.actor, e.at,
       c.kind, c.state, c.pollutant, c.period, c.subject, c.first_at, c.last_at, c.max_multiple,
       o.id AS outlet_id, o.mn, o.name_zh AS outlet_name_zh,
       en.id AS enterprise_id, en.name_zh AS enterprise_name_zh,
       en.name_en AS enterprise_name_en, en.district
FROM case_events e JOIN cases c ON c.id = e.case_id JOIN outlets o ON o.id = c.outlet_id
JOIN enterprises en ON en.id = o.enterprise_id
"""


def _filters(
    kind: str | None, min_severity: str, enterprise_id: int | None
) -> tuple[str, list[Any]]:
    clauses = ["array_position(%s::text[], coalesce(e.severity, c.severity)) >= %s"]
    params: list[Any] = [list(SEVERITIES), SEVERITIES.index(min_severity) + 1]
    if kind:
        clauses.append("c.kind = %s")
        params.append(kind)
    if enterprise_id is not None:
        clauses.append("en.id = %s")
        params.append(enterprise_id)
    return " AND ".join(clauses), params


def _sse(row: dict[str, Any]) -> str:
    body = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}
    if body.get("max_multiple") is not None:
        body["max_multiple"] = str(body["max_multiple"])
    return f"id: {row['event_id']}\nevent: case\ndata: {json.dumps(body, ensure_ascii=False)}\n\n"


@router.get(
    "/alerts/stream",
    summary="Live stream of case events (server-sent events)",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "an SSE stream"},
        401: {"description": "no or bad token"},
        403: {"description": "the token's user lacks the viewer role"},
    },
)
async def alert_stream(
    request: Request,
    user: Annotated[StaffUser, Depends(require_role("viewer"))],
    kind: Annotated[
        CaseKind | None,
        Query(description="only this kind"),
    ] = None,
    min_severity: Annotated[Severity, Query(description="lowest severity sent")] = "info",
    enterprise_id: Annotated[int | None, Query(ge=1, description="only this enterprise")] = None,
    max_events: Annotated[
        int | None, Query(ge=1, le=100_000, description="close the stream after this many events")
    ] = None,
    last_event_id: Annotated[
        int | None, Header(ge=0, description="resume after this event (SSE reconnection)")
    ] = None,
) -> StreamingResponse:
    where, params = _filters(kind, min_severity, enterprise_id)
    url = request.app.state.settings.database

    async def events() -> AsyncIterator[str]:
        sent = 0
        async with await psycopg.AsyncConnection.connect(
            url, autocommit=True, application_name="sourcewatch.api.sse"
        ) as conn:
            await conn.execute(f"LISTEN {channels.CASE_EVENTS}")
            cur = conn.cursor(row_factory=dict_row)
            yield f": sourcewatch case events for {user.username}\nretry: 3000\n\n"
            if last_event_id is not None:
                await cur.execute(
                    _EVENT + f"WHERE e.id > %s AND {where} ORDER BY e.id LIMIT {REPLAY_MAX}",
                    [last_event_id, *params],
                )
                for row in await cur.fetchall():
                    yield _sse(row)
                    sent += 1
                    if max_events is not None and sent >= max_events:
                        return
            while True:  # Starlette cancels this generator when the client goes away
                # Take the notification first: the connection is busy while notifies() runs.
                ids = [
                    json.loads(note.payload)["event_id"]
                    async for note in conn.notifies(timeout=KEEPALIVE_S, stop_after=1)
                ]
                if not ids:
                    yield ": keep-alive\n\n"
                for event_id in ids:
                    await cur.execute(_EVENT + f"WHERE e.id = %s AND {where}", [event_id, *params])
                    found = await cur.fetchone()
                    if found is not None:
                        yield _sse(found)
                        sent += 1
                        if max_events is not None and sent >= max_events:
                            return

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
