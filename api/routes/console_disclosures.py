"""``/staff/disclosures``: disclosure authoring in the staff console (editors only: any other
role gets 403 on every page here).

* ``/staff/disclosures`` — every version, drafts included, newest change first;
* ``/staff/disclosures/new?record_type=…`` — a form generated from the record type's typed
  model (:mod:`api.console.forms`), creating a draft; bad content is shown again with each
  field's error (422) and nothing is stored;
* ``/staff/disclosures/{id}`` — one version with its content and files, and what can be done
  with it now: edit or attach a file (PDF, PNG, JPEG; at most
  :data:`schemas.disclosure.workflow.MAX_ATTACHMENT_BYTES`, larger uploads are refused with 413
  before they are read) while a draft, approve (by another editor than the last one), publish,
  withdraw or correct with a reason;
* ``/staff/disclosures/import`` — a CSV or XLSX file of one record type, each good row a draft,
  each bad row listed with its line and field.

Every action is a function of :mod:`schemas.disclosure.workflow` (the same audited path as the
staff API); a refused action shows the record again with the reason (409).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.datastructures import UploadFile

from api.console import label, lang_of, page
from api.console.access import (
    ConsoleResponse,
    Form,
    checked_form,
    console_session,
    form_text,
    message,
    session_before_body,
)
from api.console.forms import content_from, fields_of, values_of
from api.db import Database, get_database
from api.params import reject_nul
from api.queries import disclosures as queries
from api.queries import enterprises as enterprise_queries
from schemas.disclosure import spreadsheet
from schemas.disclosure import workflow as wf
from schemas.disclosure.errors import ContentError, InvalidAction, RecordNotFound
from schemas.disclosure.staff_types import STAFF_MODELS
from schemas.staff.sessions import Session

__all__ = ["router"]

router = APIRouter(
    prefix="/staff/disclosures",
    include_in_schema=False,
    dependencies=[Depends(reject_nul), Depends(session_before_body)],
)

Editor = Annotated[Session, Depends(console_session("editor"))]
RecordId = Annotated[int, Path(ge=1, le=2**63 - 1)]
PAGE_SIZE = 100
ENTERPRISES_LISTED = 2000
MULTIPART_SLACK = 64 * 1024  # form fields and boundaries beside the file itself
STATUSES = ("draft", "approved", "published", "superseded", "withdrawn")


def _too_large(request: Request, limit: int) -> bool:
    """Whether the request says it is larger than ``limit`` bytes of file (and its form)."""
    try:
        return int(request.headers.get("content-length", "0")) > limit + MULTIPART_SLACK
    except ValueError:
        return True


def at_most(limit: int) -> Callable[[Request], None]:
    """A dependency declared before the form: a request larger than ``limit`` bytes of file is
    refused (413) before its body is read."""

    def dependency(request: Request) -> None:
        if _too_large(request, limit):
            lang = lang_of(request)
            raise ConsoleResponse(
                message(
                    request,
                    None,
                    413,
                    label("too_large_title", lang),
                    label("too_large", lang, mb=limit // 2**20),
                )
            )

    return dependency


def _enterprises(db: Database) -> list[dict[str, Any]]:
    f = enterprise_queries.EnterpriseFilter()
    return db.fetch_all(enterprise_queries.select(f, "id", ENTERPRISES_LISTED, 0))


def _type_names(db: Database, lang: str) -> dict[str, str]:
    """The staff record types' names in ``lang`` (from ``disclosure_record_types``)."""
    return {
        r["code"]: (r["name_en"] if lang == "en" else r["name_zh"]) or r["code"]
        for r in db.fetch_all(queries.record_types())
        if r["code"] in STAFF_MODELS
    }


def _int(value: str) -> int | None:
    value = value.strip()
    return int(value) if value.isdigit() and len(value) < 19 else None


# --- Lists and forms ----------------------------------------------------------------------------


@router.get("", response_class=HTMLResponse)
def records(
    request: Request,
    session: Editor,
    db: Annotated[Database, Depends(get_database)],
    status: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    f = queries.DisclosureFilter(status=status if status in STATUSES else None, staff=True)
    counted, rows = db.run(queries.count(f), queries.select(f, PAGE_SIZE, 0))
    return page(
        request,
        "disclosures.html",
        user=session.user,
        csrf=session.csrf_token,
        records=rows,
        found=int(counted[0]["found"]),
        status=f.status,
        statuses=STATUSES,
        types=_type_names(db, lang_of(request)),
    )


def _form_page(
    request: Request,
    session: Session,
    db: Database,
    record_type: str,
    *,
    values: dict[str, str],
    errors: dict[str, str],
    status: int = 200,
    record: dict[str, Any] | None = None,
    enterprise_id: int | None = None,
    titles: tuple[str, str] = ("", ""),
) -> Response:
    return page(
        request,
        "disclosure_form.html",
        status_code=status,
        user=session.user,
        csrf=session.csrf_token,
        record_type=record_type,
        type_name=_type_names(db, lang_of(request))[record_type],
        fields=fields_of(record_type),
        values=values,
        errors=errors,
        record=record,
        enterprises=_enterprises(db) if record is None else [],
        enterprise_id=enterprise_id,
        titles=titles,
    )


@router.get("/new", response_class=HTMLResponse)
def new_form(
    request: Request,
    session: Editor,
    db: Annotated[Database, Depends(get_database)],
    record_type: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    if record_type not in STAFF_MODELS:
        return RedirectResponse("/staff/disclosures", status_code=303)
    return _form_page(request, session, db, record_type, values={}, errors={})


def _errors(exc: ContentError) -> dict[str, str]:
    out: dict[str, str] = {}
    for e in exc.errors:
        out.setdefault(e["field"] or "content", e["message"])
    return out


@router.post("/new", response_class=HTMLResponse)
def create(
    request: Request, form: Form, db: Annotated[Database, Depends(get_database)]
) -> Response:
    session = checked_form(request, form, "editor")
    record_type = form_text(form, "record_type")
    if record_type not in STAFF_MODELS:
        return RedirectResponse("/staff/disclosures", status_code=303)
    content = content_from(form, record_type)
    enterprise_id = _int(form_text(form, "enterprise_id"))
    title_zh = form_text(form, "title_zh").strip()[:500] or None
    title_en = form_text(form, "title_en").strip()[:500] or None
    try:
        record = db.call(
            lambda conn: wf.create_draft(
                conn,
                record_type=record_type,
                content=content,
                actor=session.user.username,
                enterprise_id=enterprise_id,
                title_zh=title_zh,
                title_en=title_en,
            )
        )
    except (ContentError, InvalidAction) as exc:
        errors = _errors(exc) if isinstance(exc, ContentError) else {"content": exc.reason}
        return _form_page(
            request,
            session,
            db,
            record_type,
            values=values_of(content),
            errors=errors,
            status=422,
            enterprise_id=enterprise_id,
            titles=(title_zh or "", title_en or ""),
        )
    return RedirectResponse(f"/staff/disclosures/{record.id}?done=create", status_code=303)


# --- Bulk import --------------------------------------------------------------------------------


@router.get("/import", response_class=HTMLResponse)
def import_form(
    request: Request, session: Editor, db: Annotated[Database, Depends(get_database)]
) -> Response:
    return page(
        request,
        "disclosure_import.html",
        user=session.user,
        csrf=session.csrf_token,
        types=_type_names(db, lang_of(request)),
        result=None,
        record_type="",
        max_mb=spreadsheet.MAX_BYTES // 2**20,
    )


@router.post(
    "/import", response_class=HTMLResponse, dependencies=[Depends(at_most(spreadsheet.MAX_BYTES))]
)
def import_file(
    request: Request, form: Form, db: Annotated[Database, Depends(get_database)]
) -> Response:
    session = checked_form(request, form, "editor")
    record_type = form_text(form, "record_type")
    upload = form.get("file")
    lang = lang_of(request)
    status = 200
    result: dict[str, Any]
    if record_type not in STAFF_MODELS or not isinstance(upload, UploadFile):
        result = {
            "created": [],
            "errors": [{"line": 0, "field": "file", "message": label("import_needs", lang)}],
        }
        status = 422
    else:
        data = upload.file.read(spreadsheet.MAX_BYTES + 1)
        try:
            parsed = spreadsheet.parse_bulk(data, upload.filename or "", record_type)
        except spreadsheet.BulkFileError as exc:
            result = {"created": [], "errors": [{"line": 0, "field": "file", "message": str(exc)}]}
            status = 422
        else:
            done = db.call(
                lambda conn: wf.import_rows(
                    conn, record_type, parsed.rows, actor=session.user.username
                )
            )
            errors = [
                {"line": e.line, "field": e.field, "message": e.message} for e in parsed.errors
            ] + list(done.errors)
            result = {"created": done.created, "errors": sorted(errors, key=lambda e: e["line"])}
    return page(
        request,
        "disclosure_import.html",
        status_code=status,
        user=session.user,
        csrf=session.csrf_token,
        types=_type_names(db, lang),
        result=result,
        record_type=record_type,
        max_mb=spreadsheet.MAX_BYTES // 2**20,
    )


# --- One version --------------------------------------------------------------------------------


def _record(db: Database, record_id: int) -> dict[str, Any] | None:
    rows = db.fetch_all(queries.one(record_id, staff=True))
    return rows[0] if rows else None


def _record_page(
    request: Request,
    session: Session,
    db: Database,
    record_id: int,
    *,
    status: int = 200,
    done: str | None = None,
    error: str | None = None,
) -> Response:
    record = _record(db, record_id)
    lang = lang_of(request)
    if record is None:
        return message(request, session, 404, label("not_found", lang), f"#{record_id}")
    labels = (
        {
            f.name: (f.label_en if lang == "en" else f.label_zh)
            for f in fields_of(record["record_type"])
        }
        if record["record_type"] in STAFF_MODELS
        else {}
    )
    return page(
        request,
        "disclosure.html",
        status_code=status,
        user=session.user,
        csrf=session.csrf_token,
        r=record,
        field_labels=labels,
        type_name=_type_names(db, lang).get(record["record_type"], record["record_type"]),
        done=done,
        error=error,
        max_mb=wf.MAX_ATTACHMENT_BYTES // 2**20,
    )


@router.get("/{record_id}", response_class=HTMLResponse)
def record_page(
    request: Request,
    session: Editor,
    db: Annotated[Database, Depends(get_database)],
    record_id: RecordId,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    shown = done if done in ("create", "edit", "attach", *_ACTIONS) else None
    return _record_page(request, session, db, record_id, done=shown)


@router.get("/{record_id}/edit", response_class=HTMLResponse)
def edit_form(
    request: Request,
    session: Editor,
    db: Annotated[Database, Depends(get_database)],
    record_id: RecordId,
) -> Response:
    record = _record(db, record_id)
    if record is None or record["record_type"] not in STAFF_MODELS:
        return message(request, session, 404, label("not_found", lang_of(request)), f"#{record_id}")
    return _form_page(
        request,
        session,
        db,
        record["record_type"],
        values=values_of(record["content"]),
        errors={},
        record=record,
        titles=(record["title_zh"] or "", record["title_en"] or ""),
    )


@router.post("/{record_id}/edit", response_class=HTMLResponse)
def edit(
    request: Request,
    form: Form,
    db: Annotated[Database, Depends(get_database)],
    record_id: RecordId,
) -> Response:
    session = checked_form(request, form, "editor")
    record = _record(db, record_id)
    if record is None or record["record_type"] not in STAFF_MODELS:
        return message(request, session, 404, label("not_found", lang_of(request)), f"#{record_id}")
    content = content_from(form, record["record_type"])
    title_zh = form_text(form, "title_zh").strip()[:500] or None
    title_en = form_text(form, "title_en").strip()[:500] or None
    try:
        db.call(
            lambda conn: wf.edit_draft(
                conn,
                record_id,
                actor=session.user.username,
                content=content,
                title_zh=title_zh,
                title_en=title_en,
            )
        )
    except ContentError as exc:
        return _form_page(
            request,
            session,
            db,
            record["record_type"],
            values=values_of(content),
            errors=_errors(exc),
            status=422,
            record=record,
            titles=(title_zh or "", title_en or ""),
        )
    except InvalidAction as exc:
        return _record_page(request, session, db, record_id, status=409, error=exc.reason)
    return RedirectResponse(f"/staff/disclosures/{record_id}?done=edit", status_code=303)


def _approve(conn: psycopg.Connection[Any], record_id: int, actor: str, form: Any) -> wf.Record:
    return wf.approve(conn, record_id, actor=actor)


def _publish(conn: psycopg.Connection[Any], record_id: int, actor: str, form: Any) -> wf.Record:
    return wf.publish(conn, record_id, actor=actor)


def _withdraw(conn: psycopg.Connection[Any], record_id: int, actor: str, form: Any) -> wf.Record:
    return wf.withdraw(conn, record_id, actor=actor, reason=form_text(form, "reason"))


def _correct(conn: psycopg.Connection[Any], record_id: int, actor: str, form: Any) -> wf.Record:
    return wf.correct(conn, record_id, actor=actor, reason=form_text(form, "reason"))


_ACTIONS = {"approve": _approve, "publish": _publish, "withdraw": _withdraw, "correct": _correct}


@router.post(
    "/{record_id}/attach",
    response_class=HTMLResponse,
    dependencies=[Depends(at_most(wf.MAX_ATTACHMENT_BYTES))],
)
def attach(
    request: Request,
    form: Form,
    db: Annotated[Database, Depends(get_database)],
    record_id: RecordId,
) -> Response:
    """A file for a draft; refused with 413, unread, when the request is larger than allowed."""
    session = checked_form(request, form, "editor")
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        return _record_page(
            request,
            session,
            db,
            record_id,
            status=422,
            error=label("file_needed", lang_of(request)),
        )
    data = upload.file.read(wf.MAX_ATTACHMENT_BYTES + 1)
    media = (upload.content_type or "").split(";")[0].strip()
    try:
        db.call(
            lambda conn: wf.attach(
                conn,
                record_id,
                actor=session.user.username,
                filename=upload.filename or "",
                media_type=media,
                data=data,
            )
        )
    except RecordNotFound:
        return message(request, session, 404, label("not_found", lang_of(request)), f"#{record_id}")
    except InvalidAction as exc:
        if len(data) > wf.MAX_ATTACHMENT_BYTES:  # refused by wf.attach: too large
            lang = lang_of(request)
            mb = wf.MAX_ATTACHMENT_BYTES // 2**20
            title, text = label("too_large_title", lang), label("too_large", lang, mb=mb)
            return message(request, session, 413, title, text)
        return _record_page(request, session, db, record_id, status=409, error=exc.reason)
    return RedirectResponse(f"/staff/disclosures/{record_id}?done=attach", status_code=303)


@router.post("/{record_id}/{action}", response_class=HTMLResponse)
def act(
    request: Request,
    form: Form,
    db: Annotated[Database, Depends(get_database)],
    record_id: RecordId,
    action: Annotated[str, Path(max_length=20)],
) -> Response:
    session = checked_form(request, form, "editor")
    step = _ACTIONS.get(action)
    if step is None:
        return message(request, session, 404, label("not_found", lang_of(request)), action)
    try:
        record = db.call(lambda conn: step(conn, record_id, session.user.username, form))
    except RecordNotFound:
        return message(request, session, 404, label("not_found", lang_of(request)), f"#{record_id}")
    except (InvalidAction, ContentError) as exc:
        reason = exc.reason if isinstance(exc, InvalidAction) else str(exc)
        return _record_page(request, session, db, record_id, status=409, error=reason)
    return RedirectResponse(f"/staff/disclosures/{record.id}?done={action}", status_code=303)
