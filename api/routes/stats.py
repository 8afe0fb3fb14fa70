"""``/v1/stats``: exceedances, outlets and data capture per district or pollutant over a period."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field
from pydantic.json_schema import SkipJsonSchema

from api import convert
from api.db import Database, Row, get_database
from api.errors import ERROR_RESPONSES, InvalidParameter
from api.params import (
    DATE_TIME,
    Format,
    Pagination,
    output_format,
    pagination,
    parse_instant,
    reject_nul,
)
from api.queries import stats as queries
from api.render import CSV_RESPONSE
from api.responses import Page, Period, PollutantRef, instant
from api.routes.common import list_response
from schemas.completeness.expected import completed_until

__all__ = ["DEFAULT_SPAN", "MAX_SPAN", "router", "stats_period"]

router = APIRouter(
    prefix="/v1/stats",
    tags=["statistics"],
    responses=ERROR_RESPONSES,
    dependencies=[Depends(reject_nul)],
)

DEFAULT_SPAN = timedelta(days=30)
MAX_SPAN = timedelta(days=366)
_HOUR = timedelta(hours=1)


class DataCapture(BaseModel):
    valid_hours: int = Field(
        description="Valid hourly means starting in the period, of hours that have ended."
    )
    expected_hours: int = Field(
        description="Hours of the period that have ended (the running hour is in progress, not "
        "missing), for each outlet and pollutant with any hourly mean in the period."
    )
    rate: float | None = Field(description="valid_hours / expected_hours; null when none expected.")


class _Stats(BaseModel):
    period: Period
    enterprises: int
    outlets: int
    outlets_exceeding: int = Field(description="Outlets with an exceedance case in the period.")
    exceedances: int = Field(description="Exceedance cases with a period in the period.")
    open: int = Field(description="Of these, cases open now.")
    data_capture: DataCapture


class DistrictStats(_Stats):
    district: str | None


class PollutantStats(_Stats):
    pollutant: PollutantRef


def stats_period(start: str | None, end: str | None, now: datetime) -> tuple[datetime, datetime]:
    last = parse_instant(end, "end") if end is not None else now
    first = parse_instant(start, "start") if start is not None else last - DEFAULT_SPAN
    if first >= last:
        raise InvalidParameter("end", "must be after start")
    if last - first > MAX_SPAN:
        raise InvalidParameter("start", f"the period may be at most {MAX_SPAN.days} days long")
    return first, last


def hours_in(start: datetime, end: datetime) -> int:
    """Hour starts h (on the hour) with start ≤ h < end."""
    first = start.replace(minute=0, second=0, microsecond=0)
    if first < start:
        first += _HOUR
    return max(0, math.ceil((end - first) / _HOUR))


def _common(row: Row, start: datetime, end: datetime, now: datetime) -> dict[str, object]:
    expected = int(row["series"]) * hours_in(start, completed_until(end, now))
    valid = int(row["valid_hours"])
    return {
        "period": Period(start=instant(start), end=instant(end)),
        "enterprises": int(row["enterprises"]),
        "outlets": int(row["outlets"]),
        "outlets_exceeding": int(row["outlets_exceeding"]),
        "exceedances": int(row["exceedances"]),
        "open": int(row["open"]),
        "data_capture": DataCapture(
            valid_hours=valid,
            expected_hours=expected,
            rate=round(valid / expected, 4) if expected else None,
        ),
    }


StartParam = Annotated[
    str | SkipJsonSchema[None],
    Query(
        description="Start of the period, ISO 8601 (default: 30 days before `end`).",
        json_schema_extra=DATE_TIME,
    ),
]
EndParam = Annotated[
    str | SkipJsonSchema[None],
    Query(description="End of the period, ISO 8601 (default: now).", json_schema_extra=DATE_TIME),
]


@router.get(
    "/districts",
    response_model=Page[DistrictStats],
    responses=CSV_RESPONSE,
    summary="Exceedances, outlets and data capture per district",
)
def district_stats(
    request: Request,
    db: Annotated[Database, Depends(get_database)],
    page: Annotated[Pagination, Depends(pagination)],
    fmt: Annotated[Format, Depends(output_format)],
    start: StartParam = None,
    end: EndParam = None,
) -> Response:
    """Per district of the enterprises (null: not recorded), over a period of at most 366 days."""
    now = datetime.now(UTC)
    first, last = stats_period(start, end, now)

    def district(row: Row) -> DistrictStats:
        return DistrictStats.model_validate(
            {"district": row["key"], **_common(row, first, last, now)}
        )

    return list_response(
        request,
        db,
        fmt=fmt,
        pagination=page,
        count=queries.count("district", first, last, now=now),
        select=lambda limit, offset: queries.select(
            "district", first, last, limit, offset, now=now
        ),
        convert=district,
        model=DistrictStats,
        filename="stats-districts.csv",
    )


@router.get(
    "/pollutants",
    response_model=Page[PollutantStats],
    responses=CSV_RESPONSE,
    summary="Exceedances, outlets and data capture per pollutant",
)
def pollutant_stats(
    request: Request,
    db: Annotated[Database, Depends(get_database)],
    page: Annotated[Pagination, Depends(pagination)],
    fmt: Annotated[Format, Depends(output_format)],
    start: StartParam = None,
    end: EndParam = None,
) -> Response:
    """Per pollutant with hourly means or exceedance cases in the period (at most 366 days)."""
    now = datetime.now(UTC)
    first, last = stats_period(start, end, now)

    def pollutant(row: Row) -> PollutantStats:
        ref = convert.pollutant_ref(row, "key")
        return PollutantStats.model_validate({"pollutant": ref, **_common(row, first, last, now)})

    return list_response(
        request,
        db,
        fmt=fmt,
        pagination=page,
        count=queries.count("pollutant", first, last, now=now),
        select=lambda limit, offset: queries.select(
            "pollutant", first, last, limit, offset, now=now
        ),
        convert=pollutant,
        model=PollutantStats,
        filename="stats-pollutants.csv",
    )
