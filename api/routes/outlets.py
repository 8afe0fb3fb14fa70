"""``/v1/outlets``: discharge outlets, their limits in force and their latest values."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import psycopg
from fastapi import APIRouter, Depends, Path, Query, Request, Response

from api import convert
from api.db import Database, Row, fetch_rows, get_database
from api.errors import ERROR_RESPONSES, NOT_FOUND_RESPONSE, NotFound
from api.params import Day, Format, Pagination, output_format, pagination, reject_nul
from api.queries import outlets as queries
from api.queries import pollutants as pollutant_queries
from api.render import CSV_RESPONSE, csv_response, json_response
from api.responses import (
    LOCAL_TZ,
    Latest,
    LatestValue,
    Names,
    Outlet,
    OutletDetail,
    OutletLimit,
    Page,
    PollutantRef,
    instant,
)
from api.routes.common import list_response
from schemas.limits.rules import limits_for_outlet

__all__ = ["OutletId", "find_outlet", "router"]

router = APIRouter(
    prefix="/v1/outlets",
    tags=["outlets"],
    responses=ERROR_RESPONSES,
    dependencies=[Depends(reject_nul)],
)

OutletId = Annotated[int, Path(ge=1, le=2**63 - 1, description="Outlet id.")]


def find_outlet(db: Database | psycopg.Connection[Any], outlet_id: int) -> Row:
    """The outlet row (with status), or 404 naming ``outlet_id``; on a connection of
    :meth:`Database.connection`, in its transaction."""
    statement = queries.one(outlet_id)
    if isinstance(db, Database):
        row = db.fetch_one(statement)
    else:
        row = next(iter(fetch_rows(db, statement)), None)
    if row is None:
        raise NotFound(f"no outlet {outlet_id}", parameter="outlet_id")
    return row


@router.get("", response_model=Page[Outlet], responses=CSV_RESPONSE, summary="List outlets")
def list_outlets(
    request: Request,
    db: Annotated[Database, Depends(get_database)],
    page: Annotated[Pagination, Depends(pagination)],
    fmt: Annotated[Format, Depends(output_format)],
    enterprise_id: Annotated[
        int | None, Query(ge=1, le=2**63 - 1, description="Outlets of this enterprise.")
    ] = None,
    kind: Annotated[
        Literal["gas", "water"] | None, Query(description="Flue gas or wastewater.")
    ] = None,
    active: Annotated[bool | None, Query(description="Only active (or inactive) outlets.")] = None,
    q: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=100,
            description="Substring of the name, or the permit outlet code (e.g. DA001).",
        ),
    ] = None,
) -> Response:
    """Outlets with their current status (latest data time, open cases by kind)."""
    f = queries.OutletFilter(enterprise_id=enterprise_id, kind=kind, active=active, q=q)
    return list_response(
        request,
        db,
        fmt=fmt,
        pagination=page,
        count=queries.count(f),
        select=lambda limit, offset: queries.select(f, limit, offset),
        convert=convert.outlet,
        model=Outlet,
        filename="outlets.csv",
    )


@router.get(
    "/{outlet_id}",
    response_model=OutletDetail,
    responses={**NOT_FOUND_RESPONSE, 304: CSV_RESPONSE[304]},
    summary="One outlet with the limits in force and their source documents",
)
def get_outlet(
    request: Request,
    db: Annotated[Database, Depends(get_database)],
    outlet_id: OutletId,
    on: Annotated[
        Day | None,
        Query(description="Day whose limits to show (YYYY-MM-DD); default today, Asia/Shanghai."),
    ] = None,
) -> Response:
    """The outlet, its enterprise, status, and one limit per (pollutant, averaging period) in
    force on the day: the outlet's own limit (permit, local standard) or else that of the
    standard it is bound to, each with its source document, clause and version."""
    row = find_outlet(db, outlet_id)
    day = on or datetime.now(UTC).astimezone(LOCAL_TZ).date()
    limits = db.call(lambda conn: limits_for_outlet(conn, outlet_id, day))
    codes = sorted({lim.pollutant for lim in limits})
    refs = {r["code"]: r for r in db.fetch_all(pollutant_queries.refs(codes))}
    detail = OutletDetail(
        **convert.outlet(row).model_dump(),
        enterprise=convert.enterprise_ref(row),
        limits_on=day,
        limits=[
            OutletLimit(
                **convert.limit_ref(lim).model_dump(),
                pollutant=_ref(lim.pollutant, refs.get(lim.pollutant)),
            )
            for lim in limits
        ],
    )
    return json_response(request, detail)


def _ref(code: str, row: Row | None) -> PollutantRef:
    if row is None:
        return PollutantRef(code=code, name=Names(zh=None, en=None), unit=Names(zh=None, en=None))
    return convert.pollutant_ref(row, code_column="code", prefix="")


def _latest(row: Row) -> LatestValue:
    return LatestValue(
        pollutant=convert.pollutant_ref(row),
        kind=row["kind"],
        datetime=instant(row["ts"]),
        value=convert.number(row["value"]),
        converted=convert.number(row["zs_value"]),
        flag=convert.flag_ref(row),
        valid=row["valid"],
    )


@router.get(
    "/{outlet_id}/latest",
    response_model=Latest,
    responses={**NOT_FOUND_RESPONSE, **CSV_RESPONSE},
    summary="Latest value per pollutant",
)
def get_latest(
    request: Request,
    db: Annotated[Database, Depends(get_database)],
    fmt: Annotated[Format, Depends(output_format)],
    outlet_id: OutletId,
) -> Response:
    """The newest value of each pollutant the outlet reported (any data kind), with its HJ 212
    flag and whether it is valid."""
    row = find_outlet(db, outlet_id)
    values = [_latest(r) for r in db.fetch_all(queries.latest(outlet_id, row["protocol_profile"]))]
    if fmt == "csv":
        return csv_response(LatestValue, values, filename=f"outlet-{outlet_id}-latest.csv")
    return json_response(request, Latest(outlet_id=outlet_id, results=values))
