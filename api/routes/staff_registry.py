"""``/v1/staff/enterprises``, ``/v1/staff/outlets``, ``/v1/staff/registry``: staff manage the
registry (reads: viewer; changes: admin), each change audited with before and after
(:mod:`schemas.registry.changes`).

* ``POST /v1/staff/enterprises``, ``PATCH /v1/staff/enterprises/{id}``,
  ``POST /v1/staff/enterprises/{id}/deactivate`` (its outlets);
* ``POST /v1/staff/enterprises/{id}/outlets``, ``GET|PATCH /v1/staff/outlets/{id}``,
  ``POST /v1/staff/outlets/{id}/deactivate``; an outlet that names ``limit_category`` (with
  ``emission_standard`` and optionally ``limits_from``) is bound to it;
* ``POST /v1/staff/registry/import``: a registry file (CSV or JSON, as ``sourcewatch registry
  import`` reads it) as an upload; any bad row refuses the whole file (422 naming every row and
  field), nothing is imported.

A PATCH changes the fields it names (``null`` clears an optional one); the record with the
change must be valid as a registry entry. Times are ``{utc, local}`` (Asia/Shanghai).
"""

from __future__ import annotations

from pathlib import PurePath
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Path, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from api import convert
from api.auth import StaffUser, require_role
from api.db import Database, Row, get_database
from api.errors import (
    DUPLICATE_RESPONSE,
    ERROR_RESPONSES,
    NOT_FOUND_RESPONSE,
    STAFF_RESPONSES,
    TOO_LARGE_RESPONSE,
    InvalidParameter,
    NotFound,
    TooLarge,
)
from api.params import Day, reject_nul
from api.queries import staff_registry as queries
from api.render import private_json
from api.responses import Instant, Location, Names, NotJudged, StaffOpenCases, instant
from schemas.registry import changes
from schemas.registry.entries import RegistryError
from schemas.registry.files import parse_registry_bytes

__all__ = ["MAX_REGISTRY_BYTES", "StaffEnterprise", "StaffOutlet", "router"]

router = APIRouter(
    prefix="/v1/staff",
    tags=["staff"],
    responses={**ERROR_RESPONSES, **STAFF_RESPONSES},
    dependencies=[Depends(reject_nul)],
)

MAX_REGISTRY_BYTES = 5 * 1024 * 1024  # a registry of some 20,000 outlets fits

Viewer = Annotated[StaffUser, Depends(require_role("viewer"))]
Admin = Annotated[StaffUser, Depends(require_role("admin"))]
Db = Annotated[Database, Depends(get_database)]
EnterpriseId = Annotated[int, Path(ge=1, le=2**63 - 1, description="Enterprise id.")]
OutletId = Annotated[int, Path(ge=1, le=2**63 - 1, description="Outlet id.")]
ControlLevel = Literal["national", "provincial", "municipal", "other"]


# --- Bodies -------------------------------------------------------------------------------------


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EnterpriseChanges(_Body):
    """Fields of an enterprise; in a PATCH, only those given change."""

    uscc: str | None = Field(None, description="统一社会信用代码 (GB 32100-2015).")
    name_zh: str | None = None
    name_en: str | None = None
    address: str | None = None
    district: str | None = None
    industry: str | None = None
    control_level: ControlLevel | None = None
    longitude: float | None = None
    latitude: float | None = None


class NewEnterprise(EnterpriseChanges):
    uscc: str = Field(description="统一社会信用代码 (GB 32100-2015).")
    name_zh: str


class OutletChanges(_Body):
    """Fields of an outlet; in a PATCH, only those given change."""

    mn: str | None = Field(None, description="HJ 212 MN of the data logger.")
    code: str | None = Field(None, description="Outlet number in the permit, e.g. DA001.")
    name_zh: str | None = None
    name_en: str | None = None
    kind: Literal["gas", "water"] | None = None
    password: str | None = Field(None, description="HJ 212 PW (write-only).")
    crc_policy: Literal["strict", "lenient", "alt"] | None = None
    protocol_profile: Literal["hj212-2005", "hj212-2017", "hj212-2025"] | None = None
    timezone: str | None = None
    emission_standard: str | None = None
    limit_category: str | None = Field(
        None, description="Binds the outlet to this category of its emission_standard."
    )
    limits_from: Day | None = Field(None, description="First day of that binding.")
    permit_number: str | None = None
    longitude: float | None = None
    latitude: float | None = None
    active: StrictBool | None = None


class NewOutlet(OutletChanges):
    mn: str = Field(description="HJ 212 MN of the data logger.")
    name_zh: str
    kind: Literal["gas", "water"]


# --- Answers ------------------------------------------------------------------------------------


class StaffEnterprise(BaseModel):
    id: int
    uscc: str | None
    name: Names
    address: str | None
    district: str | None
    industry: str | None
    control_level: ControlLevel | None
    location: Location | None
    outlets: int = Field(description="Outlets registered, active or not.")
    active_outlets: int
    created: Instant
    updated: Instant


class StaffOutlet(BaseModel):
    id: int
    enterprise_id: int
    mn: str
    code: str | None
    name: Names
    kind: Literal["gas", "water"]
    crc_policy: str
    protocol_profile: str
    timezone: str
    emission_standard: str | None
    permit_number: str | None
    location: Location | None
    active: bool
    password_set: bool = Field(description="Whether an HJ 212 PW is checked (never returned).")
    last_data: Instant | None
    open_cases: StaffOpenCases = Field(
        description="Open cases by kind, fault and pattern included (not in the public view)."
    )
    judged: bool
    not_judged: list[NotJudged]
    created: Instant
    updated: Instant


class Deactivated(BaseModel):
    outlets_deactivated: int = Field(description="Outlets that were active until now.")


class RegistryImported(BaseModel):
    enterprises_inserted: int
    enterprises_updated: int
    outlets_inserted: int
    outlets_updated: int
    bindings_added: int
    moved: list[str] = Field(description="MNs that moved to another enterprise.")


def _enterprise(row: Row) -> StaffEnterprise:
    return StaffEnterprise(
        **{k: row[k] for k in ("id", "uscc", "address", "district", "industry")},
        control_level=row["control_level"],
        name=convert.names(row),
        location=convert.location(row),
        outlets=row["outlets"],
        active_outlets=row["active_outlets"],
        created=instant(row["created_at"]),
        updated=instant(row["updated_at"]),
    )


def _outlet(row: Row) -> StaffOutlet:
    reasons = convert.not_judged(row)
    keys = (
        *("id", "enterprise_id", "mn", "code", "kind", "crc_policy", "protocol_profile"),
        *("timezone", "emission_standard", "permit_number", "active", "password_set"),
    )
    return StaffOutlet(
        **{k: row[k] for k in keys},
        name=convert.names(row),
        location=convert.location(row),
        last_data=None if row["last_data_at"] is None else instant(row["last_data_at"]),
        open_cases=StaffOpenCases(
            **{k: row[k] for k in ("exceedance", "outage", "fault", "pattern")}
        ),
        judged=not reasons,
        not_judged=reasons,
        created=instant(row["created_at"]),
        updated=instant(row["updated_at"]),
    )


def _read_enterprise(db: Database, enterprise_id: int) -> StaffEnterprise:
    row = db.fetch_one(queries.enterprise(enterprise_id))
    if row is None:
        raise NotFound(f"no enterprise {enterprise_id}", parameter="enterprise_id")
    return _enterprise(row)


def _read_outlet(db: Database, outlet_id: int) -> StaffOutlet:
    row = db.fetch_one(queries.outlet(outlet_id))
    if row is None:
        raise NotFound(f"no outlet {outlet_id}", parameter="outlet_id")
    return _outlet(row)


def _given(body: BaseModel) -> dict[str, Any]:
    return body.model_dump(exclude_unset=True)


# --- Enterprises --------------------------------------------------------------------------------

WRITE_RESPONSES: dict[int | str, dict[str, Any]] = {**NOT_FOUND_RESPONSE, **DUPLICATE_RESPONSE}


@router.post(
    "/enterprises",
    response_model=StaffEnterprise,
    status_code=201,
    responses=DUPLICATE_RESPONSE,
    summary="Register an enterprise (admin)",
)
def create_enterprise(user: Admin, db: Db, body: NewEnterprise) -> Response:
    """A new enterprise; its outlets are added with ``POST /v1/staff/enterprises/{id}/outlets``."""
    values = _given(body)
    new_id = db.call(lambda conn: changes.create_enterprise(conn, values, actor=user.username))
    return private_json(_read_enterprise(db, new_id), status_code=201)


@router.patch(
    "/enterprises/{enterprise_id}",
    response_model=StaffEnterprise,
    responses=WRITE_RESPONSES,
    summary="Change an enterprise (admin)",
)
def update_enterprise(
    user: Admin, db: Db, enterprise_id: EnterpriseId, body: EnterpriseChanges
) -> Response:
    """Change the fields given; the USCC must stay unique."""
    values = _given(body)
    db.call(
        lambda conn: changes.update_enterprise(conn, enterprise_id, values, actor=user.username)
    )
    return private_json(_read_enterprise(db, enterprise_id))


@router.post(
    "/enterprises/{enterprise_id}/deactivate",
    response_model=Deactivated,
    responses=NOT_FOUND_RESPONSE,
    summary="Deactivate an enterprise's outlets (admin)",
)
def deactivate_enterprise(user: Admin, db: Db, enterprise_id: EnterpriseId) -> Response:
    """Every active outlet of the enterprise stops being expected to report; the enterprise's
    record and history stay."""
    count = db.call(
        lambda conn: changes.deactivate_enterprise(conn, enterprise_id, actor=user.username)
    )
    return private_json(Deactivated(outlets_deactivated=count))


# --- Outlets ------------------------------------------------------------------------------------


@router.post(
    "/enterprises/{enterprise_id}/outlets",
    response_model=StaffOutlet,
    status_code=201,
    responses=WRITE_RESPONSES,
    summary="Register an outlet of an enterprise (admin)",
)
def create_outlet(user: Admin, db: Db, enterprise_id: EnterpriseId, body: NewOutlet) -> Response:
    """A new outlet; with ``limit_category`` it is bound to that category of its
    ``emission_standard`` from ``limits_from`` (default: the category's first day)."""
    values = _given(body)
    new_id = db.call(
        lambda conn: changes.create_outlet(conn, enterprise_id, values, actor=user.username)
    )
    return private_json(_read_outlet(db, new_id), status_code=201)


@router.get(
    "/outlets/{outlet_id:int}",
    response_model=StaffOutlet,
    responses=NOT_FOUND_RESPONSE,
    summary="One outlet as staff see it",
)
def get_outlet(user: Viewer, db: Db, outlet_id: OutletId) -> Response:
    """The outlet with its MN, whether a password is set, its last data and whether it is
    judged (limits: ``GET /v1/staff/outlets/{id}/limits``)."""
    return private_json(_read_outlet(db, outlet_id))


@router.patch(
    "/outlets/{outlet_id:int}",
    response_model=StaffOutlet,
    responses=WRITE_RESPONSES,
    summary="Change an outlet (admin)",
)
def update_outlet(user: Admin, db: Db, outlet_id: OutletId, body: OutletChanges) -> Response:
    """Change the fields given; ``limit_category`` (with ``limits_from``) adds a binding."""
    values = _given(body)
    db.call(lambda conn: changes.update_outlet(conn, outlet_id, values, actor=user.username))
    return private_json(_read_outlet(db, outlet_id))


@router.post(
    "/outlets/{outlet_id}/deactivate",
    response_model=StaffOutlet,
    responses=NOT_FOUND_RESPONSE,
    summary="Deactivate an outlet (admin)",
)
def deactivate_outlet(user: Admin, db: Db, outlet_id: OutletId) -> Response:
    """The outlet is no longer expected to report; deactivating twice changes nothing."""
    db.call(lambda conn: changes.deactivate_outlet(conn, outlet_id, actor=user.username))
    return private_json(_read_outlet(db, outlet_id))


# --- Registry file ------------------------------------------------------------------------------


@router.post(
    "/registry/import",
    response_model=RegistryImported,
    responses=TOO_LARGE_RESPONSE,
    summary="Import a registry file (admin)",
)
def import_registry_file(
    user: Admin,
    db: Db,
    file: Annotated[UploadFile, File(description="Registry file, .csv or .json (UTF-8).")],
) -> Response:
    """Enterprises by USCC and outlets by MN, upserted in one transaction; outlets that name a
    ``limit_category`` are bound. With any bad row nothing is imported and the 422 names every
    row and field."""
    data = file.file.read(MAX_REGISTRY_BYTES + 1)
    if len(data) > MAX_REGISTRY_BYTES:
        raise TooLarge("file", MAX_REGISTRY_BYTES)
    name = PurePath(file.filename or "registry").name
    try:
        parsed = parse_registry_bytes(data, PurePath(name))
    except RegistryError as exc:
        raise InvalidParameter("file", str(exc)) from None
    if parsed.errors:
        rows = "; ".join(map(str, parsed.errors))
        raise InvalidParameter("file", f"{len(parsed.errors)} error(s), nothing imported: {rows}")
    report = db.call(
        lambda conn: changes.import_registry_audited(
            conn, parsed.enterprises, actor=user.username, filename=name
        )
    )
    return private_json(
        RegistryImported(
            enterprises_inserted=report.enterprises_inserted,
            enterprises_updated=report.enterprises_updated,
            outlets_inserted=report.outlets_inserted,
            outlets_updated=report.outlets_updated,
            bindings_added=report.bindings_added,
            moved=[m.mn for m in report.moved],
        )
    )
