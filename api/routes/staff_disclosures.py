"""``/v1/staff/disclosures``: staff author, review and publish records (:mod:`api.auth`).

* ``GET /v1/staff/disclosures`` (viewer): every version, drafts included, by status, category,
  record type and enterprise;
* ``GET /v1/staff/disclosures/{id}`` (viewer): one version with who created, edited, approved
  and published it;
* ``POST /v1/staff/disclosures`` (editor): a new draft;
* ``PATCH /v1/staff/disclosures/{id}`` (editor): change a draft;
* ``POST /v1/staff/disclosures/{id}/approve|publish|withdraw|correct`` (editor): the workflow of
  :mod:`schemas.disclosure.workflow` (approving needs a second person; withdrawing and
  correcting need a reason);
* ``POST /v1/staff/disclosures/{id}/attachments`` (editor): attach a PDF or image to a draft;
* ``POST /v1/staff/disclosures/import?record_type=`` (editor): drafts from a CSV or XLSX file,
  with per-row errors; ``GET …/import-template`` the file to fill in;

An unknown record is 404, an action the record does not allow now 409, bad content 422 naming
the field. Answers are never cached by proxies.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any, Literal

import psycopg
from fastapi import APIRouter, Depends, File, Path, Query, Request, Response, UploadFile
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic.json_schema import SkipJsonSchema

from api.auth import StaffUser, require_role
from api.db import Database, Row, fetch_rows, get_database
from api.errors import (
    CONFLICT_RESPONSE,
    ERROR_RESPONSES,
    NOT_FOUND_RESPONSE,
    STAFF_RESPONSES,
    InvalidParameter,
    NotFound,
)
from api.params import Format, Pagination, output_format, pagination, reject_nul
from api.queries import disclosures as queries
from api.render import CSV_RESPONSE, PRIVATE, private
from api.responses import Instant, Page, instant
from api.routes.common import list_response
from api.routes.disclosures import Category, Disclosure, file_response, to_disclosure
from schemas.disclosure import spreadsheet
from schemas.disclosure import workflow as wf
from schemas.disclosure.record_types import MODELS
from schemas.disclosure.staff_types import StaffRecordType

__all__ = ["StaffDisclosure", "router"]

router = APIRouter(
    prefix="/v1/staff/disclosures",
    tags=["staff"],
    responses={**ERROR_RESPONSES, **STAFF_RESPONSES},
    dependencies=[Depends(reject_nul)],
)
RECORD_ID = Path(ge=1, le=2**63 - 1, description="Id of one version of a record.")
ACTION_RESPONSES: dict[int | str, dict[str, Any]] = {**NOT_FOUND_RESPONSE, **CONFLICT_RESPONSE}
MAX_UPLOAD = wf.MAX_ATTACHMENT_BYTES

Viewer = Annotated[StaffUser, Depends(require_role("viewer"))]
Editor = Annotated[StaffUser, Depends(require_role("editor"))]
RecordId = Annotated[int, RECORD_ID]
Status = Literal["draft", "approved", "published", "superseded", "withdrawn"]
Reason = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=wf.MAX_REASON)
]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
StaffType = StaffRecordType


class StaffDisclosure(Disclosure):
    created: Instant
    created_by: str
    updated: Instant
    updated_by: str
    approved: Instant | None
    approved_by: str | None
    published_by: str | None
    withdrawn_by: str | None


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateBody(_Body):
    record_type: StaffType = Field(description="A staff-authored record type.")
    content: dict[str, Any] = Field(description="The fields of the record type.")
    enterprise_id: int | None = Field(None, ge=1, le=2**63 - 1)
    outlet_id: int | None = Field(None, ge=1, le=2**63 - 1)
    formed_at: dt.datetime | None = Field(
        None, description="When the information was formed; default: the content's own date."
    )
    title_zh: Title | None = None
    title_en: Title | None = None


class EditBody(_Body):
    content: dict[str, Any] | None = None
    formed_at: dt.datetime | None = None
    title_zh: Title | None = None
    title_en: Title | None = None


class ReasonBody(_Body):
    reason: Reason


class CorrectBody(_Body):
    reason: Reason = Field(description="Why the published version is corrected (public).")
    content: dict[str, Any] | None = Field(
        None, description="The corrected content; default: unchanged."
    )
    formed_at: dt.datetime | None = None


class AttachmentOut(BaseModel):
    id: int
    record_id: int
    filename: str
    media_type: str
    size_bytes: int
    sha256: str


class ImportError_(BaseModel):
    line: int
    field: str
    message: str


class ImportOut(BaseModel):
    created: list[int] = Field(description="Ids of the drafts created.")
    errors: list[ImportError_] = Field(description="Rows not imported, with the reason.")


def to_staff(row: Row) -> StaffDisclosure:
    approved = row["approved_at"]
    return StaffDisclosure(
        **to_disclosure(row, staff=True).model_dump(),
        created=instant(row["created_at"]),
        created_by=row["created_by"],
        updated=instant(row["updated_at"]),
        updated_by=row["updated_by"],
        approved=None if approved is None else instant(approved),
        approved_by=row["approved_by"],
        published_by=row["published_by"],
        withdrawn_by=row["withdrawn_by"],
    )


def _read(conn: psycopg.Connection[Any], record_id: int) -> StaffDisclosure:
    found = fetch_rows(conn, queries.one(record_id, staff=True))
    if not found:
        raise NotFound(f"disclosure record {record_id} does not exist", parameter="record_id")
    return to_staff(found[0])


def _act(
    db: Database, action: Callable[[psycopg.Connection[Any]], wf.Record], *, status: int = 200
) -> Response:
    """Run the workflow action and read the version it returns back, in one transaction."""

    def run(conn: psycopg.Connection[Any]) -> StaffDisclosure:
        return _read(conn, action(conn).id)

    record = db.call(run)
    return Response(
        record.model_dump_json(), status_code=status, media_type="application/json", headers=PRIVATE
    )


# --- Reading ------------------------------------------------------------------------------------


@router.get(
    "",
    response_model=Page[StaffDisclosure],
    responses=CSV_RESPONSE,
    summary="List record versions (staff)",
)
def list_records(
    request: Request,
    user: Viewer,
    db: Annotated[Database, Depends(get_database)],
    page: Annotated[Pagination, Depends(pagination)],
    fmt: Annotated[Format, Depends(output_format)],
    status: Annotated[Status | None, Query(description="Only versions in this state.")] = None,
    category: Annotated[
        Category | None, Query(description="One of the eight categories, or `water`.")
    ] = None,
    record_type: Annotated[
        str | SkipJsonSchema[None],
        Query(max_length=64, json_schema_extra={"enum": sorted(MODELS)}),
    ] = None,
    enterprise_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
) -> Response:
    """Every version, drafts included, most recently changed first. JSON or CSV."""
    if record_type is not None and record_type not in MODELS:
        raise InvalidParameter("record_type", f"unknown record type {record_type!r}")
    f = queries.DisclosureFilter(
        category=category,
        record_type=record_type,
        enterprise_id=enterprise_id,
        status=status,
        staff=True,
    )
    response = list_response(
        request,
        db,
        fmt=fmt,
        pagination=page,
        count=queries.count(f),
        select=lambda limit, offset: queries.select(f, limit, offset),
        convert=to_staff,
        model=StaffDisclosure,
        filename="disclosures.csv",
    )
    return private(response)


@router.get(
    "/import-template",
    response_class=Response,
    responses={
        200: {
            "content": {
                "text/csv": {},
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {},
            },
            "description": "The template.",
        }
    },
    summary="The CSV or XLSX file to fill in for a bulk import",
)
def import_template(
    user: Editor,
    record_type: Annotated[StaffType, Query(description="A staff-authored record type.")],
    format: Annotated[Literal["csv", "xlsx"], Query(description="File format.")] = "csv",
) -> Response:
    data = spreadsheet.template(record_type, format)
    media = (
        "text/csv; charset=utf-8"
        if format == "csv"
        else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    return Response(
        data,
        media_type=media,
        headers={
            **PRIVATE,
            "Content-Disposition": f'attachment; filename="{record_type}.{format}"',
        },
    )


@router.get(
    "/{record_id:int}",
    response_model=StaffDisclosure,
    responses=NOT_FOUND_RESPONSE,
    summary="One version (staff)",
)
def get_record(
    user: Viewer, db: Annotated[Database, Depends(get_database)], record_id: RecordId
) -> Response:
    record = db.call(lambda conn: _read(conn, record_id))
    return Response(record.model_dump_json(), media_type="application/json", headers=PRIVATE)


@router.get(
    "/{record_id}/attachments/{sha256}",
    response_class=Response,
    responses={
        **NOT_FOUND_RESPONSE,
        200: {"content": {"application/octet-stream": {}}, "description": "The file."},
    },
    summary="An attached file, of any version (staff)",
)
def get_attachment(
    user: Viewer,
    db: Annotated[Database, Depends(get_database)],
    record_id: RecordId,
    sha256: Annotated[str, Path(pattern="^[0-9a-f]{64}$")],
) -> Response:
    row = db.fetch_one(queries.attachment(record_id, bytes.fromhex(sha256), staff=True))
    if row is None:
        raise NotFound("no such attachment", parameter="sha256")
    return private(file_response(row))


# --- Acting -------------------------------------------------------------------------------------


@router.post("", response_model=StaffDisclosure, status_code=201, summary="Create a draft record")
def create(
    user: Editor, db: Annotated[Database, Depends(get_database)], body: CreateBody
) -> Response:
    """A new record as a draft; its deadline is computed from when it was formed."""
    return _act(
        db,
        lambda conn: wf.create_draft(
            conn,
            record_type=body.record_type,
            content=body.content,
            actor=user.username,
            enterprise_id=body.enterprise_id,
            outlet_id=body.outlet_id,
            formed_at=body.formed_at,
            title_zh=body.title_zh,
            title_en=body.title_en,
        ),
        status=201,
    )


@router.patch(
    "/{record_id:int}",
    response_model=StaffDisclosure,
    responses=ACTION_RESPONSES,
    summary="Change a draft",
)
def edit(
    user: Editor,
    db: Annotated[Database, Depends(get_database)],
    record_id: RecordId,
    body: EditBody,
) -> Response:
    """Change a draft; an approved version goes back to draft for a new review."""
    return _act(
        db,
        lambda conn: wf.edit_draft(
            conn,
            record_id,
            actor=user.username,
            content=body.content,
            formed_at=body.formed_at,
            title_zh=body.title_zh,
            title_en=body.title_en,
        ),
    )


@router.post(
    "/{record_id}/approve",
    response_model=StaffDisclosure,
    responses=ACTION_RESPONSES,
    summary="Approve a draft",
)
def approve(
    user: Editor, db: Annotated[Database, Depends(get_database)], record_id: RecordId
) -> Response:
    """Review passed. The reviewer must not be the draft's last editor."""
    return _act(db, lambda conn: wf.approve(conn, record_id, actor=user.username))


@router.post(
    "/{record_id}/publish",
    response_model=StaffDisclosure,
    responses=ACTION_RESPONSES,
    summary="Publish an approved version",
)
def publish(
    user: Editor, db: Annotated[Database, Depends(get_database)], record_id: RecordId
) -> Response:
    """Publish; the entry is appended to the publication log in the same transaction."""
    return _act(db, lambda conn: wf.publish(conn, record_id, actor=user.username))


@router.post(
    "/{record_id}/withdraw",
    response_model=StaffDisclosure,
    responses=ACTION_RESPONSES,
    summary="Withdraw a published version",
)
def withdraw(
    user: Editor,
    db: Annotated[Database, Depends(get_database)],
    record_id: RecordId,
    body: ReasonBody,
) -> Response:
    """Take the version off the public list; the reason is public and logged."""
    return _act(
        db, lambda conn: wf.withdraw(conn, record_id, actor=user.username, reason=body.reason)
    )


@router.post(
    "/{record_id}/correct",
    response_model=StaffDisclosure,
    status_code=201,
    responses=ACTION_RESPONSES,
    summary="Start a correction: a new draft version of a published record",
)
def correct(
    user: Editor,
    db: Annotated[Database, Depends(get_database)],
    record_id: RecordId,
    body: CorrectBody,
) -> Response:
    """The answer is the new draft version; it supersedes the published one when published."""
    return _act(
        db,
        lambda conn: wf.correct(
            conn,
            record_id,
            actor=user.username,
            reason=body.reason,
            content=body.content,
            formed_at=body.formed_at,
        ),
        status=201,
    )


@router.post(
    "/{record_id}/attachments",
    response_model=AttachmentOut,
    status_code=201,
    responses=ACTION_RESPONSES,
    summary="Attach a file (PDF, PNG, JPEG) to a draft",
)
def attach(
    user: Editor,
    db: Annotated[Database, Depends(get_database)],
    record_id: RecordId,
    file: Annotated[UploadFile, File(description="The file; its SHA-256 is kept and published.")],
) -> Response:
    data = file.file.read(MAX_UPLOAD + 1)
    media = (file.content_type or "").split(";")[0].strip()
    attachment = db.call(
        lambda conn: wf.attach(
            conn,
            record_id,
            actor=user.username,
            filename=file.filename or "",
            media_type=media,
            data=data,
        )
    )
    out = AttachmentOut(**{k: getattr(attachment, k) for k in AttachmentOut.model_fields})
    return Response(
        out.model_dump_json(), status_code=201, media_type="application/json", headers=PRIVATE
    )


@router.post("/import", response_model=ImportOut, summary="Import drafts from a CSV or XLSX file")
def import_file(
    user: Editor,
    db: Annotated[Database, Depends(get_database)],
    record_type: Annotated[StaffType, Query(description="The record type of every row.")],
    file: Annotated[UploadFile, File(description="CSV (UTF-8 or GB18030) or XLSX.")],
) -> Response:
    """Each good row becomes a draft; each bad row is reported with its line and field."""
    data = file.file.read(spreadsheet.MAX_BYTES + 1)
    try:
        parsed = spreadsheet.parse_bulk(data, file.filename or "", record_type)
    except spreadsheet.BulkFileError as exc:
        raise InvalidParameter("file", str(exc)) from None
    result = db.call(
        lambda conn: wf.import_rows(conn, record_type, parsed.rows, actor=user.username)
    )
    errors = [
        ImportError_(line=e.line, field=e.field, message=e.message) for e in parsed.errors
    ] + [ImportError_(**e) for e in result.errors]
    out = ImportOut(created=result.created, errors=sorted(errors, key=lambda e: e.line))
    return Response(out.model_dump_json(), media_type="application/json", headers=PRIVATE)
