"""Staff endpoints (authenticated): the live alert stream for dashboards.

``GET /v1/staff/alerts/stream`` is a server-sent-events stream of case events (the evaluator's
transitions and staff actions) as they commit: ``id`` is the event id, so a client that
reconnects with ``Last-Event-ID`` first receives what it missed. Comments keep the connection
alive every 15 s.

All the streams of one API process share one LISTEN connection (``app.state.case_events``, an
:class:`api.broadcast.Broadcast`); a stream reads its events through the API's pool, one short
query at a time, and holds no connection in between. A client too slow to keep up is dropped
and resumes with ``Last-Event-ID``; so is a stream whose query fails.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from api.auth import StaffUser, require_role
from api.broadcast import Broadcast, Overflow, Subscription
from api.db import Database, DatabaseError, Row, Statement, database_of
from api.errors import ERROR_RESPONSES, STAFF_RESPONSES
from api.queries import case_events
from api.queries.case_events import EventFilter
from schemas.cases.kinds import CaseKind, Severity

__all__ = ["router"]

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/staff", tags=["staff"])

KEEPALIVE_S = 15.0
PAGE = 1000  # events per replay query
RECENT = 4 * PAGE  # event ids remembered, so that one sent by a replay is not sent again live


def _sse(row: Row) -> str:
    body = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}
    if body.get("max_multiple") is not None:
        body["max_multiple"] = str(body["max_multiple"])
    return f"id: {row['event_id']}\nevent: case\ndata: {json.dumps(body, ensure_ascii=False)}\n\n"


def _event_ids(payloads: Iterable[str]) -> list[int]:
    """The event ids of ``case_events`` notifications (``{"event_id": …, "case_id": …}``)."""
    ids = []
    for payload in payloads:
        try:
            ids.append(int(json.loads(payload)["event_id"]))
        except (ValueError, KeyError, TypeError):
            log.warning("case event notification without an event id: %r", payload)
    return ids


class EventStream:
    """One client's stream: replays and catches up from ``after`` (the newest event id sent),
    then sends what its subscription is notified of."""

    def __init__(
        self,
        database: Database,
        subscription: Subscription,
        events: EventFilter,
        *,
        after: int,
        max_events: int | None,
    ) -> None:
        self.database = database
        self.subscription = subscription
        self.events = events
        self.after = after
        self.max_events = max_events
        self.sent = 0
        self._recent: set[int] = set()
        self._recent_order: deque[int] = deque()

    @property
    def done(self) -> bool:
        return self.max_events is not None and self.sent >= self.max_events

    async def lines(self, greeting: str, *, replay: bool) -> AsyncIterator[str]:
        try:
            yield greeting
            if replay:
                async for line in self._catch_up():
                    yield line
            while not self.done:
                delivery = await self.subscription.next(KEEPALIVE_S)
                if delivery is None:
                    yield ": keep-alive\n\n"
                    continue
                if delivery.resync:  # what committed while the listener was away
                    async for line in self._catch_up():
                        yield line
                ids = [i for i in _event_ids(delivery.payloads) if i not in self._recent]
                if ids and not self.done:
                    for line in self._send(await self._rows(case_events.by_ids(self.events, ids))):
                        yield line
        except Overflow as exc:
            log.warning("staff alert stream dropped a slow client (%s)", exc)
        except DatabaseError as exc:
            log.warning("staff alert stream ended: %s", exc)
        finally:
            self.subscription.close()

    async def _catch_up(self) -> AsyncIterator[str]:
        """Everything after ``after``, a page at a time."""
        while not self.done:
            page = await self._rows(case_events.after(self.events, self.after, PAGE))
            for line in self._send(page):
                yield line
            if len(page) < PAGE:
                return

    def _remember(self, event_id: int) -> None:
        self._recent.add(event_id)
        self._recent_order.append(event_id)
        if len(self._recent_order) > RECENT:
            self._recent.discard(self._recent_order.popleft())

    async def _rows(self, statement: Statement) -> list[Row]:
        return await run_in_threadpool(self.database.fetch_all, statement)

    def _send(self, rows: list[Row]) -> Iterator[str]:
        for row in rows:
            if self.done:
                return
            event_id = int(row["event_id"])
            self.after = max(self.after, event_id)
            if event_id in self._recent:
                continue
            self._remember(event_id)
            self.sent += 1
            yield _sse(row)


@router.get(
    "/alerts/stream",
    summary="Live stream of case events (server-sent events)",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "an SSE stream"},
        **ERROR_RESPONSES,  # 429 from the rate limit (issue 15: it was undocumented), 413, 503 …
        **STAFF_RESPONSES,
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
    database = database_of(request)
    broadcast: Broadcast = request.app.state.case_events
    subscription = broadcast.subscribe()  # first: nothing that commits from now on is missed
    try:
        after = last_event_id
        if after is None:  # a new stream starts now
            row = await run_in_threadpool(database.fetch_one, case_events.latest())
            after = int(row["event_id"]) if row else 0
    except BaseException:
        subscription.close()
        raise
    stream = EventStream(
        database,
        subscription,
        EventFilter(kind, min_severity, enterprise_id),
        after=after,
        max_events=max_events,
    )
    greeting = f": sourcewatch case events for {user.username}\nretry: 3000\n\n"
    return StreamingResponse(
        stream.lines(greeting, replay=last_event_id is not None),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
