"""Who may use a console page: the session of the request (:func:`api.auth.session_of`), the
role it needs, the CSRF token every POSTed form must carry, and the pages sent instead when
one of these is missing (:class:`ConsoleResponse`: the login page, or 403)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request, Response
from fastapi.responses import RedirectResponse
from starlette.datastructures import FormData

from api.auth import csrf_matches, session_of
from api.console import label, lang_of, page
from api.settings import ApiSettings
from schemas.staff.sessions import Session

__all__ = [
    "ConsoleResponse",
    "Form",
    "checked_form",
    "client_ip",
    "console_session",
    "form_text",
    "login_redirect",
    "message",
    "require_session",
    "secure_cookies",
    "send_response",
    "settings_of",
]


class ConsoleResponse(Exception):
    """Raised where a console page cannot go on (login needed, forbidden, refused form): the
    response to send. :func:`send_response` is its exception handler."""

    def __init__(self, response: Response) -> None:
        super().__init__("console response")
        self.response = response


async def send_response(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ConsoleResponse)
    return exc.response


def settings_of(request: Request) -> ApiSettings:
    settings = request.app.state.settings
    assert isinstance(settings, ApiSettings)
    return settings


def secure_cookies(request: Request) -> bool:
    return request.url.scheme == "https" or settings_of(request).staff_cookie_secure


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/staff/login?next={quote(target, safe='')}", status_code=303)


def message(
    request: Request, session: Session | None, status: int, title: str, message: str
) -> Response:
    return page(
        request,
        "message.html",
        status_code=status,
        title=title,
        message=message,
        user=session.user if session else None,
        csrf=session.csrf_token if session else "",
    )


def require_session(request: Request, role: str = "viewer") -> Session:
    """The request's console session, whose user has ``role``; else the login page or 403."""
    session = session_of(request)
    if session is None:
        raise ConsoleResponse(login_redirect(request))
    if not session.user.has(role):
        lang = lang_of(request)
        raise ConsoleResponse(
            message(
                request,
                session,
                403,
                label("forbidden", lang),
                label("forbidden_role", lang, role=role),
            )
        )
    return session


def session_before_body(request: Request) -> None:
    """A router dependency (resolved before any form is read): a POST without a console session
    is sent to the login page before its body, an upload perhaps, is read (issue 15)."""
    if request.method not in ("GET", "HEAD", "OPTIONS") and session_of(request) is None:
        raise ConsoleResponse(login_redirect(request))


def console_session(role: str) -> Callable[[Request], Session]:
    def dependency(request: Request) -> Session:
        return require_session(request, role)

    return dependency


async def read_form(request: Request) -> AsyncIterator[FormData]:
    """The submitted form; its uploaded files are closed once the response is sent."""
    form = await request.form()
    try:
        yield form
    finally:
        await form.close()


Form = Annotated[FormData, Depends(read_form)]


def checked_form(request: Request, form: FormData, role: str) -> Session:
    """The session of a POSTed console form: it must carry the session's CSRF token (403)."""
    session = session_of(request)
    given = form.get("csrf")
    if session is not None and not csrf_matches(session, given if isinstance(given, str) else None):
        lang = lang_of(request)
        raise ConsoleResponse(
            message(request, session, 403, label("forbidden", lang), label("csrf_refused", lang))
        )
    return require_session(request, role)


def form_text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""
