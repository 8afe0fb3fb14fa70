"""``/v1/pollutants`` and ``/v1/flags``: the HJ 212 code tables, bilingual."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from api import convert
from api.db import Database, Row, get_database
from api.errors import ERROR_RESPONSES, NOT_FOUND_RESPONSE, NotFound
from api.params import Format, Pagination, output_format, pagination, reject_nul
from api.queries import pollutants as queries
from api.render import CSV_RESPONSE, MAX_AGE_REFERENCE, json_response
from api.responses import Flag, Page, Pollutant
from api.routes.common import list_response

__all__ = ["pollutant", "router"]

router = APIRouter(
    tags=["reference"], responses=ERROR_RESPONSES, dependencies=[Depends(reject_nul)]
)

Medium = Literal["water", "air", "noise", "process", "info"]


def pollutant(row: Row) -> Pollutant:
    return Pollutant(
        code=row["code"],
        medium=row["medium"],
        name=convert.names(row),
        unit=convert.names(row, "unit_"),
        cou_unit=convert.names(row, "cou_unit_"),
        legacy_code=row["legacy_code"],
        data_type=row["data_type"],
    )


def _flag(row: Row) -> Flag:
    return Flag(
        standard=row["standard"],
        code=row["code"],
        name=convert.names(row),
        valid=row["valid"],
        source=row["source"],
    )


@router.get(
    "/v1/pollutants",
    response_model=Page[Pollutant],
    responses=CSV_RESPONSE,
    summary="List pollutant (factor) codes",
)
def list_pollutants(
    request: Request,
    db: Annotated[Database, Depends(get_database)],
    page: Annotated[Pagination, Depends(pagination)],
    fmt: Annotated[Format, Depends(output_format)],
    medium: Annotated[Medium | None, Query(description="Only codes of this medium.")] = None,
    q: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=100,
            description="Substring of the Chinese or English name, or a code (2017 or 2005).",
        ),
    ] = None,
) -> Response:
    """HJ 212-2017 Appendix B factor codes with names, units and the HJ/T 212-2005 code."""
    return list_response(
        request,
        db,
        fmt=fmt,
        pagination=page,
        count=queries.count(medium, q),
        select=lambda limit, offset: queries.select(medium, q, limit, offset),
        convert=pollutant,
        model=Pollutant,
        filename="pollutants.csv",
        max_age=MAX_AGE_REFERENCE,
    )


@router.get(
    "/v1/pollutants/{code}",
    response_model=Pollutant,
    responses={**NOT_FOUND_RESPONSE, 304: CSV_RESPONSE[304]},
    summary="One pollutant code",
)
def get_pollutant(
    request: Request,
    db: Annotated[Database, Depends(get_database)],
    code: Annotated[
        str, Path(min_length=1, max_length=20, description="HJ 212-2017 code, e.g. a21026.")
    ],
) -> Response:
    row = db.fetch_one(queries.one(code))
    if row is None:
        raise NotFound(f"no pollutant code {code!r} (see /v1/pollutants)", parameter="code")
    return json_response(request, pollutant(row), max_age=MAX_AGE_REFERENCE)


@router.get(
    "/v1/flags", response_model=Page[Flag], responses=CSV_RESPONSE, summary="List data flags"
)
def list_flags(
    request: Request,
    db: Annotated[Database, Depends(get_database)],
    page: Annotated[Pagination, Depends(pagination)],
    fmt: Annotated[Format, Depends(output_format)],
    standard: Annotated[
        str | None,
        Query(max_length=40, description="Only this standard's flags, e.g. `HJ 212-2017`."),
    ] = None,
) -> Response:
    """HJ 212 data flags (N normal; F, M, S, D, C, T, B …) and whether data carrying them count
    towards means and exceedances."""
    return list_response(
        request,
        db,
        fmt=fmt,
        pagination=page,
        count=queries.count_flags(standard),
        select=lambda limit, offset: queries.flags(standard, limit, offset),
        convert=_flag,
        model=Flag,
        filename="flags.csv",
        max_age=MAX_AGE_REFERENCE,
    )
