"""Request parameters shared by the routes: pagination, output format, periods, cursors, places.

Hard limits (documented in the OpenAPI description of each parameter):

* ``limit`` 1–1000 results per page (default 100), ``page`` from 1;
* series periods at most :data:`MAX_SPAN` long per resolution (raw 7 days, hourly 366 days,
  daily and monthly 3,660 days); without ``start``/``end`` the last :data:`DEFAULT_SPAN`;
* CSV without an explicit ``limit`` streams every row of the filtered result.

Every problem is an :class:`api.errors.InvalidParameter` naming the parameter, and so is a query
parameter the endpoint does not declare (:func:`reject_unknown`, for the operations of the
OpenAPI document; HTML pages stay lenient).

The dependencies here (:func:`pagination`, :func:`output_format`, :func:`reject_nul`) are
``async def`` because none of them blocks: FastAPI runs a sync dependency in the thread pool,
a hop there and back for each one on every request.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from difflib import get_close_matches
from typing import Annotated, Literal

from fastapi import FastAPI, Query, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel, BeforeValidator, Strict

from api.errors import InvalidParameter
from api.responses import LOCAL_TZ

__all__ = [
    "DATE_TIME",
    "DEFAULT_LIMIT",
    "DEFAULT_SPAN",
    "IGNORED_QUERY",
    "MAX_LIMIT",
    "MAX_SPAN",
    "POINT_PATTERN",
    "BBox",
    "Cursor",
    "Day",
    "Format",
    "Pagination",
    "Period",
    "Resolution",
    "declared_query",
    "decode_cursor",
    "encode_cursor",
    "index_query_names",
    "output_format",
    "pagination",
    "parse_bbox",
    "parse_instant",
    "parse_point",
    "prefers_csv",
    "reject_nul",
    "reject_unknown",
    "series_period",
]

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
MAX_PAGE = 1_000_000
FIRST_YEAR, LAST_YEAR = 1900, 2200  # dates outside are typos, and overflow date arithmetic
# In UTC, where the bounds are checked: "between 1900 and 2200" refused 1900-01-01 (Asia/Shanghai,
# 1899-12-31T16:00Z) without saying why.
OUTSIDE_THE_YEARS = f"must be from {FIRST_YEAR}-01-01 to before {LAST_YEAR}-01-01 (UTC)"

Format = Literal["json", "csv"]
Resolution = Literal["raw", "hour", "day", "month"]

MAX_SPAN: dict[str, timedelta] = {
    "raw": timedelta(days=7),
    "hour": timedelta(days=366),
    "day": timedelta(days=3660),
    "month": timedelta(days=3660),
}
DEFAULT_SPAN: dict[str, timedelta] = {
    "raw": timedelta(days=1),
    "hour": timedelta(days=7),
    "day": timedelta(days=90),
    "month": timedelta(days=366),
}


# --- Pagination and format ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Pagination:
    """``limit`` is None when the client gave none (JSON pages hold 100; CSV streams all)."""

    limit: int | None
    page: int

    @property
    def size(self) -> int:
        return self.limit or DEFAULT_LIMIT

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size

    def window(self, fmt: Format) -> tuple[int | None, int]:
        """(LIMIT, OFFSET) to query: no LIMIT for a CSV download without an explicit ``limit``."""
        if fmt == "csv" and self.limit is None:
            return None, 0
        return self.size, self.offset


async def pagination(
    limit: Annotated[
        int | None,
        Query(
            ge=1,
            le=MAX_LIMIT,
            description="Results per page, 1–1000 (default 100). A CSV download without "
            "`limit` streams every result.",
        ),
    ] = None,
    page: Annotated[
        int, Query(ge=1, le=MAX_PAGE, description="Page number, from 1; past the end: no results.")
    ] = 1,
) -> Pagination:
    return Pagination(limit, page)


def prefers_csv(accept: str) -> bool:
    """Whether an Accept header asks for text/csv at least as much as for application/json."""
    q_csv = q_json = 0.0
    for part in accept.split(","):
        media, *options = (p.strip() for p in part.split(";"))
        q = 1.0
        for option in options:
            name, _, value = option.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if media.lower() == "text/csv":
            q_csv = max(q_csv, q)
        elif media.lower() == "application/json":
            q_json = max(q_json, q)
    return q_csv > 0 and q_csv >= q_json


async def output_format(
    request: Request,
    fmt: Annotated[
        Format | None,
        Query(
            alias="format",
            description="`csv` or `json`; overrides the Accept header (`Accept: text/csv` "
            "also selects CSV).",
        ),
    ] = None,
) -> Format:
    if fmt is not None:
        return fmt
    return "csv" if prefers_csv(request.headers.get("accept", "")) else "json"


async def reject_nul(request: Request) -> None:
    """Router dependency: PostgreSQL text cannot hold NUL characters, so a parameter with one
    is refused as invalid (instead of failing in the database)."""
    items = [*request.query_params.multi_items(), *request.path_params.items()]
    for name, value in items:
        if "\x00" in name or (isinstance(value, str) and "\x00" in value):
            raise InvalidParameter(name.replace("\x00", ""), "must not contain NUL characters")


# --- Unknown parameters -------------------------------------------------------------------------

# Names a client adds that no endpoint declares and that are never a typo of one: campaign tags
# (utm_source …) on a shared link, and jQuery's cache-buster `_` (`$.ajax({cache: false})`) on a
# portal's call. Ignored everywhere, as they always were.
IGNORED_QUERY = re.compile(r"_|utm_[0-9A-Za-z_]*")


def declared_query(dependant: Dependant) -> frozenset[str]:
    """The query parameter names an operation declares: its own and those of every dependency
    (pagination, output_format …), by alias (``format``); a parameter model gives its fields."""
    names: set[str] = set()
    for field in dependant.query_params:
        model = field.field_info.annotation
        if isinstance(model, type) and issubclass(model, BaseModel):
            names |= {info.alias or name for name, info in model.model_fields.items()}
        else:
            names.add(field.alias)
    for dependency in dependant.dependencies:
        names |= declared_query(dependency)
    return frozenset(names)


def index_query_names(app: FastAPI) -> None:
    """Record, once the routes are all there, the query names of every operation the OpenAPI
    document describes (the JSON/CSV API, feeds, probes), for :func:`reject_unknown`.

    Keyed by the id of the route a request is matched to (``scope["route"]``): the app holds its
    routes, so no id is reused while the index lives in ``app.state``. Routes outside the
    document — the portal, the widgets, the console (HTML that people visit and portals embed,
    and that gets links with tracking parameters such as WeChat's ``from=…``) — are not indexed
    and take any parameter; so is a route added after this."""
    index: dict[int, frozenset[str]] = {}
    for context in iter_route_contexts(app.routes):
        dependant = getattr(context, "dependant", None)
        if isinstance(dependant, Dependant) and getattr(context, "include_in_schema", False):
            index[id(context.original_route)] = declared_query(dependant)
    app.state.query_names = index


async def reject_unknown(request: Request) -> None:
    """App dependency: a query parameter the operation does not declare is refused (422 naming
    it and listing those it takes), so that a typo (``day`` for ``date``) is not silently
    answered with the defaults. :data:`IGNORED_QUERY` names pass."""
    index: Mapping[int, frozenset[str]] = getattr(request.app.state, "query_names", {})
    accepted = index.get(id(request.scope.get("route")))
    if accepted is None:
        return
    unknown = [
        name
        for name in request.query_params
        if name not in accepted and not IGNORED_QUERY.fullmatch(name)
    ]
    if unknown:
        raise _unknown(unknown, accepted)


def _unknown(unknown: list[str], accepted: frozenset[str]) -> InvalidParameter:
    word = "parameter" if len(unknown) == 1 else "parameters"
    shown = [name[:40] for name in unknown[:10]]  # a flood of names is not echoed back
    message = f"unknown query {word} {', '.join(map(repr, shown))}"
    if len(unknown) > len(shown):
        message += f" and {len(unknown) - len(shown)} more"
    hints = [
        f"{match[0]!r} for {name!r}"
        for name in shown
        if (match := get_close_matches(name.lower(), sorted(accepted), n=1, cutoff=0.6))
    ]
    if hints:
        message += f" (did you mean {', '.join(hints)}?)"
    if accepted:
        message += f"; this endpoint takes {', '.join(sorted(accepted))}"
    else:
        message += "; this endpoint takes no query parameters"
    # bare: the message names every unknown name itself ("stat: unknown query parameters 'stat',
    # 'Limit'" would blame the first only)
    return InvalidParameter(unknown[0].replace("\x00", ""), message, bare=True)


# --- Days -------------------------------------------------------------------------------------

_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _iso_day(value: object) -> object:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and _DAY.fullmatch(value):
        return value  # pydantic checks that the day exists
    raise ValueError("must be a day as YYYY-MM-DD")


# A calendar day, as its OpenAPI schema says (`string`, `format: date`): only YYYY-MM-DD, not
# pydantic's lax forms (a number of seconds since 1970 such as 0, or a date-time), in a query
# and in a body alike; strict models still take it from the JSON string.
Day = Annotated[date, BeforeValidator(_iso_day), Strict(False)]


# --- Periods ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Period:
    """A half-open period [start, end) in UTC."""

    start: datetime
    end: datetime


# The OpenAPI schema of an instant parameter: an RFC 3339 date-time (with an offset). A date, or a
# date-time without an offset (Asia/Shanghai), is taken too, as each description says.
DATE_TIME: dict[str, str] = {"format": "date-time"}


def parse_instant(text: str, parameter: str, *, bounded: bool = True) -> datetime:
    """An ISO 8601 date or date-time; without an offset it is Asia/Shanghai local time.

    ``bounded``: between :data:`FIRST_YEAR` and :data:`LAST_YEAR` (a period's ends); else any
    date-time (a filter's bound: one before year 1 or after 9999 in UTC is the first or last)."""
    text = text.strip()
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidParameter(
            parameter,
            f"must be an ISO 8601 date or date-time such as 2026-11-28T08:00:00+08:00 "
            f"(no offset: Asia/Shanghai), got {text[:40]!r}",
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=LOCAL_TZ)
    try:
        value = value.astimezone(UTC)
    except OverflowError:
        if bounded:
            raise InvalidParameter(parameter, OUTSIDE_THE_YEARS) from None
        return (datetime.min if value.year == 1 else datetime.max).replace(tzinfo=UTC)
    if bounded and not FIRST_YEAR <= value.year < LAST_YEAR:
        raise InvalidParameter(parameter, OUTSIDE_THE_YEARS)
    return value


def series_period(resolution: str, start: str | None, end: str | None, now: datetime) -> Period:
    """The requested period, checked against :data:`MAX_SPAN`; defaults end at ``now``."""
    last = parse_instant(end, "end") if end is not None else now
    try:
        first = (
            parse_instant(start, "start") if start is not None else last - DEFAULT_SPAN[resolution]
        )
    except OverflowError:
        raise InvalidParameter("end", "is too early") from None
    if first >= last:
        raise InvalidParameter("end", "must be after start")
    span = MAX_SPAN[resolution]
    if last - first > span:
        raise InvalidParameter(
            "start",
            f"the period may be at most {span.days} days long at resolution {resolution}; "
            "ask for a coarser resolution or page through shorter periods",
        )
    return Period(first, last)


# --- Cursors ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where the next page of a series starts: the sort key of the last point sent, and the
    number of the page it opens."""

    key: tuple[str, ...]
    page: int


def encode_cursor(cursor: Cursor) -> str:
    raw = json.dumps({"k": list(cursor.key), "p": cursor.page}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(text: str) -> Cursor:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        data = json.loads(raw)
        key, page = data["k"], data["p"]
        if (
            isinstance(key, list)
            and all(isinstance(k, str) for k in key)
            and isinstance(page, int)
            and 1 < page <= MAX_PAGE
        ):
            return Cursor(tuple(key), page)
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError, KeyError):
        pass
    raise InvalidParameter("cursor", "is not a cursor from a `next` link of this endpoint")


# --- Places -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BBox:
    min_lon: float
    min_lat: float
    max_lon: float
    max_lat: float


def _numbers(text: str, count: int, parameter: str, shape: str) -> list[float]:
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        values = []
    if len(values) != count or not all(math.isfinite(v) for v in values):
        raise InvalidParameter(parameter, f"must be {shape} (decimal degrees), got {text[:60]!r}")
    return values


def _check(lon: float, lat: float, parameter: str) -> None:
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise InvalidParameter(parameter, "longitude must be in [-180, 180], latitude in [-90, 90]")


def parse_bbox(text: str) -> BBox:
    """``minLon,minLat,maxLon,maxLat``."""
    box = BBox(*_numbers(text, 4, "bbox", "minLon,minLat,maxLon,maxLat"))
    _check(box.min_lon, box.min_lat, "bbox")
    _check(box.max_lon, box.max_lat, "bbox")
    if box.min_lon > box.max_lon or box.min_lat > box.max_lat:
        raise InvalidParameter("bbox", "the minimum must not be above the maximum")
    return box


_LON = r"-?(180(\.0+)?|(1[0-7][0-9]|[0-9]{1,2})(\.[0-9]+)?)"
_LAT = r"-?(90(\.0+)?|[0-8]?[0-9](\.[0-9]+)?)"
# ``lon,lat`` in range, as the OpenAPI schema of a point parameter says it (parse_point checks)
POINT_PATTERN = rf"^{_LON},{_LAT}$"


def parse_point(text: str, parameter: str) -> tuple[float, float]:
    """``lon,lat``."""
    lon, lat = _numbers(text, 2, parameter, "lon,lat")
    _check(lon, lat, parameter)
    return lon, lat
