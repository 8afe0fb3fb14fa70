"""``/v1/outlets/{id}/completeness``: an outlet's transmission and validity rates (传输率, 有效率,
传输有效率) per local day, month or quarter (docs/completeness.md#rates), JSON or CSV."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from api import convert
from api.db import Database, Row, get_database
from api.errors import ERROR_RESPONSES, NOT_FOUND_RESPONSE, InvalidParameter
from api.params import (
    FIRST_YEAR,
    LAST_YEAR,
    Format,
    Pagination,
    output_format,
    pagination,
    reject_nul,
)
from api.queries import pollutants as pollutant_queries
from api.render import CSV_RESPONSE, csv_response, json_response
from api.responses import (
    LOCAL_TZ,
    CompletenessRate,
    Meta,
    Names,
    Page,
    Period,
    PollutantRef,
    instant,
)
from api.routes.outlets import OutletId, find_outlet
from schemas.completeness.expected import KIND_NAMES
from schemas.completeness.rates import Rate, RatePeriod, rates

__all__ = ["MAX_DAYS", "router", "to_response"]

router = APIRouter(
    tags=["completeness"], responses=ERROR_RESPONSES, dependencies=[Depends(reject_nul)]
)

# Longest request per period, in days (from `from` to `to`), and the default when `from` is
# not given.
MAX_DAYS: dict[str, int] = {"day": 366, "month": 1830, "quarter": 1830}
DEFAULT_DAYS: dict[str, int] = {"day": 30, "month": 365, "quarter": 365}


def _day(text: str | None, parameter: str) -> date | None:
    if text is None:
        return None
    try:
        value = date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidParameter(
            parameter, f"must be a date YYYY-MM-DD (Asia/Shanghai), got {text[:40]!r}"
        ) from None
    if not FIRST_YEAR <= value.year < LAST_YEAR:
        raise InvalidParameter(parameter, f"must be between {FIRST_YEAR} and {LAST_YEAR}")
    return value


def period_name(period: RatePeriod, start: datetime) -> str:
    local = start.astimezone(LOCAL_TZ)
    if period == "day":
        return local.date().isoformat()
    if period == "month":
        return f"{local.year}-{local.month:02d}"
    return f"{local.year}-Q{(local.month - 1) // 3 + 1}"


def _float(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def to_response(period: RatePeriod, rate: Rate, refs: dict[str, Row]) -> CompletenessRate:
    """The API's view of one :class:`~schemas.completeness.rates.Rate`."""
    pollutant: PollutantRef | None = None
    if rate.pollutant is not None:
        row = refs.get(rate.pollutant)
        pollutant = (
            convert.pollutant_ref(row, code_column="code", prefix="")
            if row is not None
            else PollutantRef(
                code=rate.pollutant, name=Names(zh=None, en=None), unit=Names(zh=None, en=None)
            )
        )
    zh, en = KIND_NAMES[rate.kind]
    return CompletenessRate(
        period=Period(start=instant(rate.period_start), end=instant(rate.period_end)),
        period_name=period_name(period, rate.period_start),
        pollutant=pollutant,
        kind=rate.kind,
        kind_name=Names(zh=zh, en=en),
        headline=rate.headline,
        expected=rate.expected,
        received=rate.received,
        valid=rate.valid,
        transmission_rate=_float(rate.transmission_rate),
        validity_rate=_float(rate.validity_rate),
        transmission_validity_rate=_float(rate.transmission_validity_rate),
        target=float(rate.target),
        meets_target=rate.meets_target,
        rules_confirmed=rate.rules_confirmed,
    )


@router.get(
    "/v1/outlets/{outlet_id}/completeness",
    response_model=Page[CompletenessRate],
    responses={**NOT_FOUND_RESPONSE, **CSV_RESPONSE},
    summary="An outlet's transmission and validity rates per day, month or quarter",
)
def get_completeness(
    request: Request,
    db: Annotated[Database, Depends(get_database)],
    page: Annotated[Pagination, Depends(pagination)],
    fmt: Annotated[Format, Depends(output_format)],
    outlet_id: OutletId,
    period: Annotated[
        RatePeriod, Query(description="Local (Asia/Shanghai) day, month or quarter.")
    ] = "day",
    first: Annotated[
        str | None,
        Query(
            alias="from",
            description="First local day (YYYY-MM-DD); its period is included. Default: "
            "30 days (day) or 365 days (month, quarter) before `to`.",
            examples=["2026-11-01"],
        ),
    ] = None,
    last: Annotated[
        str | None,
        Query(
            alias="to",
            description="Last local day (YYYY-MM-DD), included; default today. At most 366 "
            "days after `from` for days, 1,830 for months and quarters.",
            examples=["2026-11-30"],
        ),
    ] = None,
    headline: Annotated[
        bool | None,
        Query(description="true: only the outlet's headline rate of each period."),
    ] = None,
) -> Response:
    """Per period: records expected from the registry (real-time interval, minute, hour and
    day data), received and valid, and the rates the regulator assesses loggers by — 传输率
    (received / expected), 有效率 (valid / received) and 传输有效率 (their product) against
    its target (90 %, not yet confirmed against the official text: `rules_confirmed`). One
    result per period and data kind for the whole outlet (`pollutant` null) and per
    pollutant; `headline` marks the outlet's rate on hourly data. Hours count once they have
    ended; an outlet is expected to report each pollutant from its first data on."""
    find_outlet(db, outlet_id)
    today = datetime.now(UTC).astimezone(LOCAL_TZ).date()
    to_day = _day(last, "to") or today
    from_day = _day(first, "from") or to_day - timedelta(days=DEFAULT_DAYS[period])
    if from_day > to_day:
        raise InvalidParameter("to", "must not be before from")
    if (to_day - from_day).days > MAX_DAYS[period]:
        raise InvalidParameter(
            "from",
            f"at most {MAX_DAYS[period]} days for period={period}; ask for a coarser period "
            "or several shorter requests",
        )
    found = db.call(lambda conn: rates(conn, outlet_id, period, from_day, to_day))
    if headline is not None:
        found = [r for r in found if r.headline == headline]
    codes = sorted({r.pollutant for r in found if r.pollutant is not None})
    refs = {r["code"]: r for r in db.fetch_all(pollutant_queries.refs(codes))} if codes else {}
    limit, offset = page.window(fmt)
    chosen = found[offset:] if limit is None else found[offset : offset + limit]
    items = [to_response(period, r, refs) for r in chosen]
    filename = f"outlet-{outlet_id}-completeness-{period}.csv"
    if fmt == "csv":
        return csv_response(CompletenessRate, items, filename=filename)
    more = offset + len(items) < len(found)
    next_url = str(request.url.include_query_params(page=page.page + 1)) if more else None
    meta = Meta(page=page.page, limit=page.size, found=len(found), next=next_url)
    return json_response(request, Page[CompletenessRate](meta=meta, results=items))
