"""Per-client rate limit: a sliding 60-second window per client IP, kept in this process.

The documented limit (``SOURCEWATCH_API_RATE_LIMIT_PER_MINUTE``, default 120) applies to every
``/v1`` request and every portal and widget page (their static files are not counted); health
probes and the OpenAPI document are not counted. Each counted
response carries (IETF draft "RateLimit header fields for HTTP")::

    RateLimit-Limit: 120        requests allowed in any 60 s
    RateLimit-Remaining: 117    left now
    RateLimit-Reset: 42         seconds until the oldest counted request leaves the window

Beyond the limit: 429 in the one error shape, with ``Retry-After`` (seconds). Refused requests
are not counted. The client address is the one the ASGI server reports (behind a reverse proxy
run uvicorn with ``--proxy-headers`` / ``FORWARDED_ALLOW_IPS`` so it is the real client's).
Several API processes each count on their own.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import RateLimited, error_response

__all__ = ["Decision", "RateLimitMiddleware", "RateLimiter"]

WINDOW_S = 60.0


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_s: int  # until the oldest counted request leaves the window

    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_s),
        }


class RateLimiter:
    """A sliding log per key: at most ``limit`` timestamps within the last ``window_s``."""

    def __init__(
        self,
        limit: int,
        *,
        window_s: float = WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
        sweep_every: int = 10_000,
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self.clock = clock
        self.sweep_every = sweep_every
        self._hits: dict[str, deque[float]] = {}
        self._calls = 0

    def hit(self, key: str) -> Decision:
        """Count a request from ``key`` if the window has room; say what is left."""
        now = self.clock()
        self._calls += 1
        if self._calls % self.sweep_every == 0:
            self._sweep(now)
        log = self._hits.setdefault(key, deque())
        while log and log[0] <= now - self.window_s:
            log.popleft()
        allowed = len(log) < self.limit
        if allowed:
            log.append(now)
        reset = math.ceil(log[0] + self.window_s - now) if log else 0
        return Decision(allowed, self.limit, self.limit - len(log), max(reset, 0))

    def _sweep(self, now: float) -> None:
        """Forget clients whose last request left the window (bounds memory)."""
        idle = [k for k, log in self._hits.items() if not log or log[-1] <= now - self.window_s]
        for key in idle:
            del self._hits[key]


# Counted: the API and the pages that read the database; not their static files.
COUNTED = ("/v1/", "/portal/", "/widgets/")
EXEMPT = ("/portal/static/", "/widgets/sourcewatch-widgets.js")


class RateLimitMiddleware:
    """ASGI middleware applying a :class:`RateLimiter` to paths under ``prefixes`` (except
    those under ``exempt``)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        limiter: RateLimiter,
        prefixes: tuple[str, ...] = COUNTED,
        exempt: tuple[str, ...] = EXEMPT,
    ) -> None:
        self.app = app
        self.limiter = limiter
        self.prefixes = prefixes
        self.exempt = exempt

    def counts(self, path: str) -> bool:
        return path.startswith(self.prefixes) and not path.startswith(self.exempt)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or self.limiter.limit <= 0
            or not self.counts(str(scope.get("path", "")))
            or scope.get("method") == "OPTIONS"
        ):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        decision = self.limiter.hit(client[0] if client else "unknown")
        if not decision.allowed:
            response = error_response(RateLimited(decision.limit, max(decision.reset_s, 1)))
            response.headers.update(decision.headers())
            await response(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in decision.headers().items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, with_headers)
