"""``/v1/disclosures``: the published records of the eight categories (public).

* ``GET /v1/disclosures``: current records (or, with ``as_of``, what was published at that
  time, from the publication log), filtered by category, record type, enterprise and
  publication date; JSON or CSV;
* ``GET /v1/disclosures/{id}``: one version, with its deadline and whether it was on time;
* ``GET /v1/disclosures/{id}/versions``: every published version of that record, with the
  reasons for corrections and withdrawals;
* ``GET /v1/disclosures/{id}/attachments/{sha256}``: an attached file (not of a withdrawn
  version: a withdrawn version keeps its title and the reason, not its content or files);
* ``GET /v1/disclosure-categories``: the eight categories and their record types, with their
  legal clocks, the source of each, and the fields of each type with Chinese/English labels.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, Field, RootModel
from pydantic.json_schema import SkipJsonSchema

from api import convert
from api.db import Database, Row, get_database
from api.errors import ERROR_RESPONSES, NOT_FOUND_RESPONSE, InvalidParameter, NotFound
from api.params import (
    DATE_TIME,
    Format,
    Pagination,
    output_format,
    pagination,
    parse_instant,
    reject_nul,
)
from api.queries import disclosures as queries
from api.render import CSV_RESPONSE, MAX_AGE_REFERENCE, json_response
from api.responses import LOCAL_TZ, EnterpriseRef, Instant, Names, Page, instant
from api.routes.common import list_response
from schemas.disclosure.categories import CATEGORIES
from schemas.disclosure.content import labels_of
from schemas.disclosure.record_types import MODELS

__all__ = ["Disclosure", "router", "to_disclosure"]

router = APIRouter(
    tags=["disclosures"], responses=ERROR_RESPONSES, dependencies=[Depends(reject_nul)]
)

Category = Literal[
    "basic_info",
    "monitoring",
    "total_control",
    "pollution_prevention",
    "fees",
    "inspection",
    "penalty",
    "emergency",
    "water",
]
assert tuple(Category.__args__) == CATEGORIES  # type: ignore[attr-defined]
RECORD_ID = Path(ge=1, le=2**63 - 1, description="Id of one version of a record.")


class CodeName(BaseModel):
    code: str
    name: Names


class AttachmentRef(BaseModel):
    filename: str
    media_type: str
    size_bytes: int
    sha256: str = Field(description="SHA-256 of the file, hex; also in the publication log.")
    url: str


class Withdrawal(BaseModel):
    at: Instant
    reason: str


class LogRef(BaseModel):
    seq: int = Field(description="Entry of the publication log that published this version.")
    entry_hash: str


class Disclosure(BaseModel):
    id: int = Field(description="Id of this version.")
    record_key: str = Field(description="Stable identity of the record across its versions.")
    version: int
    status: Literal["draft", "approved", "published", "superseded", "withdrawn"]
    category: CodeName
    record_type: CodeName
    origin: Literal["staff", "auto"] = Field(
        description="Authored by staff or published from data."
    )
    enterprise: EnterpriseRef | None
    outlet_id: int | None
    title: Names
    content: dict[str, Any] | None = Field(
        description="The fields of the record type (see /v1/disclosure-categories); null for "
        "a withdrawn version, whose content and files are no longer served (the publication "
        "log keeps their hash)."
    )
    formed: Instant = Field(description="When the information was formed or changed.")
    due_on: dt.date | None = Field(description="Legal deadline (working days, Asia/Shanghai).")
    published: Instant | None
    on_time: bool | None = Field(description="Published by the deadline; null while unpublished.")
    supersedes: int | None = Field(description="The version this one corrects.")
    correction_reason: str | None
    withdrawn: Withdrawal | None
    attachments: list[AttachmentRef]
    log: LogRef | None


class FieldLabel(BaseModel):
    name: str
    label: Names
    type: Any
    required: bool


class RecordTypeInfo(BaseModel):
    code: str
    name: Names
    origin: Literal["staff", "auto"]
    deadline_working_days: int
    deadline_source: str
    deadline_confirmed: bool
    fields: list[FieldLabel]


class CategoryInfo(BaseModel):
    code: Category
    ordinal: int
    name: Names
    deadline_working_days: int
    source: str
    record_types: list[RecordTypeInfo]


class Versions(RootModel[list[Disclosure]]):
    """Every published version of a record, oldest first (a JSON array)."""


class Categories(RootModel[list[CategoryInfo]]):
    """The eight categories in the order of the notice (a JSON array)."""


def to_disclosure(row: Row, *, staff: bool = False) -> Disclosure:
    """One version; publicly (``staff`` false) a withdrawn version without its content and
    attachments."""
    published = row["published_at"]
    due = row["due_on"]
    withdrawn = row["withdrawn_at"]
    withheld = not staff and row["status"] == "withdrawn"
    return Disclosure(
        id=row["id"],
        record_key=row["record_key"],
        version=row["version"],
        status=row["status"],
        category=CodeName(
            code=row["category"], name=Names(zh=row["category_name_zh"], en=row["category_name_en"])
        ),
        record_type=CodeName(
            code=row["record_type"], name=Names(zh=row["type_name_zh"], en=row["type_name_en"])
        ),
        origin=row["origin"],
        enterprise=None if row["enterprise_id"] is None else convert.enterprise_ref(row),
        outlet_id=row["outlet_id"],
        title=Names(zh=row["title_zh"], en=row["title_en"]),
        content=None if withheld else row["content"],
        formed=instant(row["formed_at"]),
        due_on=due,
        published=None if published is None else instant(published),
        on_time=None
        if published is None or due is None
        else published.astimezone(LOCAL_TZ).date() <= due,
        supersedes=row["supersedes"],
        correction_reason=row["correction_reason"],
        withdrawn=None
        if withdrawn is None
        else Withdrawal(at=instant(withdrawn), reason=row["withdrawn_reason"]),
        attachments=[]
        if withheld
        else [
            AttachmentRef(**a, url=f"/v1/disclosures/{row['id']}/attachments/{a['sha256']}")
            for a in row["attachments"]
        ],
        log=None if row["log"] is None else LogRef(**row["log"]),
    )


def _instant_param(text: str | None, name: str) -> dt.datetime | None:
    return None if text is None else parse_instant(text, name, bounded=False)


@router.get(
    "/v1/disclosures",
    response_model=Page[Disclosure],
    responses=CSV_RESPONSE,
    summary="Published records of the eight categories and the water disclosures",
)
def list_disclosures(
    request: Request,
    db: Annotated[Database, Depends(get_database)],
    page: Annotated[Pagination, Depends(pagination)],
    fmt: Annotated[Format, Depends(output_format)],
    category: Annotated[
        Category | None, Query(description="One of the eight categories, or `water`.")
    ] = None,
    record_type: Annotated[
        str | SkipJsonSchema[None],
        Query(
            max_length=64,
            description="A record type code (see /v1/disclosure-categories).",
            json_schema_extra={"enum": sorted(MODELS)},
        ),
    ] = None,
    enterprise_id: Annotated[
        int | None, Query(ge=1, le=2**63 - 1, description="Only this enterprise's records.")
    ] = None,
    published_since: Annotated[
        str | SkipJsonSchema[None],
        Query(
            max_length=40,
            description="Published at or after this time (ISO 8601).",
            json_schema_extra=DATE_TIME,
        ),
    ] = None,
    published_until: Annotated[
        str | SkipJsonSchema[None],
        Query(
            max_length=40,
            description="Published before this time (ISO 8601).",
            json_schema_extra=DATE_TIME,
        ),
    ] = None,
    as_of: Annotated[
        str | SkipJsonSchema[None],
        Query(
            max_length=40,
            description="What was published at this time (ISO 8601), from the publication log.",
            json_schema_extra=DATE_TIME,
        ),
    ] = None,
) -> Response:
    """Newest first. Without ``as_of``: the current version of every published record."""
    if record_type is not None and record_type not in MODELS:
        raise InvalidParameter("record_type", f"unknown record type {record_type!r}")
    f = queries.DisclosureFilter(
        category=category,
        record_type=record_type,
        enterprise_id=enterprise_id,
        published_since=_instant_param(published_since, "published_since"),
        published_until=_instant_param(published_until, "published_until"),
        as_of=_instant_param(as_of, "as_of"),
    )
    return list_response(
        request,
        db,
        fmt=fmt,
        pagination=page,
        count=queries.count(f),
        select=lambda limit, offset: queries.select(f, limit, offset),
        convert=to_disclosure,
        model=Disclosure,
        filename="disclosures.csv",
    )


@router.get(
    "/v1/disclosures/{record_id}",
    response_model=Disclosure,
    responses=NOT_FOUND_RESPONSE,
    summary="One published version of a record",
)
def get_disclosure(
    request: Request,
    db: Annotated[Database, Depends(get_database)],
    record_id: Annotated[int, RECORD_ID],
) -> Response:
    row = db.fetch_one(queries.one(record_id))
    if row is None:
        raise NotFound(f"no published record version {record_id}", parameter="record_id")
    return json_response(request, to_disclosure(row))


@router.get(
    "/v1/disclosures/{record_id}/versions",
    response_model=Versions,
    responses=NOT_FOUND_RESPONSE,
    summary="Every published version of the record, oldest first",
)
def get_versions(
    request: Request,
    db: Annotated[Database, Depends(get_database)],
    record_id: Annotated[int, RECORD_ID],
) -> Response:
    rows = db.fetch_all(queries.versions(record_id))
    if not rows:
        raise NotFound(f"no published record version {record_id}", parameter="record_id")
    return json_response(request, Versions([to_disclosure(r) for r in rows]))


@router.get(
    "/v1/disclosures/{record_id}/attachments/{sha256}",
    response_class=Response,
    responses={
        **NOT_FOUND_RESPONSE,
        200: {"content": {"application/octet-stream": {}}, "description": "The file."},
    },
    summary="An attached file (e.g. the PDF of a decision)",
)
def get_attachment(
    db: Annotated[Database, Depends(get_database)],
    record_id: Annotated[int, RECORD_ID],
    sha256: Annotated[str, Path(pattern="^[0-9a-f]{64}$", description="SHA-256 of the file, hex.")],
) -> Response:
    row = db.fetch_one(queries.attachment(record_id, bytes.fromhex(sha256)))
    if row is None:
        raise NotFound("no such attachment of a published record", parameter="sha256")
    return file_response(row)


def file_response(row: Row) -> Response:
    """The file as a download; its name in ASCII and, for other names, RFC 6266 UTF-8."""
    name = row["filename"]
    ascii_name = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in name)
    disposition = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"
    return Response(
        bytes(row["content"]),
        media_type=row["media_type"],
        headers={
            "Content-Disposition": disposition,
            "Cache-Control": "public, max-age=86400, immutable",
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.get(
    "/v1/disclosure-categories",
    response_model=Categories,
    summary="The categories (the eight, then water), their record types, fields and clocks",
)
def list_categories(request: Request, db: Annotated[Database, Depends(get_database)]) -> Response:
    cats, types = db.run(queries.categories(), queries.record_types())
    by_category: dict[str, list[RecordTypeInfo]] = {}
    for t in types:
        model = MODELS.get(t["code"])
        fields = (
            []
            if model is None
            else [
                FieldLabel(
                    name=f["name"],
                    label=Names(zh=f["label_zh"], en=f["label_en"]),
                    type=f["type"],
                    required=f["required"],
                )
                for f in labels_of(model)
            ]
        )
        by_category.setdefault(t["category"], []).append(
            RecordTypeInfo(
                code=t["code"],
                name=Names(zh=t["name_zh"], en=t["name_en"]),
                origin=t["origin"],
                deadline_working_days=t["deadline_days"],
                deadline_source=t["source_document"],
                deadline_confirmed=t["confirmed"],
                fields=fields,
            )
        )
    body = [
        CategoryInfo(
            code=c["code"],
            ordinal=c["ordinal"],
            name=Names(zh=c["name_zh"], en=c["name_en"]),
            deadline_working_days=c["deadline_days"],
            source=c["source_document"],
            record_types=by_category.get(c["code"], []),
        )
        for c in cats
    ]
    return json_response(request, Categories(body), max_age=MAX_AGE_REFERENCE)
