"""``/v1/exceedances``: public exceedance notices (超标公告), the public view of exceedance cases.

A notice says which outlet of which enterprise exceeded which limit (value, unit, reference
O₂, source document and clause), over which periods and by how much, whether the case is open
or closed and why, and when it was opened, escalated, closed or reopened. It never carries
what staff do with a case: assignees, acknowledgements, comments, replies or who acted.

The values are the enterprise's own online monitoring data, published as they come, not reviewed
by the authority: every notice says so (``quality``), and each period shows whether the mean it
was judged on is still valid now (a mean invalidated later shows ``valid: false`` and why).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, Field
from pydantic.json_schema import SkipJsonSchema

from api import convert
from api.db import Database, Row, get_database
from api.errors import ERROR_RESPONSES, NOT_FOUND_RESPONSE, NotFound
from api.params import (
    DATE_TIME,
    Format,
    Pagination,
    output_format,
    pagination,
    parse_instant,
    reject_nul,
)
from api.queries import cases as queries
from api.render import CSV_RESPONSE, json_response
from api.responses import (
    EnterpriseRef,
    Instant,
    Names,
    OutletRef,
    Page,
    Period,
    PollutantRef,
    instant,
    optional_instant,
)
from api.routes.common import list_response
from schemas.core.periods import period_in_progress

__all__ = [
    "QUALITY_NOTICE",
    "CaseLimit",
    "ExceedanceDetail",
    "ExceedanceNotice",
    "notice",
    "router",
]

router = APIRouter(
    prefix="/v1/exceedances",
    tags=["exceedances"],
    responses=ERROR_RESPONSES,
    dependencies=[Depends(reject_nul)],
)

QUALITY_NOTICE = Names(
    zh="实时公布数据属于企业自行监测数据，未经环境保护主管部门审核",
    en="Real-time published data are the enterprise's own self-monitoring data and have not "
    "been reviewed by the environmental protection authority",
)
PERIOD_LENGTH = {"hour": dt.timedelta(hours=1), "day": dt.timedelta(days=1)}

State = Literal["open", "closed"]
AveragingPeriod = Literal["hour", "day"]


class CaseLimit(BaseModel):
    """The limit the case is judged by, as recorded with its latest period."""

    value: float | None
    value_min: float | None = Field(description="Lower bound of a range limit (pH 6–9).")
    unit: str | None
    reference_o2: float | None = Field(description="Reference O₂ (%) of converted values.")
    source: Literal["standard", "outlet"] | None = Field(
        description="A bound national standard or the outlet's own (permit) limit."
    )
    standard: str | None
    source_document: str | None
    clause: str | None
    confirmed: bool | None = Field(description="Value checked against the cited source.")


class Quality(BaseModel):
    data_source: Literal["enterprise_self_monitoring"] = "enterprise_self_monitoring"
    reviewed_by_authority: bool = False
    notice: Names = QUALITY_NOTICE


class ExceedanceNotice(BaseModel):
    id: int
    enterprise: EnterpriseRef
    outlet: OutletRef
    pollutant: PollutantRef
    period: AveragingPeriod = Field(description="Averaging period of the means judged.")
    state: State
    severity: str
    opened: Instant
    escalated: Instant | None
    closed: Instant | None
    close_reason: str | None
    first_period: Period = Field(description="The first exceeding period of the case.")
    last_period: Period = Field(description="The latest period judged in the case.")
    max_multiple: float | None = Field(description="Highest (value − limit) / limit.")
    limit: CaseLimit
    quality: Quality


class PeriodValidity(BaseModel):
    valid: bool | None = Field(
        description="Whether the mean is valid now (null: the mean is no longer stored)."
    )
    reason: str | None = Field(description="Why it is not valid.")
    in_progress: bool = Field(
        description="The period has not ended yet (the running hour, the outlet's current local "
        "day): `valid`, `reason` and the case's `coverage` are those of the data so far and will "
        "change."
    )


class CasePeriod(BaseModel):
    period: Period
    value: float | None = Field(description="The value judged (converted where the limit has O₂).")
    limit: float | None
    multiple: float | None
    compliant: bool
    coverage: str | None = Field(description="Valid vs expected samples, e.g. 58/60.")
    validity: PeriodValidity


class Transition(BaseModel):
    action: Literal["opened", "escalated", "closed", "reopened"]
    at: Instant
    severity: str | None


class ExceedanceDetail(ExceedanceNotice):
    periods: list[CasePeriod]
    transitions: list[Transition]


def _period(start: dt.datetime, length: str) -> Period:
    return Period(
        start=instant(start), end=instant(start + PERIOD_LENGTH.get(length, dt.timedelta(hours=1)))
    )


def _limit(row: Row) -> CaseLimit:
    d: dict[str, Any] = row.get("limit_details") or {}
    value = d.get("limit") if d.get("limit") is not None else row.get("latest_limit_value")
    source = d.get("limit_source") or row.get("case_limit_source")
    confirmed = d.get("limit_confirmed")
    return CaseLimit(
        value=convert.number(value),
        value_min=convert.number(d.get("limit_min")),
        unit=d.get("unit"),
        reference_o2=convert.number(d.get("reference_o2")),
        source=source if source in ("standard", "outlet") else None,
        standard=d.get("standard"),
        source_document=d.get("source_document"),
        clause=d.get("clause"),
        confirmed=confirmed if isinstance(confirmed, bool) else None,
    )


def notice(row: Row) -> ExceedanceNotice:
    """A row of :mod:`api.queries.cases` as a public notice."""
    return ExceedanceNotice(
        id=row["id"],
        enterprise=convert.enterprise_ref(row),
        outlet=convert.outlet_ref(row),
        pollutant=convert.pollutant_ref(row),
        period=row["period"] if row["period"] in PERIOD_LENGTH else "hour",
        state=row["state"],
        severity=row["severity"],
        opened=instant(row["opened_at"]),
        escalated=optional_instant(row["escalated_at"]),
        closed=optional_instant(row["closed_at"]),
        close_reason=row["close_reason"],
        first_period=_period(row["first_at"], row["period"]),
        last_period=_period(row["last_at"], row["period"]),
        max_multiple=convert.number(row["max_multiple"]),
        limit=_limit(row),
        quality=Quality(),
    )


def _case_period(row: Row, length: str, now: dt.datetime) -> CasePeriod:
    return CasePeriod(
        period=_period(row["period_start"], length),
        value=convert.number(row["value"]),
        limit=convert.number(row["limit_value"]),
        multiple=convert.number(row["multiple"]),
        compliant=row["compliant"],
        coverage=row["coverage"],
        validity=PeriodValidity(
            valid=row["mean_valid"],
            reason=row["mean_reason"],
            in_progress=period_in_progress(
                row["period_start"], length, row["outlet_timezone"], now
            ),
        ),
    )


@router.get(
    "",
    response_model=Page[ExceedanceNotice],
    responses=CSV_RESPONSE,
    summary="List exceedance notices",
)
def list_exceedances(
    request: Request,
    db: Annotated[Database, Depends(get_database)],
    page: Annotated[Pagination, Depends(pagination)],
    fmt: Annotated[Format, Depends(output_format)],
    enterprise_id: Annotated[
        int | None, Query(ge=1, le=2**63 - 1, description="Only this enterprise's notices.")
    ] = None,
    outlet_id: Annotated[
        int | None, Query(ge=1, le=2**63 - 1, description="Only this outlet's notices.")
    ] = None,
    district: Annotated[
        str | None, Query(max_length=100, description="Administrative division, exact.")
    ] = None,
    pollutant: Annotated[
        str | None, Query(max_length=20, description="HJ 212 code, e.g. a21026.")
    ] = None,
    state: Annotated[State | None, Query(description="open or closed.")] = None,
    period: Annotated[
        AveragingPeriod | None, Query(description="Averaging period: hour or day.")
    ] = None,
    since: Annotated[
        str | SkipJsonSchema[None],
        Query(
            description="Cases whose latest period starts at or after this (ISO 8601).",
            json_schema_extra=DATE_TIME,
        ),
    ] = None,
    until: Annotated[
        str | SkipJsonSchema[None],
        Query(
            description="Cases whose first period starts before this (ISO 8601).",
            json_schema_extra=DATE_TIME,
        ),
    ] = None,
) -> Response:
    """Exceedance notices, newest first, with the limit and its source, the highest multiple
    and the quality notice (self-monitoring data, not reviewed). JSON pages or CSV."""
    f = queries.CaseFilter(
        enterprise_id=enterprise_id,
        outlet_id=outlet_id,
        district=district,
        pollutant=pollutant,
        state=state,
        period=period,
        since=parse_instant(since, "since", bounded=False) if since is not None else None,
        until=parse_instant(until, "until", bounded=False) if until is not None else None,
    )
    return list_response(
        request,
        db,
        fmt=fmt,
        pagination=page,
        count=queries.count(f),
        select=lambda limit, offset: queries.select(f, limit, offset),
        convert=notice,
        model=ExceedanceNotice,
        filename="exceedances.csv",
    )


@router.get(
    "/{case_id}",
    response_model=ExceedanceDetail,
    responses={**NOT_FOUND_RESPONSE, 304: CSV_RESPONSE[304]},
    summary="One exceedance notice with its periods and public transitions",
)
def get_exceedance(
    request: Request,
    db: Annotated[Database, Depends(get_database)],
    case_id: Annotated[int, Path(ge=1, le=2**63 - 1, description="Exceedance (case) id.")],
) -> Response:
    """The notice, each period judged (value, limit, multiple, compliant, and whether the mean
    is still valid), and when the case was opened, escalated, closed or reopened."""
    now = dt.datetime.now(dt.UTC)  # the clock of in_progress (schemas.core.periods)
    found, period_rows, event_rows = db.run(
        queries.one(case_id), queries.periods(case_id), queries.events(case_id)
    )
    if not found:
        raise NotFound(f"no exceedance {case_id}", parameter="case_id")
    summary = notice(found[0])
    detail = ExceedanceDetail(
        **summary.model_dump(),
        periods=[_case_period(r, summary.period, now) for r in period_rows],
        transitions=[
            Transition(action=r["action"], at=instant(r["at"]), severity=r["severity"])
            for r in event_rows
        ],
    )
    return json_response(request, detail)
