"""``/v1/enterprises``: key-monitored enterprises (category 1, 重点污染源基本信息)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic.json_schema import SkipJsonSchema

from api import convert
from api.db import Database, get_database
from api.errors import ERROR_RESPONSES, NOT_FOUND_RESPONSE, InvalidParameter, NotFound
from api.params import (
    POINT_PATTERN,
    Format,
    Pagination,
    output_format,
    pagination,
    parse_bbox,
    parse_point,
    reject_nul,
)
from api.queries import enterprises as queries
from api.queries import outlets as outlet_queries
from api.render import CSV_RESPONSE, json_response
from api.responses import EnterpriseDetail, EnterpriseSummary, Page
from api.routes.common import list_response

__all__ = ["router"]

router = APIRouter(
    prefix="/v1/enterprises",
    tags=["enterprises"],
    responses=ERROR_RESPONSES,
    dependencies=[Depends(reject_nul)],
)

Sort = Literal["id", "-id", "name", "-name", "district", "-district", "distance"]
ControlLevel = Literal["national", "provincial", "municipal", "other"]
MAX_RADIUS_M = 100_000


@router.get(
    "",
    response_model=Page[EnterpriseSummary],
    responses=CSV_RESPONSE,
    summary="List enterprises",
)
def list_enterprises(
    request: Request,
    db: Annotated[Database, Depends(get_database)],
    page: Annotated[Pagination, Depends(pagination)],
    fmt: Annotated[Format, Depends(output_format)],
    q: Annotated[
        str | None,
        Query(
            min_length=1, max_length=100, description="Substring of the Chinese or English name."
        ),
    ] = None,
    uscc: Annotated[
        str | None, Query(max_length=18, description="Unified social credit code, exact.")
    ] = None,
    district: Annotated[
        str | None, Query(max_length=100, description="Administrative division, exact.")
    ] = None,
    industry: Annotated[str | None, Query(max_length=100, description="Industry, exact.")] = None,
    control_level: Annotated[
        ControlLevel | None, Query(description="国控/省控/市控: national, provincial, municipal.")
    ] = None,
    bbox: Annotated[
        str | None,
        Query(
            description="minLon,minLat,maxLon,maxLat (WGS 84 decimal degrees).",
            examples=["120.0,30.0,121.0,31.0"],
        ),
    ] = None,
    near: Annotated[
        str | SkipJsonSchema[None],
        Query(
            description="lon,lat: only enterprises within `radius_m` of this point, with "
            "their `distance_m` (great-circle).",
            examples=["120.15,30.28"],
            json_schema_extra={"pattern": POINT_PATTERN},  # parse_point checks it
        ),
    ] = None,
    radius_m: Annotated[
        float,
        Query(gt=0, le=MAX_RADIUS_M, description="Radius around `near`, metres (≤ 100 km)."),
    ] = 10_000,
    sort: Annotated[
        Sort | None,
        Query(
            description="Order: id, name, district (`-` descending) or distance (needs "
            "`near`). Default: distance with `near`, else id."
        ),
    ] = None,
) -> Response:
    """Enterprises matching every filter given, with their location. JSON pages or CSV."""
    point = parse_point(near, "near") if near is not None else None
    if sort == "distance" and point is None:
        raise InvalidParameter("sort", "distance needs `near`")
    f = queries.EnterpriseFilter(
        q=q,
        uscc=uscc,
        district=district,
        industry=industry,
        control_level=control_level,
        bbox=parse_bbox(bbox) if bbox is not None else None,
        near=point,
        radius_m=radius_m,
    )
    order = sort or ("distance" if point is not None else "id")
    return list_response(
        request,
        db,
        fmt=fmt,
        pagination=page,
        count=queries.count(f),
        select=lambda limit, offset: queries.select(f, order, limit, offset),
        convert=convert.enterprise,
        model=EnterpriseSummary,
        filename="enterprises.csv",
    )


@router.get(
    "/{enterprise_id}",
    response_model=EnterpriseDetail,
    responses={**NOT_FOUND_RESPONSE, 304: CSV_RESPONSE[304]},
    summary="One enterprise with its outlets and their current status",
)
def get_enterprise(
    request: Request,
    db: Annotated[Database, Depends(get_database)],
    enterprise_id: Annotated[int, Path(ge=1, le=2**63 - 1, description="Enterprise id.")],
) -> Response:
    """The enterprise, its outlets with the time of their latest data, and the cases open now
    by kind (counts only)."""
    found, outlet_rows = db.run(
        queries.one(enterprise_id),
        outlet_queries.select(outlet_queries.OutletFilter(enterprise_id=enterprise_id), None, 0),
    )
    if not found:
        raise NotFound(f"no enterprise {enterprise_id}", parameter="enterprise_id")
    summary = convert.enterprise(found[0])
    detail = EnterpriseDetail(
        **summary.model_dump(),
        open_cases=convert.open_cases(outlet_rows),
        outlets=[convert.outlet(row) for row in outlet_rows],
    )
    return json_response(request, detail)
