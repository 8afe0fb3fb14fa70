"""One error shape for every 4xx and 5xx the API sends, and the only module that knows statuses.

Every error body is::

    {"error": {"status": 422, "code": "invalid_parameter",
               "message": "limit: Input should be less than or equal to 1000 (got '1001')",
               "parameter": "limit"}}

``parameter`` is there only when one request parameter is to blame. The hierarchy::

    ApiError(status, code, message, *, parameter=None)
    ├── InvalidParameter      422  invalid_parameter   a query, path or body parameter is
    │                                                  wrong, or unknown (api/params.py
    │                                                  reject_unknown): the only 422
    ├── Unauthorized          401  unauthorized        no or bad credentials (staff endpoints)
    ├── Forbidden             403  forbidden           credentials without the right (staff)
    ├── NotFound              404  not_found           no such resource, or no such route
    ├── Conflict              409  conflict            not allowed in the resource's current state
    ├── TooLarge              413  too_large           an upload over its size limit
    ├── RateLimited           429  rate_limited        with Retry-After
    ├── InternalError         500  internal_error      a bug: logged here, never explained
    └── ServiceUnavailable    503  unavailable         the database does not answer in time

:func:`install` maps everything else onto it: FastAPI's ``RequestValidationError`` (naming the
parameter), Starlette's ``HTTPException`` (unknown routes, 405), the database errors of
:mod:`api.db`, the case errors of :mod:`schemas.cases.errors` (unknown case 404, invalid
transition 409), the registry's (unknown record 404, duplicate USCC or MN 409, an invalid
change 422 naming the field), the limits' and the subscriptions' (422, unknown
subscription 404), and — through :class:`UnhandledErrors` — any other exception, as a 500 that
never leaks SQL or a stack trace.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Mapping
from functools import lru_cache
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.db import DatabaseError, DatabaseUnavailable, QueryTimeout
from api.responses import ErrorBody, ErrorDetail
from schemas.cases.errors import CaseError, CaseNotFound, InvalidTransition
from schemas.disclosure.errors import (
    ContentError,
    DisclosureError,
    InvalidAction,
    RecordNotFound,
    RequestNotFound,
)
from schemas.limits.rules import LimitsError
from schemas.registry.changes import DuplicateRecord, InvalidChange, UnknownRecord
from schemas.registry.entries import RegistryError
from schemas.subscriptions import SubscriptionError, UnknownSubscription

__all__ = [
    "CONFLICT_RESPONSE",
    "DUPLICATE_RESPONSE",
    "ERROR_RESPONSES",
    "NOT_FOUND_RESPONSE",
    "STAFF_RESPONSES",
    "TOO_LARGE_RESPONSE",
    "ApiError",
    "Conflict",
    "Forbidden",
    "InternalError",
    "InvalidParameter",
    "NotFound",
    "RateLimited",
    "ServiceUnavailable",
    "TooLarge",
    "Unauthorized",
    "UnhandledErrors",
    "allowed_methods",
    "database_error",
    "error_response",
    "install",
]

log = logging.getLogger("sourcewatch.api")


class ApiError(Exception):
    """Root of the API's errors: an HTTP status, a stable machine code and a message for people."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        parameter: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.parameter = parameter
        self.headers = dict(headers or {})


class InvalidParameter(ApiError):
    """A request parameter (``body`` for the body as a whole) is wrong or unknown: its message
    begins with the parameter's name (``limit: …``), unless it is ``bare``, worded already as it
    is to be read (one that names several, or a problem in the words of the layer that found
    it)."""

    def __init__(self, parameter: str, message: str, *, bare: bool = False) -> None:
        super().__init__(
            422,
            "invalid_parameter",
            message if bare else f"{parameter}: {message}",
            parameter=parameter,
        )


class Unauthorized(ApiError):
    def __init__(self, message: str = "credentials are missing or not valid") -> None:
        super().__init__(401, "unauthorized", message, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(ApiError):
    def __init__(self, message: str = "these credentials do not allow this") -> None:
        super().__init__(403, "forbidden", message)


class NotFound(ApiError):
    def __init__(self, message: str, *, parameter: str | None = None) -> None:
        super().__init__(404, "not_found", message, parameter=parameter)


class Conflict(ApiError):
    def __init__(self, message: str) -> None:
        super().__init__(409, "conflict", message)


class TooLarge(ApiError):
    def __init__(self, parameter: str, limit: int) -> None:
        super().__init__(
            413,
            "too_large",
            f"{parameter}: larger than the {limit // 1024} KiB this endpoint takes",
            parameter=parameter,
        )


class RateLimited(ApiError):
    def __init__(self, limit: int, retry_after: int, *, window: str = "60 s") -> None:
        super().__init__(
            429,
            "rate_limited",
            f"more than {limit} requests in {window} from this address; retry in {retry_after} s",
            headers={"Retry-After": str(retry_after)},
        )


class InternalError(ApiError):
    def __init__(self, reference: str) -> None:
        super().__init__(
            500, "internal_error", f"internal error (reference {reference}); it has been logged"
        )


class ServiceUnavailable(ApiError):
    def __init__(self, message: str) -> None:
        super().__init__(503, "unavailable", message, headers={"Retry-After": "5"})


def error_response(exc: ApiError) -> JSONResponse:
    """The one rendering of an error, whatever raised it."""
    detail = ErrorDetail(
        status=exc.status, code=exc.code, message=exc.message, parameter=exc.parameter
    )
    content = ErrorBody(error=detail).model_dump(mode="json", exclude_none=True)
    return JSONResponse(content, status_code=exc.status, headers=exc.headers)


# --- Translation of other exceptions ------------------------------------------------------------


# Fields whose value an error message never echoes (issue 15: secrets are never printed back).
WRITE_ONLY_FIELDS = frozenset({"secret", "password", "pw", "token"})


def _from_validation(exc: RequestValidationError) -> ApiError:
    problems: list[str] = []
    parameters: list[str] = []
    for error in exc.errors():
        loc = [str(part) for part in error.get("loc", ())]
        where = loc[0] if loc else ""
        if where in ("query", "path", "header", "cookie", "body"):
            loc = loc[1:]
        name = ".".join(loc) or "request"
        # a repeated query parameter (pin=…&pin=…) is named, not its item (pin.1)
        parameters.append(loc[0] if loc and where in ("query", "header", "cookie") else name)
        given = error.get("input")
        secret = any(part.lower() in WRITE_ONLY_FIELDS for part in loc)
        shown = given is not None and not isinstance(given, dict) and not secret
        got = f" (got {str(given)[:40]!r})" if shown else ""
        problems.append(f"{name}: {error.get('msg', 'is not valid')}{got}")
    parameter = parameters[0] if parameters else "request"
    return InvalidParameter(parameter, "; ".join(problems), bare=True)


def _from_http(request: Request, exc: StarletteHTTPException) -> ApiError:
    status = exc.status_code
    if status == 400 and exc.detail == "There was an error parsing the body":
        # FastAPI's answer to a body that is not JSON: a bad parameter like any other (422)
        return InvalidParameter("body", "not valid JSON")
    if status == 400:
        # Starlette's answer to a malformed multipart body ("Missing boundary …"): the API
        # documents a bad body as 422, never 400 (issue 15, schemathesis)
        detail = exc.detail if isinstance(exc.detail, str) else "malformed"
        return InvalidParameter("body", detail)
    headers = dict(exc.headers or {})
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = f"HTTP {status}"
    code = {404: "not_found", 405: "method_not_allowed", 422: "invalid_parameter"}.get(
        status, phrase.lower().replace(" ", "_").replace("-", "_")
    )
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail else phrase
    if detail == phrase and status == 404:  # routing found nothing
        detail = f"no such resource: {request.url.path} (the routes are listed in /openapi.json)"
    elif status == 405:
        # Starlette names the methods of the first route on the path only; RFC 9110 wants all
        given = {k.lower(): v for k, v in headers.items()}.pop("allow", "GET")
        allowed = allowed_methods(request) or given
        headers = {k: v for k, v in headers.items() if k.lower() != "allow"} | {"Allow": allowed}
        if detail == phrase:
            detail = f"{request.method} is not allowed on {request.url.path} (allowed: {allowed})"
    return ApiError(status, code, detail, headers=headers)


@lru_cache(maxsize=1024)
def _path_pattern(path: str) -> re.Pattern[str]:
    return compile_path(path)[0]


def allowed_methods(request: Request) -> str:
    """Every method some route answers on the request's path, for a 405's ``Allow`` header
    (empty when no route has the path)."""
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.routes):
        if route.path and route.methods and _path_pattern(route.path).match(request.url.path):
            methods |= route.methods
    return ", ".join(sorted(methods))


def database_error(exc: DatabaseError) -> ApiError:
    """What a database failure is answered with (503, or a logged 500)."""
    return _from_database(exc)


def _from_database(exc: DatabaseError) -> ApiError:
    if isinstance(exc, QueryTimeout):
        return ServiceUnavailable(
            f"the query ran past {exc.seconds:g} s; ask for a shorter period or filter more"
        )
    if isinstance(exc, DatabaseUnavailable):
        return ServiceUnavailable("the database does not answer; try again shortly")
    return _internal(exc)


def _from_case(exc: CaseError) -> ApiError:
    if isinstance(exc, CaseNotFound):
        return NotFound(str(exc), parameter="case_id")
    if isinstance(exc, InvalidTransition):
        return Conflict(str(exc))
    return _internal(exc)  # a database failure behind the case code (the cause is logged)


def _from_disclosure(exc: DisclosureError) -> ApiError:
    if isinstance(exc, RecordNotFound):
        return NotFound(str(exc), parameter="record_id")
    if isinstance(exc, RequestNotFound):
        return NotFound(str(exc), parameter="request_id")
    if isinstance(exc, InvalidAction):
        return Conflict(str(exc))
    if isinstance(exc, ContentError):
        field = exc.errors[0]["field"] if exc.errors else None
        if exc.record_type in ("request", "challenge"):  # fields of the body itself
            return InvalidParameter(
                field or "body", exc.errors[0]["message"] if exc.errors else str(exc)
            )
        where = (
            f"content.{field}"
            if field and field not in ("record_type", "enterprise_id", "outlet_id", "formed_at")
            else field
        )
        return InvalidParameter(where or "content", str(exc))
    return _internal(exc)


def _from_registry(exc: RegistryError) -> ApiError:
    if isinstance(exc, UnknownRecord):
        return NotFound(str(exc))
    if isinstance(exc, DuplicateRecord):
        return Conflict(str(exc))
    if isinstance(exc, InvalidChange):
        return InvalidParameter(exc.field, exc.message)
    return InvalidParameter("body", str(exc), bare=True)


def _from_subscription(exc: SubscriptionError) -> ApiError:
    if isinstance(exc, UnknownSubscription):
        return NotFound(str(exc), parameter="subscription_id")
    return InvalidParameter("body", str(exc), bare=True)


def _internal(exc: BaseException) -> InternalError:
    reference = uuid.uuid4().hex[:12]
    log.error("internal error %s", reference, exc_info=exc)
    return InternalError(reference)


def install(app: FastAPI) -> None:
    """Register the translations on ``app`` (add :class:`UnhandledErrors` as middleware too)."""

    async def on_api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return error_response(exc)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return error_response(_from_validation(exc))

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        return error_response(_from_http(request, exc))

    async def on_database(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, DatabaseError)
        return error_response(_from_database(exc))

    async def on_case(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, CaseError)
        return error_response(_from_case(exc))

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(DatabaseError, on_database)
    app.add_exception_handler(CaseError, on_case)

    async def on_disclosure(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, DisclosureError)
        return error_response(_from_disclosure(exc))

    app.add_exception_handler(DisclosureError, on_disclosure)

    async def on_registry(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RegistryError)
        return error_response(_from_registry(exc))

    async def on_limits(request: Request, exc: Exception) -> JSONResponse:
        return error_response(InvalidParameter("body", str(exc), bare=True))

    async def on_subscription(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, SubscriptionError)
        return error_response(_from_subscription(exc))

    app.add_exception_handler(RegistryError, on_registry)
    app.add_exception_handler(LimitsError, on_limits)
    app.add_exception_handler(SubscriptionError, on_subscription)


class UnhandledErrors:
    """ASGI middleware: any exception that escaped the handlers becomes a logged 500 in the one
    error shape (inside CORS and rate limiting, so those headers are still set)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            error = _internal(exc)
            if started:  # a streamed body broke half-way: nothing more can be said
                raise
            await error_response(error)(scope, receive, send)


# --- OpenAPI ------------------------------------------------------------------------------------


def _doc(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    413: _doc("The request body is larger than this endpoint takes (api/bodylimit.py)."),
    422: _doc(
        "A parameter is not valid, or not one this operation takes; `error.parameter` names it."
    ),
    429: _doc("Rate limit exceeded; see the `Retry-After` and `RateLimit-*` headers."),
    500: _doc("Internal error; it has been logged, the message carries a reference."),
    503: _doc("The database did not answer in time; retry after `Retry-After` seconds."),
}
NOT_FOUND_RESPONSE: dict[int | str, dict[str, Any]] = {404: _doc("No such resource.")}
STAFF_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: _doc("No token, or an unknown, revoked or expired one."),
    403: _doc("The token's user lacks the role this endpoint needs."),
}
CONFLICT_RESPONSE: dict[int | str, dict[str, Any]] = {
    409: _doc("Not allowed in the case's current state (closing a closed case …)."),
}
DUPLICATE_RESPONSE: dict[int | str, dict[str, Any]] = {
    409: _doc("The USCC or MN is already registered to another record."),
}
TOO_LARGE_RESPONSE: dict[int | str, dict[str, Any]] = {
    413: _doc("The upload is larger than the endpoint takes."),
}
