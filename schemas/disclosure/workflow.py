"""How a disclosure record goes from draft to published, and how it is corrected or withdrawn.

Staff records (origin ``staff``) pass a review step::

    create ─► draft ──approve──► approved ──publish──► published ──withdraw──► withdrawn
               ▲  │ edit            │ edit (back to draft)  │
               └──┘                 ▼                       └─correct─► new draft version
                                  draft                                 (supersedes it)

* the reviewer who approves must not be the last person who edited the draft (four eyes);
  attaching a file is an edit, so its uploader is the last editor;
* content is validated against the record type's model (:mod:`schemas.disclosure.record_types`);
* attachments can be added to drafts only, so what is published is what was reviewed;
* a published version is never edited: a correction is a new version with a reason that
  supersedes it when it is published; withdrawing needs a reason;
* publishing and withdrawing append an entry to the hash-chained publication log
  (:mod:`schemas.disclosure.ledger`) in the same transaction;
* every staff action is written to the audit log (:mod:`schemas.staff.audit`), before and after.

Automatic records (origin ``auto``) are published by
:func:`schemas.disclosure.automatic.publish_automatic`.

Every function runs in ``conn.transaction()``: it commits by itself, unless the caller already
has a transaction open, in which case it is a savepoint and the caller commits.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg

from schemas.disclosure.errors import ContentError, InvalidAction
from schemas.disclosure.ledger import append
from schemas.disclosure.records import (
    SYSTEM,
    Record,
    check_outlet,
    get_record,
    insert_version,
    prepare_content,
    publish_version,
    record_type_of,
    update_version,
)
from schemas.disclosure.workdays import due_on
from schemas.staff.audit import audit

__all__ = [
    "MAX_ATTACHMENT_BYTES",
    "SYSTEM",
    "Attachment",
    "ImportResult",
    "Record",
    "approve",
    "attach",
    "checked_file",
    "correct",
    "create_draft",
    "edit_draft",
    "get_record",
    "import_rows",
    "publish",
    "withdraw",
]

MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024
MAX_REASON = 2_000
_MEDIA_TYPES = {"application/pdf": b"%PDF-", "image/png": b"\x89PNG", "image/jpeg": b"\xff\xd8"}


@dataclass(frozen=True, slots=True)
class Attachment:
    id: int
    record_id: int
    filename: str
    media_type: str
    size_bytes: int
    sha256: str


@dataclass(frozen=True, slots=True)
class ImportResult:
    created: list[int]
    errors: list[dict[str, Any]]  # {line, field, message}


def _text(value: str | None, record_id: int | None, action: str, what: str) -> str:
    text = (value or "").strip()
    if not text:
        raise InvalidAction(record_id, action, f"a {what} is required")
    if len(text) > MAX_REASON:
        raise InvalidAction(record_id, action, f"the {what} is longer than {MAX_REASON} characters")
    return text


def _actor(actor: str, action: str) -> str:
    if not actor.strip():
        raise InvalidAction(None, action, "an actor is required")
    return actor


def _snapshot(record: Record) -> dict[str, Any]:
    """What the audit log keeps of a version (content included)."""
    keep = ("id", "record_key", "version", "status", "title_zh", "title_en", "content")
    data = asdict(record)
    return {k: data[k] for k in (*keep, "enterprise_id", "formed_at", "due_on")}


# --- Staff records ------------------------------------------------------------------------------


def create_draft(
    conn: psycopg.Connection[Any],
    *,
    record_type: str,
    content: Mapping[str, Any],
    actor: str,
    enterprise_id: int | None = None,
    outlet_id: int | None = None,
    formed_at: datetime | None = None,
    title_zh: str | None = None,
    title_en: str | None = None,
) -> Record:
    """A new record (version 1) as a draft. ``formed_at`` defaults to the content's own date
    (a decision date …); the legal deadline is computed from it."""
    _actor(actor, "create")
    with conn.transaction():
        category, origin, deadline = record_type_of(conn, record_type)
        if origin != "staff":
            raise InvalidAction(
                None, "create", f"{record_type} records are published automatically"
            )
        stored, formed, titles = prepare_content(
            conn, record_type, content, enterprise_id, formed_at
        )
        check_outlet(conn, outlet_id, enterprise_id)
        record = insert_version(
            conn,
            {
                "record_key": f"{record_type}-{secrets.token_hex(8)}",
                "version": 1,
                "record_type": record_type,
                "category": category,
                "enterprise_id": enterprise_id,
                "outlet_id": outlet_id,
                "title_zh": title_zh or titles[0],
                "title_en": title_en or titles[1],
                "content": stored,
                "origin": "staff",
                "formed_at": formed,
                "due_on": due_on(formed, deadline),
                "created_by": actor,
                "updated_by": actor,
            },
        )
        audit(
            conn,
            actor,
            "disclosure.create",
            "disclosure_record",
            record.id,
            after=_snapshot(record),
        )
    return record


def edit_draft(
    conn: psycopg.Connection[Any],
    record_id: int,
    *,
    actor: str,
    content: Mapping[str, Any] | None = None,
    formed_at: datetime | None = None,
    title_zh: str | None = None,
    title_en: str | None = None,
) -> Record:
    """Change a draft (or an approved version, which goes back to draft for a new review)."""
    _actor(actor, "edit")
    with conn.transaction():
        before = get_record(conn, record_id, lock=True)
        if before.status not in ("draft", "approved"):
            raise InvalidAction(record_id, "edit", f"it is {before.status}; correct it instead")
        stored, formed, titles = prepare_content(
            conn,
            before.record_type,
            before.content if content is None else content,
            before.enterprise_id,
            formed_at or (before.formed_at if content is None else None),
        )
        _, _, deadline = record_type_of(conn, before.record_type)
        after = update_version(
            conn,
            record_id,
            {
                "content": stored,
                "formed_at": formed,
                "due_on": due_on(formed, deadline),
                "title_zh": title_zh or (before.title_zh if content is None else titles[0]),
                "title_en": title_en or (before.title_en if content is None else titles[1]),
                "status": "draft",
                "approved_at": None,
                "approved_by": None,
                "updated_at": datetime.now(UTC),
                "updated_by": actor,
            },
        )
        audit(
            conn,
            actor,
            "disclosure.edit",
            "disclosure_record",
            record_id,
            before=_snapshot(before),
            after=_snapshot(after),
        )
    return after


def approve(conn: psycopg.Connection[Any], record_id: int, *, actor: str) -> Record:
    """Review passed: a draft becomes approved. Not by its last editor."""
    _actor(actor, "approve")
    with conn.transaction():
        before = get_record(conn, record_id, lock=True)
        if before.status != "draft":
            raise InvalidAction(record_id, "approve", f"it is {before.status}, not a draft")
        if before.updated_by == actor:
            raise InvalidAction(
                record_id, "approve", "the reviewer must not be the last editor (four eyes)"
            )
        after = update_version(
            conn,
            record_id,
            {"status": "approved", "approved_at": datetime.now(UTC), "approved_by": actor},
        )
        audit(
            conn,
            actor,
            "disclosure.approve",
            "disclosure_record",
            record_id,
            before={"status": before.status},
            after={"status": after.status},
        )
    return after


def publish(conn: psycopg.Connection[Any], record_id: int, *, actor: str) -> Record:
    """Publish an approved version; the version it corrects becomes superseded."""
    _actor(actor, "publish")
    with conn.transaction():
        before = get_record(conn, record_id, lock=True)
        if before.status != "approved":
            raise InvalidAction(record_id, "publish", f"it is {before.status}, not approved")
        after = publish_version(conn, before, actor)
        audit(
            conn,
            actor,
            "disclosure.publish",
            "disclosure_record",
            record_id,
            before={"status": before.status},
            after=_snapshot(after),
        )
    return after


def withdraw(conn: psycopg.Connection[Any], record_id: int, *, actor: str, reason: str) -> Record:
    """Take a published version off the public record, with the reason (shown publicly)."""
    _actor(actor, "withdraw")
    with conn.transaction():
        before = get_record(conn, record_id, lock=True)
        if before.status != "published":
            raise InvalidAction(record_id, "withdraw", f"it is {before.status}, not published")
        text = _text(reason, record_id, "withdraw", "reason")
        after = update_version(
            conn,
            record_id,
            {
                "status": "withdrawn",
                "withdrawn_at": datetime.now(UTC),
                "withdrawn_by": actor,
                "withdrawn_reason": text,
            },
        )
        append(conn, record_id, "withdraw")
        audit(
            conn,
            actor,
            "disclosure.withdraw",
            "disclosure_record",
            record_id,
            before={"status": before.status},
            after={"status": after.status, "reason": text},
        )
    return after


def correct(
    conn: psycopg.Connection[Any],
    record_id: int,
    *,
    actor: str,
    reason: str,
    content: Mapping[str, Any] | None = None,
    formed_at: datetime | None = None,
) -> Record:
    """A new draft version of a published record, with the reason for the correction. It
    supersedes the published version once it is approved and published; the change is formed
    now unless ``formed_at`` says otherwise."""
    _actor(actor, "correct")
    with conn.transaction():
        old = get_record(conn, record_id, lock=True)
        if old.status != "published":
            raise InvalidAction(record_id, "correct", f"it is {old.status}, not published")
        if old.origin != "staff":
            raise InvalidAction(record_id, "correct", "automatic records are corrected by new data")
        text = _text(reason, record_id, "correct", "reason")
        pending = conn.execute(
            "SELECT id FROM disclosure_records WHERE record_key = %s"
            " AND status IN ('draft', 'approved')",
            (old.record_key,),
        ).fetchone()
        if pending is not None:
            raise InvalidAction(record_id, "correct", f"version {pending[0]} is already in review")
        formed = formed_at or datetime.now(UTC)
        stored, _, titles = prepare_content(
            conn,
            old.record_type,
            old.content if content is None else content,
            old.enterprise_id,
            formed,
        )
        _, _, deadline = record_type_of(conn, old.record_type)
        record = insert_version(
            conn,
            {
                "record_key": old.record_key,
                "version": old.version + 1,
                "record_type": old.record_type,
                "category": old.category,
                "enterprise_id": old.enterprise_id,
                "outlet_id": old.outlet_id,
                "title_zh": titles[0] if content is not None else old.title_zh,
                "title_en": titles[1] if content is not None else old.title_en,
                "content": stored,
                "origin": "staff",
                "formed_at": formed,
                "due_on": due_on(formed, deadline),
                "created_by": actor,
                "updated_by": actor,
                "supersedes": old.id,
                "correction_reason": text,
            },
        )
        audit(
            conn,
            actor,
            "disclosure.correct",
            "disclosure_record",
            record.id,
            before=_snapshot(old),
            after=_snapshot(record),
        )
    return record


def checked_file(
    object_id: int | None, filename: str, media_type: str, data: bytes, *, subject: str = "record"
) -> tuple[str, bytes]:
    """The bare file name and SHA-256 of an attachment (a PDF, PNG or JPEG whose first bytes
    match its type, at most :data:`MAX_ATTACHMENT_BYTES`); :class:`InvalidAction` otherwise."""
    name = filename.replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not name:
        raise InvalidAction(object_id, "attach", "the file needs a name", subject=subject)
    magic = _MEDIA_TYPES.get(media_type)
    if magic is None:
        raise InvalidAction(
            object_id, "attach", f"accepted types are {', '.join(_MEDIA_TYPES)}", subject=subject
        )
    if not data.startswith(magic):
        raise InvalidAction(
            object_id, "attach", f"the file is not a {media_type} file", subject=subject
        )
    if len(data) > MAX_ATTACHMENT_BYTES:
        raise InvalidAction(
            object_id,
            "attach",
            f"files are limited to {MAX_ATTACHMENT_BYTES} bytes",
            subject=subject,
        )
    return name, hashlib.sha256(data).digest()


def attach(
    conn: psycopg.Connection[Any],
    record_id: int,
    *,
    actor: str,
    filename: str,
    media_type: str,
    data: bytes,
) -> Attachment:
    """Store a file with a draft (a PDF decision …), with its SHA-256. The uploader becomes
    the draft's last editor, who may not approve it."""
    _actor(actor, "attach")
    name, digest = checked_file(record_id, filename, media_type, data)
    with conn.transaction():
        record = get_record(conn, record_id, lock=True)
        if record.status != "draft":
            raise InvalidAction(record_id, "attach", f"it is {record.status}; attach to a draft")
        row = conn.execute(
            "INSERT INTO disclosure_attachments"
            " (record_id, filename, media_type, size_bytes, sha256, content, uploaded_by)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (record_id, sha256) DO NOTHING"
            " RETURNING id",
            (record_id, name, media_type, len(data), digest, data, actor),
        ).fetchone()
        if row is None:
            raise InvalidAction(record_id, "attach", "this file is already attached")
        # A file is an edit: its uploader may not approve the draft alone (four eyes).
        update_version(conn, record_id, {"updated_at": datetime.now(UTC), "updated_by": actor})
        attachment = Attachment(int(row[0]), record_id, name, media_type, len(data), digest.hex())
        audit(
            conn,
            actor,
            "disclosure.attach",
            "disclosure_record",
            record_id,
            after=asdict(attachment),
        )
    return attachment


def import_rows(
    conn: psycopg.Connection[Any], record_type: str, rows: Sequence[Any], *, actor: str
) -> ImportResult:
    """Drafts from parsed bulk rows (:func:`schemas.disclosure.spreadsheet.parse_bulk`), each in its
    own savepoint: a bad row is reported with its line and the others are still created."""
    created: list[int] = []
    errors: list[dict[str, Any]] = []
    for row in rows:
        enterprise_id = None
        if row.enterprise_uscc:
            found = conn.execute(
                "SELECT id FROM enterprises WHERE uscc = %s", (row.enterprise_uscc,)
            ).fetchone()
            if found is None:
                errors.append(
                    {
                        "line": row.line,
                        "field": "enterprise_uscc",
                        "message": f"no enterprise with USCC {row.enterprise_uscc}",
                    }
                )
                continue
            enterprise_id = int(found[0])
        try:
            record = create_draft(
                conn,
                record_type=record_type,
                content=row.content,
                actor=actor,
                enterprise_id=enterprise_id,
            )
        except ContentError as exc:
            errors.extend({"line": row.line, **e} for e in exc.errors)
            continue
        created.append(record.id)
    return ImportResult(created, errors)
