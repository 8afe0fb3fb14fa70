"""The one place the HTTP channels talk to urllib: POST bytes, get status and body back.

Redirects are not followed (a webhook that moved is a configuration error, and following a
POST redirect would resend the body elsewhere). HTTP error statuses are answers, not
exceptions; only a failure to get an answer raises :class:`TransportError`.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import Message as HeaderMessage
from typing import IO, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from alerts.notify.channels.base import RESPONSE_CHARS
from alerts.notify.errors import TransportError

__all__ = ["HttpResponse", "post", "redact"]

USER_AGENT = "sourcewatch-notify/1"


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    body: bytes

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def summary(self) -> str:
        return self.body[: RESPONSE_CHARS * 4].decode("utf-8", "replace")[:RESPONSE_CHARS]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: HeaderMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def post(url: str, body: bytes, headers: Mapping[str, str], timeout_s: float) -> HttpResponse:
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"User-Agent": USER_AGENT, **headers}
    )
    try:
        with _opener.open(request, timeout=timeout_s) as response:
            return HttpResponse(response.status, _read(response))
    except urllib.error.HTTPError as exc:
        with exc:
            return HttpResponse(exc.code, _read(exc))
    except urllib.error.URLError as exc:
        raise TransportError(f"{redact(url)}: {exc.reason}") from exc
    except TimeoutError as exc:
        raise TransportError(f"{redact(url)}: timed out after {timeout_s:g} s") from exc
    except OSError as exc:
        raise TransportError(f"{redact(url)}: {exc}") from exc


def _read(response: Any) -> bytes:
    try:
        data: bytes = response.read(64 * 1024)
    except (OSError, ValueError):
        return b""
    return data


def redact(url: str) -> str:
    """The URL without user info and with its query values masked (robot keys, tokens)."""
    parts = urlsplit(url)
    query = parts.query and urlencode(
        [(k, "***") for k, _ in parse_qsl(parts.query, keep_blank_values=True)], safe="*"
    )
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2], query=query))
