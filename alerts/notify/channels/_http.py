"""The one place the HTTP channels talk to urllib: POST bytes, get status and body back.

Redirects are not followed (a webhook that moved is a configuration error, and following a
POST redirect would resend the body elsewhere). HTTP error statuses are answers, not
exceptions; only a failure to get an answer raises :class:`TransportError`.

The host is resolved once per request, every address it resolves to is checked
(:mod:`schemas.core.addresses`: global addresses only, unless allowed), and the connection goes
to a checked address — never to what a second lookup might return (DNS rebinding). Proxies
from the environment are not used: the check is about the receiver, not a proxy.
"""

from __future__ import annotations

import http.client
import socket
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.message import Message as HeaderMessage
from functools import partial
from typing import IO, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from alerts.notify.channels.base import RESPONSE_CHARS
from alerts.notify.errors import TransportError
from schemas.core.addresses import TargetRefused, resolve_checked

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


def _checked_connect(allow_private: bool) -> Callable[..., socket.socket]:
    """``socket.create_connection`` for http.client, to checked addresses only."""

    def connect(
        address: tuple[str, int],
        timeout: float | None = None,
        source_address: tuple[str, int] | None = None,
    ) -> socket.socket:
        host, port = address
        failure: OSError | None = None
        for _, ip in resolve_checked(host, port, allow_private=allow_private):
            try:
                return socket.create_connection((ip, port), timeout, source_address)
            except OSError as exc:
                failure = exc
        assert failure is not None
        raise failure

    return connect


class _CheckedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args: Any, allow_private: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = _checked_connect(allow_private)


class _CheckedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, *args: Any, allow_private: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # TLS still verifies the certificate of the host name
        self._create_connection = _checked_connect(allow_private)


class _CheckedHTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, allow_private: bool) -> None:
        super().__init__()
        self.allow_private = allow_private

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(
            partial(_CheckedHTTPConnection, allow_private=self.allow_private),
            req,
        )


class _CheckedHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, allow_private: bool) -> None:
        super().__init__()
        self.allow_private = allow_private

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(
            partial(_CheckedHTTPSConnection, allow_private=self.allow_private),
            req,
        )


_openers = {
    allow: urllib.request.build_opener(
        urllib.request.ProxyHandler({}),
        _NoRedirect,
        _CheckedHTTPHandler(allow),
        _CheckedHTTPSHandler(allow),
    )
    for allow in (False, True)
}


def post(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    timeout_s: float,
    *,
    allow_private: bool = False,
) -> HttpResponse:
    """POST ``body`` to ``url``; to a host that resolves to a global address only, unless
    ``allow_private``."""
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"User-Agent": USER_AGENT, **headers}
    )
    try:
        with _openers[allow_private].open(request, timeout=timeout_s) as response:
            return HttpResponse(response.status, _read(response))
    except TargetRefused as exc:
        raise TransportError(f"{redact(url)}: refused: {exc}") from exc
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
