"""``GET /v1/staff/audit`` (admin): the audit log of every staff action, newest first: who did
what, when, with the object before and after (JSON or CSV)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel

from api.auth import StaffUser, require_role
from api.db import Database, Row, get_database
from api.errors import ERROR_RESPONSES, STAFF_RESPONSES
from api.params import Format, Pagination, output_format, pagination, reject_nul
from api.queries import audit as queries
from api.render import CSV_RESPONSE, private
from api.responses import Instant, Page, instant
from api.routes.common import list_response

__all__ = ["router"]

router = APIRouter(
    prefix="/v1/staff/audit",
    tags=["staff"],
    responses={**ERROR_RESPONSES, **STAFF_RESPONSES},
    dependencies=[Depends(reject_nul)],
)

Admin = Annotated[StaffUser, Depends(require_role("admin"))]


class AuditEntry(BaseModel):
    id: int
    at: Instant
    actor: str
    action: str
    object_type: str
    object_id: str | None
    before: Any
    after: Any


def _audit_entry(row: Row) -> AuditEntry:
    return AuditEntry(**{**row, "at": instant(row["at"])})


@router.get(
    "",
    response_model=Page[AuditEntry],
    responses=CSV_RESPONSE,
    summary="The audit log of staff actions (admin)",
)
def list_audit(
    request: Request,
    user: Admin,
    db: Annotated[Database, Depends(get_database)],
    page: Annotated[Pagination, Depends(pagination)],
    fmt: Annotated[Format, Depends(output_format)],
    object_type: Annotated[
        str | None, Query(max_length=64, description="e.g. disclosure_record, case, staff_token.")
    ] = None,
    object_id: Annotated[str | None, Query(max_length=64)] = None,
    actor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """Newest first: who did what, when, with the object before and after. JSON or CSV."""
    response = list_response(
        request,
        db,
        fmt=fmt,
        pagination=page,
        count=queries.audit_count(object_type, object_id, actor),
        select=lambda limit, offset: queries.audit_select(
            object_type, object_id, actor, limit, offset
        ),
        convert=_audit_entry,
        model=AuditEntry,
        filename="audit.csv",
    )
    return private(response)
