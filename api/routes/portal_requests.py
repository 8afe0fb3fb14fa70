"""``/portal/requests``: the bilingual public form for requests for information (依申请公开) and
the page where a requester follows their own request (:mod:`schemas.disclosure.requests`).

* ``GET /portal/requests`` — the form; ``POST`` submits it (the same rules and per-address
  limit as ``POST /v1/requests``) and shows the reference number and the tracking token once;
* ``GET /portal/requests/track`` — the look-up form; ``POST`` with the reference and token shows
  the request's status, deadline, extension, supplement and answer, with a button per file of
  the answer (``POST /portal/requests/track/file``: reference, token and the file's SHA-256).
  The token travels in the form body, never in a URL.

Pages showing a token or a request are never cached. Not part of the OpenAPI schema.
"""

from __future__ import annotations

from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Depends, Form, Query, Request, Response

from api.db import Database, get_database
from api.errors import RateLimited
from api.params import reject_nul
from api.portal import Lang, page_response, texts
from api.render import PRIVATE
from api.routes.disclosures import file_response
from api.routes.requests import request_out, submit_allowed
from schemas.disclosure import requests as rq
from schemas.disclosure.errors import ContentError
from schemas.disclosure.request_codes import clocks

__all__ = ["router"]

router = APIRouter(
    prefix="/portal/requests", include_in_schema=False, dependencies=[Depends(reject_nul)]
)
LangParam = Annotated[Lang, Query(description="zh (default) or en.")]
EMPTY = {
    "requester_kind": "person",
    "requester_name": "",
    "contact": "",
    "description": "",
    "preferred_form": "electronic",
}


def _switch(path: str, lang: Lang) -> str:
    return f"{path}?lang={'en' if lang == 'zh' else 'zh'}"


def _form_page(db: Database, lang: Lang, *, status: int = 200, **context: Any) -> Response:
    days = db.call(lambda conn: {k: c.working_days for k, c in clocks(conn).items()})
    response = page_response(
        "portal_request.html",
        lang,
        switch_url=_switch("/portal/requests", lang),
        answer_days=days["answer"],
        extension_days=days["extension"],
        labels=set(texts()["labels"]),
        **{"done": None, "errors": [], "limited": False, "values": EMPTY, **context},
    )
    response.status_code = status
    response.headers.update(PRIVATE)
    return response


@router.get("")
def request_form(
    db: Annotated[Database, Depends(get_database)], lang: LangParam = "zh"
) -> Response:
    return _form_page(db, lang)


@router.post("")
def submit_form(
    request: Request,
    db: Annotated[Database, Depends(get_database)],
    requester_name: Annotated[str, Form(max_length=1000)] = "",
    contact: Annotated[str, Form(max_length=1000)] = "",
    description: Annotated[str, Form(max_length=10_000)] = "",
    requester_kind: Annotated[str, Form(max_length=20)] = "person",
    preferred_form: Annotated[str, Form(max_length=20)] = "electronic",
    lang: LangParam = "zh",
) -> Response:
    values = {
        "requester_kind": requester_kind,
        "requester_name": requester_name,
        "contact": contact,
        "description": description,
        "preferred_form": preferred_form,
    }
    try:
        submit_allowed(request)
    except RateLimited as exc:
        page = _form_page(db, lang, status=429, limited=True, values=values)
        page.headers.update(exc.headers)
        return page
    try:
        done = db.call(
            lambda conn: rq.submit(
                conn,
                requester_kind=requester_kind,
                requester_name=requester_name,
                contact=contact,
                description=description,
                preferred_form=preferred_form,
            )
        )
    except ContentError as exc:
        return _form_page(db, lang, status=422, errors=exc.errors, values=values)
    shown = {
        "reference": done.request.reference,
        "token": done.token,
        "received_on": done.request.received_on.isoformat(),
        "due_on": done.request.due_on.isoformat(),
    }
    return _form_page(db, lang, status=201, done=shown)


def _track_page(lang: Lang, *, status: int = 200, **context: Any) -> Response:
    response = page_response(
        "portal_request_track.html",
        lang,
        switch_url=_switch("/portal/requests/track", lang),
        **{"reference": "", "found": None, "not_found": False, "token": "", **context},
    )
    response.status_code = status
    response.headers.update(PRIVATE)
    return response


@router.get("/track")
def track_form(lang: LangParam = "zh") -> Response:
    return _track_page(lang)


@router.post("/track")
def track_request(
    db: Annotated[Database, Depends(get_database)],
    reference: Annotated[str, Form(max_length=20)] = "",
    token: Annotated[str, Form(max_length=100)] = "",
    lang: LangParam = "zh",
) -> Response:
    def read(conn: psycopg.Connection[Any]) -> dict[str, Any] | None:
        found = rq.track(conn, reference, token) if reference and token else None
        return None if found is None else request_out(conn, found).model_dump(mode="json")

    found = db.call(read)
    if found is None:
        return _track_page(lang, status=404, reference=reference, not_found=True)
    # the token goes back only into the hidden fields of the file buttons (a private page)
    shown = token if found["attachments"] else ""
    return _track_page(lang, reference=reference, found=found, token=shown)


@router.post("/track/file")
def track_file(
    db: Annotated[Database, Depends(get_database)],
    reference: Annotated[str, Form(max_length=20)] = "",
    token: Annotated[str, Form(max_length=100)] = "",
    sha256: Annotated[str, Form(pattern="^[0-9a-f]{64}$")] = "0" * 64,
    lang: LangParam = "zh",
) -> Response:
    """A file of the answer, for the requester who gives the reference and token."""

    def read(conn: psycopg.Connection[Any]) -> tuple[str, str, bytes] | None:
        found = rq.track(conn, reference, token) if reference and token else None
        return None if found is None else rq.attachment_file(conn, found.id, bytes.fromhex(sha256))

    found = db.call(read)
    if found is None:
        return _track_page(lang, status=404, reference=reference, not_found=True)
    name, media_type, content = found
    response = file_response({"filename": name, "media_type": media_type, "content": content})
    response.headers.update(PRIVATE)
    return response
