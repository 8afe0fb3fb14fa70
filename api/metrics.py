"""Prometheus metrics of the API: requests and their latency by route template and status,
counted by a small ASGI middleware, and ``GET /metrics`` serving the default registry.

The route template (``/v1/outlets/{outlet_id}``), never the raw path, labels a request, so the
label set stays bounded; a request no route matched (or answered before routing, e.g. a 429
from the rate limit on a path with parameters) is labelled ``unmatched``. The method label is
bounded too: a method outside :data:`METHODS` (any token is a valid HTTP method) counts as
``other``.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Histogram, generate_latest
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["METHODS", "MetricsMiddleware", "install", "router"]

# The methods of RFC 9110 and PATCH (RFC 5789): each its own label, anything else ``other``.
METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}
)

REQUESTS = Counter(
    "sourcewatch_api_requests",
    "HTTP requests by method, route template and status.",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "sourcewatch_api_request_seconds",
    "HTTP request latency (to the end of the response body) by route template and status.",
    ["route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)

router = APIRouter(tags=["health"])


@router.get("/metrics", include_in_schema=False)
def metrics() -> Response:
    return Response(
        generate_latest(REGISTRY),
        media_type=CONTENT_TYPE_LATEST,
        headers={"Cache-Control": "no-store"},
    )


class MetricsMiddleware:
    """Counts every HTTP request (outermost, so rate-limited and failed ones too)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = _template(scope)
            method = scope["method"] if scope["method"] in METHODS else "other"
            REQUESTS.labels(method, route, str(status)).inc()
            LATENCY.labels(route, str(status)).observe(time.perf_counter() - started)


def _template(scope: Scope) -> str:
    route: Any = scope.get("route")
    if route is not None and isinstance(getattr(route, "path", None), str):
        return str(route.path)
    app: Any = scope.get("app")
    for candidate in getattr(app, "routes", ()):
        path = getattr(candidate, "path", None)
        if isinstance(path, str) and candidate.matches(scope)[0] == Match.FULL:
            return path
    return "unmatched"


def install(app: FastAPI) -> None:
    """Add the middleware (outermost) and the ``/metrics`` route."""
    app.add_middleware(MetricsMiddleware)
    app.include_router(router)
