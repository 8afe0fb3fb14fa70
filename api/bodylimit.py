"""A size limit on every request body, checked as it arrives, before anything spools it.

Every route takes at most ``SOURCEWATCH_API_MAX_BODY_BYTES`` (1 MiB); uploads have their own
limits (the whole HTTP body, multipart framing included):

* ``POST /v1/staff/disclosures/{id}/attachments`` and the console's
  ``/staff/disclosures/{id}/attach``: ``SOURCEWATCH_API_MAX_ATTACHMENT_BYTES``;
* ``POST …/import`` (disclosure drafts, the registry, permit limits) and the console's uploads of
  the same (``/staff/disclosures/import``, ``/staff/admin/registry``,
  ``/staff/admin/limits/import``): ``SOURCEWATCH_API_MAX_IMPORT_BYTES``.

The console's pages ask for the session before reading a form (``session_before_body``), as
:class:`api.auth.StaffGate` does for the staff API.

A ``Content-Length`` over the limit is answered 413 at once, without reading a byte of the body;
a body without one (chunked) is counted as it is read and cut off with 413 the moment it passes
the limit. The endpoints still check the file inside against their own limits (an attachment at
most 20 MiB, an import 10 MiB, a registry file 5 MiB, a limits file 1 MiB).
"""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import TooLarge, error_response
from api.settings import ApiSettings

__all__ = ["BodyLimitMiddleware", "body_limit"]

_ATTACHMENT = re.compile(
    r"^/(?:v1/staff/disclosures/[^/]+/attachments|staff/disclosures/[^/]+/attach)/?$"
)
_IMPORT = re.compile(
    r"^/(?:v1/staff/(?:.+/)?import|staff/disclosures/import|staff/admin/registry"
    r"|staff/admin/limits/import)/?$"
)


def body_limit(settings: ApiSettings, method: str, path: str) -> int:
    """The most bytes a request body to ``method`` ``path`` may have."""
    if method == "POST" and _ATTACHMENT.match(path):
        return settings.api_max_attachment_bytes
    if method == "POST" and _IMPORT.match(path):
        return settings.api_max_import_bytes
    return settings.api_max_body_bytes


class _Exceeded(Exception):
    """Raised from ``receive`` when a body without Content-Length passes its limit."""


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, settings: ApiSettings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = body_limit(self.settings, scope["method"], scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await error_response(TooLarge("body", limit))(scope, receive, send)
            return
        received = 0
        exceeded = started = False

        async def counted() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise _Exceeded
            return message

        async def watch(message: Message) -> None:
            nonlocal started
            if exceeded and not started:
                return  # whatever the app makes of a body cut off (400, 500) is replaced
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, watch)
        except Exception:
            if not exceeded or started:
                raise
        if exceeded and not started:
            await error_response(TooLarge("body", limit))(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
