"""``/v1/outlets/{id}/measurements``: an outlet's series, raw or as hourly/daily/monthly means."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel
from pydantic.json_schema import SkipJsonSchema

from api.aggregates import hourly_aggregate
from api.db import Database, Row, fetch_rows, get_database
from api.errors import ERROR_RESPONSES, NOT_FOUND_RESPONSE, InvalidParameter
from api.exports import spooled_csv, spooled_lines
from api.params import (
    DATE_TIME,
    Cursor,
    Format,
    Resolution,
    decode_cursor,
    encode_cursor,
    output_format,
    reject_nul,
    series_period,
)
from api.params import Period as RequestedPeriod
from api.queries import measurements as queries
from api.queries import pollutants as pollutant_queries
from api.queries.limits import LimitCalendar, limit_calendar
from api.queries.outlets import flag_standard
from api.render import (
    CSV_RESPONSE,
    csv_response,
    csv_stream,
    json_body_response,
    json_response,
)
from api.responses import (
    LOCAL_TZ,
    DayPoint,
    HourPoint,
    MonthPoint,
    Period,
    RawPoint,
    Series,
    SeriesMeta,
    instant,
)
from api.routes.outlets import OutletId, find_outlet
from api.series import (
    MODELS,
    converter,
    day_bounds,
    hour_csv_lines,
    hour_json_points,
    key_of,
    parse_key,
)
from schemas.core.localtime import LOCAL_TZ_NAME

__all__ = ["router"]

router = APIRouter(
    tags=["measurements"], responses=ERROR_RESPONSES, dependencies=[Depends(reject_nul)]
)

SeriesResponse = Series[RawPoint] | Series[HourPoint] | Series[DayPoint] | Series[MonthPoint]


@router.get(
    "/v1/outlets/{outlet_id}/measurements",
    response_model=SeriesResponse,
    responses={**NOT_FOUND_RESPONSE, **CSV_RESPONSE},
    summary="An outlet's series: raw values, or hourly, daily or monthly means",
)
def get_measurements(
    request: Request,
    db: Annotated[Database, Depends(get_database)],
    fmt: Annotated[Format, Depends(output_format)],
    outlet_id: OutletId,
    pollutant: Annotated[
        str | None,
        Query(min_length=1, max_length=20, description="HJ 212-2017 code; default: all."),
    ] = None,
    resolution: Annotated[
        Resolution,
        Query(
            description="raw (values as sent, ≤ 7 days), hour (≤ 366 days), day or month "
            "(≤ 3,660 days)."
        ),
    ] = "hour",
    start: Annotated[
        str | SkipJsonSchema[None],
        Query(
            description="ISO 8601 date or date-time (no offset: Asia/Shanghai). Points whose "
            "period starts at or after it. Default: end minus 1 day (raw), 7 days (hour), "
            "90 days (day), 366 days (month).",
            examples=["2026-11-01T00:00:00+08:00"],
            json_schema_extra=DATE_TIME,
        ),
    ] = None,
    end: Annotated[
        str | SkipJsonSchema[None],
        Query(
            description="ISO 8601; points whose period starts before it. Default: now.",
            examples=["2026-11-08T00:00:00+08:00"],
            json_schema_extra=DATE_TIME,
        ),
    ] = None,
    kind: Annotated[
        Literal["rtd", "min", "hour", "day"] | None,
        Query(description="raw only: one data kind as sent (real-time, minute, hour, day)."),
    ] = None,
    limit: Annotated[
        int | None,
        Query(
            ge=1,
            le=1000,
            description="Points per page, 1–1000 (default 100). A CSV "
            "download without `limit` streams every point of the period.",
        ),
    ] = None,
    cursor: Annotated[
        str | None,
        Query(max_length=500, description="Opaque; from the `next` link of the previous page."),
    ] = None,
) -> Response:
    """Points sorted by time then pollutant. Means are period-ending (`datetime` = end of
    `period`) with their coverage; each point carries the limit in force on its day (hourly
    limits for raw and hourly points, daily limits for daily points) and valid means the
    exceedance judgement. Long series are paged with `cursor` (`meta.next`, `Link` header).
    An hour or local day not over yet has `in_progress: true`: its `valid` and `reason` are
    the stored judgement of the data so far (a running hour with 26 valid minutes is not valid
    *yet*), not a data-quality failure."""
    page_size = None if fmt == "csv" and limit is None else limit or 100
    found: int | None = None
    hour_rows: list[tuple[Any, ...]] = []
    # One transaction for the outlet, the limit calendar and, for hourly points, the count and
    # the page: one pool checkout and one commit where there were three. Hourly points' texts
    # are written fastest in the published zone (api.queries.measurements).
    hour_zone = LOCAL_TZ_NAME if resolution == "hour" else None
    with db.connection(timezone=hour_zone) as conn:
        outlet = find_outlet(conn, outlet_id)
        if pollutant is not None and not fetch_rows(conn, pollutant_queries.one(pollutant)):
            raise InvalidParameter("pollutant", f"unknown HJ 212 code {pollutant!r}")
        if kind is not None and resolution != "raw":
            raise InvalidParameter("kind", "applies to resolution=raw only")
        now = datetime.now(UTC)  # the default end, and the clock of `in_progress`
        period = series_period(resolution, start, end, now)
        position = decode_cursor(cursor) if cursor is not None else None
        after = parse_key(resolution, position.key) if position is not None else None
        try:
            tz = ZoneInfo(outlet["timezone"])
        except (ZoneInfoNotFoundError, ValueError):
            tz = LOCAL_TZ
        first_day, end_day = day_bounds(resolution, period.start, period.end, tz)
        f = queries.SeriesFilter(
            outlet_id=outlet_id,
            start=period.start,
            end=period.end,
            first_day=first_day,
            end_day=end_day,
            timezone=str(tz),
            flag_standard=flag_standard(outlet["protocol_profile"]),
            pollutant=pollutant,
            kind=kind,
            now=now,
        )
        if resolution == "month":
            calendar = LimitCalendar([], [])
        else:
            first = period.start.astimezone(tz).date()
            last = (period.end - timedelta(microseconds=1)).astimezone(tz).date()
            calendar = limit_calendar(conn, outlet_id, first, last)
        if resolution == "hour" and page_size is not None:
            if fmt == "csv":
                statement = queries.hour_csv_rows(
                    f, local_tz=LOCAL_TZ_NAME, after=after, limit=page_size + 1, keyed=True
                )
                hour_rows = conn.execute(statement.query, statement.params).fetchall()
            else:
                count = queries.count("hour", f)
                statement = queries.hour_json_rows(
                    f, local_tz=LOCAL_TZ_NAME, after=after, limit=page_size + 1
                )
                with conn.pipeline():  # both sent at once: one round trip
                    count_cursor = conn.execute(count.query, count.params)
                    page_cursor = conn.execute(statement.query, statement.params)
                (found,) = count_cursor.fetchall()[0]
                hour_rows = page_cursor.fetchall()
    # Hourly points, the longest series, are written mostly by PostgreSQL (no model per point).
    to_point: Callable[[Row], BaseModel] = converter(resolution, calendar, tz)
    model = MODELS[resolution]
    filename = f"outlet-{outlet_id}-{resolution}.csv"

    if page_size is None:
        if resolution == "hour":
            return spooled_lines(
                request,
                db,
                queries.hour_csv_rows(f, local_tz=LOCAL_TZ_NAME, after=after, limit=None),
                lambda rows: hour_csv_lines(calendar, rows),
                filename=filename,
                tuples=True,
                timezone=hour_zone,
            )
        statement = queries.points(resolution, f, after=after, limit=None)
        return spooled_csv(request, db, statement, to_point, model, filename=filename)

    size = page_size
    if resolution == "hour":
        if found is None:
            return _hour_csv_page(request, hour_rows, calendar, position, size, filename)
        return _hour_json_page(request, hour_rows, found, calendar, position, size, period)
    counted, rows = db.run(
        queries.count(resolution, f, aggregate=hourly_aggregate(db)),
        queries.points(resolution, f, after=after, limit=size + 1),
    )
    more = len(rows) > size
    rows = rows[:size]
    page = position.page if position is not None else 1
    next_url = None
    if more:
        token = encode_cursor(Cursor(key_of(resolution, rows[-1]), page + 1))
        next_url = str(request.url.include_query_params(cursor=token))
    if fmt == "csv":
        response = csv_response(model, [to_point(row) for row in rows], filename=filename)
        if next_url:
            response.headers["Link"] = f'<{next_url}>; rel="next"'
        return response
    points = [to_point(row) for row in rows]
    meta = SeriesMeta(
        page=page,
        limit=size,
        found=int(counted[0]["found"]),
        next=next_url,
        resolution=resolution,
        period=Period(start=instant(period.start), end=instant(period.end)),
    )
    series = Series[model](meta=meta, results=points)  # type: ignore[valid-type]
    return json_response(request, series)


def _hour_csv_page(
    request: Request,
    rows: list[tuple[Any, ...]],
    calendar: LimitCalendar,
    position: Cursor | None,
    size: int,
    filename: str,
) -> Response:
    """One page of hourly points as CSV (:func:`api.series.hour_csv_lines`) from ``size`` + 1
    rows of :func:`api.queries.measurements.hour_csv_rows`, with the next page's link as a
    JSON page of the same points has it."""
    more = len(rows) > size
    rows = rows[:size]
    response = csv_stream(hour_csv_lines(calendar, rows), filename=filename)
    if more:
        key_row = dict(zip(queries.HOUR_CSV_COLUMNS, rows[-1], strict=True))
        page = position.page if position is not None else 1
        token = encode_cursor(Cursor(key_of("hour", key_row), page + 1))
        next_url = str(request.url.include_query_params(cursor=token))
        response.headers["Link"] = f'<{next_url}>; rel="next"'
    return response


def _hour_json_page(
    request: Request,
    rows: list[tuple[Any, ...]],
    found: int,
    calendar: LimitCalendar,
    position: Cursor | None,
    size: int,
    period: RequestedPeriod,
) -> Response:
    """One page of hourly points as JSON (:func:`api.series.hour_json_points`) from ``size``
    + 1 rows of :func:`api.queries.measurements.hour_json_rows` and the count of every point,
    read in the same transaction."""
    more = len(rows) > size
    rows = rows[:size]
    page = position.page if position is not None else 1
    next_url = None
    if more:
        last = dict(zip(queries.HOUR_JSON_COLUMNS, rows[-1], strict=True))
        # the start's UTC text as the page wrote it (ISO 8601, ``Z``): the cursor's key
        key_row = {**last, "period_start": datetime.fromisoformat(last["start_utc"])}
        token = encode_cursor(Cursor(key_of("hour", key_row), page + 1))
        next_url = str(request.url.include_query_params(cursor=token))
    meta = SeriesMeta(
        page=page,
        limit=size,
        found=found,
        next=next_url,
        resolution="hour",
        period=Period(start=instant(period.start), end=instant(period.end)),
    )
    results = b",".join(hour_json_points(calendar, rows))
    body = b"".join((b'{"meta":', meta.model_dump_json().encode(), b',"results":[', results, b"]}"))
    return json_body_response(request, body, next_url=next_url)
