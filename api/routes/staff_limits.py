"""What judges each outlet, for staff (reads: viewer; changes: admin, audited):

* ``GET /v1/staff/outlets/unjudged``: active outlets that are not judged today, with why;
* ``GET /v1/staff/outlets/{id}/limits``: the limits in force on a day and where each comes
  from, the outlet's bindings and every version of its permit limits;
* ``POST /v1/staff/outlets/{id}/bindings``: bind the outlet to a standard's category;
* ``POST /v1/staff/limits/import``: outlet (permit) limits from a CSV upload, versioned and
  superseding; any bad row refuses the file (422 naming every row and field);
* ``GET /v1/staff/standards``: the known standards and categories.

Values carry their unit; days are Asia/Shanghai calendar days; times are ``{utc, local}``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import PurePath
from typing import Annotated, Any, Literal

import psycopg
from fastapi import APIRouter, Depends, File, Path, Query, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from api import convert
from api.auth import StaffUser, require_role
from api.db import Database, get_database
from api.errors import (
    ERROR_RESPONSES,
    NOT_FOUND_RESPONSE,
    STAFF_RESPONSES,
    TOO_LARGE_RESPONSE,
    InvalidParameter,
    NotFound,
    TooLarge,
)
from api.params import Day, reject_nul
from api.queries import staff_registry as outlet_queries
from api.render import PRIVATE, private_json
from api.responses import LOCAL_TZ, EnterpriseRef, Instant, Meta, Names, NotJudged, Page, instant
from schemas.limits import changes, overview
from schemas.limits.coverage import unjudged_outlets
from schemas.limits.rules import LimitsError
from schemas.limits.standards import loaded_categories

__all__ = ["MAX_LIMITS_BYTES", "router"]

router = APIRouter(
    prefix="/v1/staff",
    tags=["staff"],
    responses={**ERROR_RESPONSES, **STAFF_RESPONSES},
    dependencies=[Depends(reject_nul)],
)

MAX_LIMITS_BYTES = 1024 * 1024

Viewer = Annotated[StaffUser, Depends(require_role("viewer"))]
Admin = Annotated[StaffUser, Depends(require_role("admin"))]
Db = Annotated[Database, Depends(get_database)]
OutletId = Annotated[int, Path(ge=1, le=2**63 - 1, description="Outlet id.")]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


# --- Models -------------------------------------------------------------------------------------


class LimitInForce(BaseModel):
    pollutant: str = Field(description="HJ 212 code.")
    pollutant_name: Names
    value: float
    value_min: float | None = Field(description="Lower bound of a range limit (pH 6–9).")
    unit: str = Field(description="Unit of value and value_min.")
    period: Literal["hour", "day"] = Field(description="Averaging period.")
    reference_o2: float | None = Field(description="Reference O₂ (%) of converted values.")
    source: Literal["standard", "outlet"] = Field(
        description="A bound standard's category, or the outlet's own (permit) limit."
    )
    standard: str | None
    category: str | None
    category_name: Names | None
    bound_by: str | None = Field(description="The binding's permit number or document.")
    source_document: str
    clause: str | None
    version: int
    confirmed: bool = Field(description="Value checked against the cited source.")
    valid_from: date
    valid_to: date | None = Field(description="Last day in force; null: open-ended.")


class BindingOut(BaseModel):
    id: int
    standard: str
    category: str
    valid_from: date
    valid_to: date | None
    source: str
    created: Instant


class PermitLimitVersion(BaseModel):
    id: int
    pollutant: str
    period: Literal["hour", "day"]
    version: int
    value: float
    value_min: float | None
    unit: str
    reference_o2: float | None
    source_document: str
    clause: str | None
    valid_from: date
    valid_to: date | None
    supersedes: int | None = Field(description="Id of the version this one replaces.")
    created_by: str
    created: Instant


class OutletLimits(BaseModel):
    outlet_id: int
    mn: str
    on: date = Field(description="The calendar day (Asia/Shanghai) of `in_force`.")
    judged: bool = Field(description="Judged today (see the outlet resource).")
    not_judged: list[NotJudged]
    in_force: list[LimitInForce]
    bindings: list[BindingOut]
    permit_limit_versions: list[PermitLimitVersion]


class UnjudgedOutlet(BaseModel):
    id: int
    mn: str
    code: str | None
    name: Names
    kind: Literal["gas", "water"]
    enterprise: EnterpriseRef
    emission_standard: str | None
    last_data: Instant | None
    measured: list[str] = Field(description="Regulated pollutants reported in the last 30 days.")
    not_judged: list[NotJudged]


class Category(BaseModel):
    standard: str
    category: str
    medium: Literal["gas", "water"]
    name: Names
    pollutants: list[str]
    source_document: str
    valid_from: date = Field(description="First day any of its limits is in force.")
    valid_to: date | None = Field(description="Last day; null while any limit is open-ended.")


class BindBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    standard: Text = Field(description="e.g. GB 13223-2011 (GET /v1/staff/standards).")
    category: Text = Field(description="e.g. coal-boiler-existing.")
    valid_from: Day = Field(description="First day the outlet is judged by it.")
    valid_to: Day | None = Field(None, description="Last day; null: open-ended.")
    source: Text = Field(description="Permit number or document that binds it.")


class LimitsImported(BaseModel):
    inserted: int = Field(description="First limit of its (outlet, pollutant, period).")
    superseded: int = Field(description="New versions that supersede the current one.")
    unchanged: int


# --- Routes -------------------------------------------------------------------------------------


def _today() -> date:
    return datetime.now(UTC).astimezone(LOCAL_TZ).date()


@router.get(
    "/outlets/unjudged",
    response_model=Page[UnjudgedOutlet],
    summary="Active outlets that are not judged today (staff)",
)
def list_unjudged(
    user: Viewer,
    db: Db,
    request: Request,
    with_data: Annotated[
        bool, Query(description="Only outlets that reported data in the last 30 days.")
    ] = False,
    limit: Annotated[int, Query(ge=1, le=1000, description="Most results per page.")] = 100,
    page: Annotated[int, Query(ge=1, le=1_000_000, description="Page number, from 1.")] = 1,
) -> Response:
    """Outlets with no limit in force, or a measured pollutant without one, and why."""
    now = datetime.now(UTC)
    found = db.call(lambda conn: unjudged_outlets(conn, now, _today(), with_data_only=with_data))
    window = found[(page - 1) * limit : page * limit]
    more = page * limit < len(found)
    meta = Meta(
        page=page,
        limit=limit,
        found=len(found),
        next=str(request.url.include_query_params(page=page + 1)) if more else None,
    )
    results = [
        UnjudgedOutlet(
            id=o.id,
            mn=o.mn,
            code=o.code,
            name=Names(zh=o.name_zh, en=o.name_en),
            kind=o.kind,
            enterprise=EnterpriseRef(
                id=o.enterprise_id,
                name=Names(zh=o.enterprise_name_zh, en=o.enterprise_name_en),
                district=o.enterprise_district,
            ),
            emission_standard=o.emission_standard,
            last_data=None if o.last_data_at is None else instant(o.last_data_at),
            measured=list(o.measured),
            not_judged=[
                NotJudged.model_validate(
                    {"code": g.code, "pollutant": g.pollutant, "reason": {"zh": g.zh, "en": g.en}}
                )
                for g in o.gaps
            ],
        )
        for o in window
    ]
    return private_json(Page[UnjudgedOutlet](meta=meta, results=results))


def _outlet_row(db: Database, outlet_id: int) -> dict[str, Any]:
    row = db.fetch_one(outlet_queries.outlet(outlet_id))
    if row is None:
        raise NotFound(f"no outlet {outlet_id}", parameter="outlet_id")
    return row


def _limits(db: Database, outlet_id: int, on: date) -> OutletLimits:
    row = _outlet_row(db, outlet_id)

    def read(conn: psycopg.Connection[Any]) -> tuple[Any, Any, Any]:
        return (
            overview.in_force(conn, outlet_id, on),
            overview.bindings(conn, outlet_id),
            overview.outlet_limit_versions(conn, outlet_id),
        )

    limits, bound, versions = db.call(read)
    return OutletLimits(
        outlet_id=outlet_id,
        mn=row["mn"],
        on=on,
        judged=not convert.not_judged(row),
        not_judged=convert.not_judged(row),
        in_force=[
            LimitInForce(
                pollutant=i.limit.pollutant,
                pollutant_name=Names(zh=i.pollutant_zh, en=i.pollutant_en),
                value=float(i.limit.value),
                value_min=convert.number(i.limit.value_min),
                unit=i.limit.unit,
                period=i.limit.period,
                reference_o2=convert.number(i.limit.reference_o2),
                source=i.limit.source,
                standard=i.limit.standard,
                category=i.limit.category,
                category_name=None
                if i.category_zh is None
                else Names(zh=i.category_zh, en=i.category_en),
                bound_by=i.binding_source,
                source_document=i.limit.source_document,
                clause=i.limit.clause,
                version=i.limit.version,
                confirmed=i.limit.confirmed,
                valid_from=i.valid_from,
                valid_to=i.valid_to,
            )
            for i in limits
        ],
        bindings=[
            BindingOut(
                id=b.id,
                standard=b.standard,
                category=b.category,
                valid_from=b.valid_from,
                valid_to=b.valid_to,
                source=b.source,
                created=instant(b.created_at),
            )
            for b in bound
        ],
        permit_limit_versions=[
            PermitLimitVersion(
                **{
                    k: getattr(v, k)
                    for k in ("id", "pollutant", "period", "version", "unit", "source_document")
                },
                clause=v.clause,
                value=float(v.value),
                value_min=convert.number(v.value_min),
                reference_o2=convert.number(v.reference_o2),
                valid_from=v.valid_from,
                valid_to=v.valid_to,
                supersedes=v.supersedes,
                created_by=v.created_by,
                created=instant(v.created_at),
            )
            for v in versions
        ],
    )


@router.get(
    "/outlets/{outlet_id}/limits",
    response_model=OutletLimits,
    responses=NOT_FOUND_RESPONSE,
    summary="The limits of an outlet and where they come from (staff)",
)
def get_limits(
    user: Viewer,
    db: Db,
    outlet_id: OutletId,
    on: Annotated[
        Day | None, Query(description="Day (YYYY-MM-DD, Asia/Shanghai); default today.")
    ] = None,
) -> Response:
    """In force on the day (one per pollutant and period, each with its origin, version and
    validity), the outlet's bindings and every version of its permit limits."""
    return private_json(_limits(db, outlet_id, on or _today()))


@router.post(
    "/outlets/{outlet_id}/bindings",
    response_model=OutletLimits,
    status_code=201,
    responses=NOT_FOUND_RESPONSE,
    summary="Bind an outlet to a standard's category (admin)",
)
def bind(user: Admin, db: Db, outlet_id: OutletId, body: BindBody) -> Response:
    """From ``valid_from`` the outlet is judged by the category (binding the same standard,
    category and day again updates ``valid_to`` and ``source``). A category of the other
    medium, or an unknown one, is 422."""
    row = _outlet_row(db, outlet_id)
    if body.valid_to is not None and body.valid_to < body.valid_from:
        raise InvalidParameter("valid_to", "must not be before valid_from")
    db.call(
        lambda conn: changes.bind(
            conn,
            row["mn"],
            body.standard,
            body.category,
            body.valid_from,
            body.source,
            valid_to=body.valid_to,
            actor=user.username,
        )
    )
    return private_json(_limits(db, outlet_id, _today()), status_code=201)


@router.post(
    "/limits/import",
    response_model=LimitsImported,
    responses=TOO_LARGE_RESPONSE,
    summary="Import outlet (permit) limits from CSV (admin)",
)
def import_limits(
    user: Admin,
    db: Db,
    file: Annotated[
        UploadFile,
        File(
            description="CSV (UTF-8): mn, pollutant, value, unit, period, source_document,"
            " valid_from, and value_min, reference_o2, clause, valid_to."
        ),
    ],
) -> Response:
    """A changed value becomes a new version that supersedes the current one; an identical row
    changes nothing. With any bad row nothing is imported and the 422 names every row."""
    data = file.file.read(MAX_LIMITS_BYTES + 1)
    if len(data) > MAX_LIMITS_BYTES:
        raise TooLarge("file", MAX_LIMITS_BYTES)
    name = PurePath(file.filename or "limits.csv").name
    try:
        result = db.call(
            lambda conn: changes.import_limits(conn, data, actor=user.username, filename=name)
        )
    except LimitsError as exc:  # the file as a whole: not UTF-8, not CSV
        raise InvalidParameter("file", str(exc)) from None
    if not result.ok:
        rows = "; ".join(map(str, result.errors))
        raise InvalidParameter("file", f"{len(result.errors)} error(s), nothing imported: {rows}")
    return private_json(
        LimitsImported(
            inserted=result.inserted, superseded=result.superseded, unchanged=result.unchanged
        )
    )


@router.get("/standards", response_model=list[Category], summary="Known standards (staff)")
def list_standards(user: Viewer, db: Db) -> Response:
    """Every standard and category the limits table holds, with its medium, validity and the
    pollutants it limits: what a registry's emission_standard and limit_category may name."""
    categories = db.call(loaded_categories)
    out = [
        Category(
            standard=c.standard,
            category=c.category,
            medium=c.medium,
            name=Names(zh=c.name_zh, en=c.name_en),
            pollutants=list(c.pollutants),
            source_document=c.source_document,
            valid_from=c.valid_from,
            valid_to=c.valid_to,
        )
        for c in categories.values()
    ]
    body = "[" + ",".join(c.model_dump_json() for c in out) + "]"
    return Response(body, media_type="application/json", headers=PRIVATE)
