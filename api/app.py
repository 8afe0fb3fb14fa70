"""The API application: :func:`create_app` wires settings, the pool, middleware and routers.

Nothing is built at import time; the pool is opened in the lifespan (psycopg's
``open=False`` + lifespan pattern) unless the caller passes one it owns.

Middleware, outermost first: metrics → CORS (public reads from any portal: any origin, no
credentials) → rate limit (``/v1`` only) → body limit (413 before a body is spooled) → staff
gate (401 before a ``/v1/staff/`` body is read) → gzip → unhandled errors → FastAPI (exception
handlers, routes).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.gzip import GZipMiddleware
from psycopg_pool import ConnectionPool
from starlette.concurrency import run_in_threadpool

from api import errors, metrics
from api.auth import StaffGate
from api.bodylimit import BodyLimitMiddleware
from api.broadcast import Broadcast
from api.db import QUERY_TIMEOUT_S, Database
from api.exports import IDLE_IN_TRANSACTION_S, ExportSlots
from api.params import index_query_names, reject_unknown
from api.ratelimit import RateLimiter, RateLimitMiddleware
from api.render import GZIP_LEVEL, GZIP_MINIMUM_SIZE
from api.routes import (
    cases,
    comparisons,
    completeness,
    console,
    console_admin,
    console_disclosures,
    console_requests,
    console_system,
    disclosure_feeds,
    disclosures,
    dumps,
    enterprises,
    feeds,
    health,
    measurements,
    outlets,
    pollutants,
    portal,
    portal_requests,
    publication,
    publication_feeds,
    requests,
    staff_audit,
    staff_cases,
    staff_disclosures,
    staff_limits,
    staff_recall,
    staff_registry,
    staff_requests,
    staff_stream,
    staff_subscriptions,
    staff_system_alerts,
    staff_users,
    stats,
    timeliness,
    widgets,
)
from api.settings import ApiSettings
from schemas.core import channels
from schemas.core.db import open_pool

__all__ = ["create_app"]

POOL_MAX_SIZE = 8

_DESCRIPTION = """\
Public API of sourcewatch: key-monitored enterprises, their outlets, online monitoring data
(HJ 212) with per-value flags and validity, valid hourly/daily/monthly means with coverage, and
the limits they are judged by with their source documents.

* **Formats**: JSON; CSV from the same endpoints with `Accept: text/csv` or `format=csv`
  (streamed, no row cap unless `limit` is given).
* **Paging**: `limit` 1–1000 (default 100) and `page`, `meta {{page, limit, found, next}}`;
  series page with `cursor` (`meta.next`, `Link: rel="next"`).
* **Times**: ISO 8601, returned as `{{utc, local}}` (Asia/Shanghai); means are period-ending.
* **Rate limit**: {rate} requests per client IP in any 60 s (sliding window); responses carry
  `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset`; beyond it 429 with
  `Retry-After`.
* **Caching**: `ETag` (answer `If-None-Match` with 304) and `Cache-Control` on public reads.
* **Errors**: always `{{"error": {{"status", "code", "message", "parameter"?}}}}`. Queries are
  cut off after {timeout:g} s (503).
* **Unknown parameters**: a query parameter an operation does not list is a 422
  (`invalid_parameter`) naming it and listing those the operation takes, so a typo (`stat` for
  `start`) is not answered with the defaults; `utm_*` and `_` (a cache-buster) are ignored.
"""


def create_app(settings: ApiSettings, *, pool: ConnectionPool | None = None) -> FastAPI:
    """The application. With ``pool`` the caller owns it (opened and closed by the caller);
    otherwise one is opened in the lifespan from ``settings.database``."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = pool is None
        used = pool or open_pool(
            settings.database,
            application_name="sourcewatch.api",
            max_size=POOL_MAX_SIZE,
            idle_in_transaction_s=IDLE_IN_TRANSACTION_S,
        )
        if own:
            used.open(wait=False)  # start even when the database is down: /readyz tells
        app.state.pool = used  # for code that runs its own SQL (staff endpoints)
        app.state.database = Database(used)
        try:
            yield
        finally:
            await app.state.case_events.close()
            if own:
                await run_in_threadpool(used.close)

    rate = settings.api_rate_limit_per_minute
    app = FastAPI(
        title="sourcewatch",
        version="1",
        description=_DESCRIPTION.format(
            rate=rate if rate > 0 else "unlimited", timeout=QUERY_TIMEOUT_S
        ),
        lifespan=lifespan,
        # an unknown query parameter is a 422 on the operations of the OpenAPI document
        dependencies=[Depends(reject_unknown)],
    )
    app.state.settings = settings
    # requests for information: a second, hourly limit per address on submitting them
    app.state.submit_limiter = RateLimiter(settings.api_request_submits_per_hour, window_s=3600)
    app.state.export_slots = ExportSlots(settings.api_streams_per_client)
    # one LISTEN connection for every live stream of this process, opened on first use
    app.state.case_events = Broadcast(
        settings.database, channels.CASE_EVENTS, application_name="sourcewatch.api.listen"
    )
    errors.install(app)
    app.add_middleware(errors.UnhandledErrors)
    # responses of 1,000 bytes or more, when the client accepts gzip (api.render)
    app.add_middleware(GZipMiddleware, minimum_size=GZIP_MINIMUM_SIZE, compresslevel=GZIP_LEVEL)
    app.add_middleware(StaffGate)
    app.add_middleware(BodyLimitMiddleware, settings=settings)
    app.add_middleware(RateLimitMiddleware, limiter=RateLimiter(rate))
    app.add_middleware(
        CORSMiddleware,
        allow_origins=["*"],
        allow_credentials=False,
        allow_methods=["GET", "OPTIONS"],
        allow_headers=["Accept", "If-None-Match"],
        expose_headers=[
            *("ETag", "Link", "Retry-After", "Content-Disposition"),
            *("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"),
        ],
        max_age=3600,
    )
    # staff: authenticated, each route declares the role it needs (api/auth.py)
    for module in (
        *(health, enterprises, outlets, measurements, pollutants, staff_stream, staff_cases),
        *(cases, stats, feeds, completeness),
    ):
        app.include_router(module.router)
    app.include_router(disclosures.router)  # the eight categories
    app.include_router(disclosure_feeds.router)
    app.include_router(comparisons.router)  # supervisory results beside online data
    app.include_router(staff_disclosures.router)  # authoring, review, publication
    app.include_router(staff_audit.router)  # the audit log (admin)
    app.include_router(requests.router)  # requests for information (依申请公开)
    app.include_router(staff_requests.router)  # registering, answering, overdue list
    # staff management (audited): limits before the registry, so /v1/staff/outlets/unjudged
    # is not read as an outlet id
    app.include_router(staff_limits.router)
    app.include_router(staff_registry.router)
    app.include_router(staff_subscriptions.router)
    app.include_router(staff_users.router)
    app.include_router(staff_system_alerts.router)  # the service losing data (issue 14)
    app.include_router(staff_recall.router)  # history recall: gaps, requests, tries
    app.include_router(dumps.router)  # bulk downloads: files written by `sourcewatch dump`
    app.include_router(portal.router)  # HTML pages, not in the OpenAPI schema
    app.include_router(portal.home)  # / redirects to the portal
    app.include_router(portal_requests.router)  # the request form and tracking page
    app.include_router(console.router)  # the staff console's pages (session login)
    app.include_router(console_disclosures.router)  # the console's disclosure authoring
    app.include_router(console_admin.router)  # the console's administration pages
    app.include_router(console_requests.router)  # the console's requests for information
    app.include_router(console_system.router)  # the console's system alerts, gaps, recall
    app.add_exception_handler(console.ConsoleResponse, console.send_response)
    app.include_router(widgets.router)  # embeddable widgets, not in the OpenAPI schema
    app.include_router(timeliness.router)  # disclosure timeliness, annual report
    app.include_router(publication.router)  # hash-chained log, signed roots, keys, verify
    app.include_router(publication_feeds.router)  # the signed roots as feeds, to mirror
    metrics.install(app)  # outermost middleware: counts every request; GET /metrics
    index_query_names(app)  # for reject_unknown: what each operation declares
    return app
