"""How a disclosure record goes from draft to published, and how it is corrected or withdrawn.

Staff records (origin ``staff``) pass a review step::

    create ─► draft ──approve──► approved ──publish──► published ──withdraw──► withdrawn
               ▲  │ edit            │ edit (back to draft)  │
               └──┘                 ▼                       └─correct─► new draft version
                                  draft                                 (supersedes it)

* the reviewer who approves must not be the last person who edited the draft (four eyes);
* content is validated against the record type's model (:mod:`schemas.disclosure.record_types`);
* attachments can be added to drafts only, so what is published is what was reviewed;
* a published version is never edited: a correction is a new version with a reason that
  supersedes it when it is published; withdrawing needs a reason;
* publishing and withdrawing append an entry to the hash-chained publication log
  (:mod:`schemas.disclosure.ledger`) in the same transaction;
* every staff action is written to the audit log (:mod:`schemas.audit`), before and after.

Automatic records (origin ``auto``) are published by :func:`publish_automatic` at once, by the
actor ``system``; a new version only when their content changed.

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
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from schemas.audit import audit
from schemas.disclosure import ledger
from schemas.disclosure.errors import ContentError, InvalidAction, RecordNotFound
from schemas.disclosure.record_types import formed_at_of, parse_content
from schemas.disclosure.workdays import due_on

__all__ = [
    "MAX_ATTACHMENT_BYTES",
    "SYSTEM",
    "Attachment",
    "AutoResult",
    "ImportResult",
    "Record",
    "approve",
    "attach",
    "correct",
    "create_draft",
    "edit_draft",
    "get_record",
    "import_rows",
    "publish",
    "publish_automatic",
    "withdraw",
]

SYSTEM = "system"
"""The actor of automatic publications; no staff user may have this name."""

MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024
MAX_REASON = 2_000
_MEDIA_TYPES = {"application/pdf": b"%PDF-", "image/png": b"\x89PNG", "image/jpeg": b"\xff\xd8"}


@dataclass(frozen=True, slots=True)
class Record:
    """One version (a row of ``disclosure_records``)."""

    id: int
    record_key: str
    version: int
    record_type: str
    category: str
    enterprise_id: int | None
    outlet_id: int | None
    title_zh: str
    title_en: str | None
    content: dict[str, Any]
    origin: str
    source_ref: str | None
    status: str
    formed_at: datetime
    due_on: Any
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str
    approved_at: datetime | None
    approved_by: str | None
    published_at: datetime | None
    published_by: str | None
    supersedes: int | None
    correction_reason: str | None
    withdrawn_at: datetime | None
    withdrawn_by: str | None
    withdrawn_reason: str | None


@dataclass(frozen=True, slots=True)
class Attachment:
    id: int
    record_id: int
    filename: str
    media_type: str
    size_bytes: int
    sha256: str


@dataclass(frozen=True, slots=True)
class AutoResult:
    record_id: int
    version: int
    changed: bool


@dataclass(frozen=True, slots=True)
class ImportResult:
    created: list[int]
    errors: list[dict[str, Any]]  # {line, field, message}


_COLUMNS = ", ".join(Record.__slots__)


def get_record(conn: psycopg.Connection[Any], record_id: int, *, lock: bool = False) -> Record:
    query = f"SELECT {_COLUMNS} FROM disclosure_records WHERE id = %s"  # noqa: S608 (fixed names)
    with conn.cursor(row_factory=class_row(Record)) as cur:
        found = cur.execute(query + (" FOR UPDATE" if lock else ""), (record_id,)).fetchone()
    if found is None:
        raise RecordNotFound(record_id)
    return found


def _record_type(conn: psycopg.Connection[Any], code: str) -> tuple[str, str, int]:
    row = conn.execute(
        "SELECT category, origin, deadline_days FROM disclosure_record_types WHERE code = %s",
        (code,),
    ).fetchone()
    if row is None:
        raise ContentError(code, [{"field": "record_type", "message": "unknown record type"}])
    return str(row[0]), str(row[1]), int(row[2])


def _enterprise_name(conn: psycopg.Connection[Any], enterprise_id: int | None) -> str | None:
    if enterprise_id is None:
        return None
    row = conn.execute("SELECT name_zh FROM enterprises WHERE id = %s", (enterprise_id,)).fetchone()
    if row is None:
        raise ContentError("", [{"field": "enterprise_id", "message": "no such enterprise"}])
    return str(row[0])


def _check_outlet(
    conn: psycopg.Connection[Any], outlet_id: int | None, enterprise_id: int | None
) -> None:
    if outlet_id is None:
        return
    row = conn.execute("SELECT enterprise_id FROM outlets WHERE id = %s", (outlet_id,)).fetchone()
    if row is None or (enterprise_id is not None and row[0] != enterprise_id):
        raise ContentError(
            "", [{"field": "outlet_id", "message": "no such outlet of the enterprise"}]
        )


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


def _insert(conn: psycopg.Connection[Any], values: Mapping[str, Any]) -> Record:
    names = list(values)
    placeholders = ", ".join(["%s"] * len(names))
    query = (
        f"INSERT INTO disclosure_records ({', '.join(names)}) VALUES ({placeholders})"  # noqa: S608
        f" RETURNING {_COLUMNS}"
    )
    params = [Jsonb(v) if isinstance(v, dict) else v for v in values.values()]
    with conn.cursor(row_factory=class_row(Record)) as cur:
        row = cur.execute(query, params).fetchone()
    assert row is not None
    return row


def _update(conn: psycopg.Connection[Any], record_id: int, values: Mapping[str, Any]) -> Record:
    sets = ", ".join(f"{name} = %s" for name in values)
    query = f"UPDATE disclosure_records SET {sets} WHERE id = %s RETURNING {_COLUMNS}"  # noqa: S608
    params = [Jsonb(v) if isinstance(v, dict) else v for v in values.values()]
    with conn.cursor(row_factory=class_row(Record)) as cur:
        row = cur.execute(query, [*params, record_id]).fetchone()
    assert row is not None
    return row


def _prepare(
    conn: psycopg.Connection[Any],
    record_type: str,
    content: Mapping[str, Any],
    enterprise_id: int | None,
    formed_at: datetime | None,
) -> tuple[dict[str, Any], datetime, tuple[str, str]]:
    """Validated content, the formed time, and the default titles."""
    parsed = parse_content(record_type, content)
    formed = formed_at or formed_at_of(parsed)
    if formed is None:
        raise ContentError(record_type, [{"field": "formed_at", "message": "is required"}])
    if formed.tzinfo is None:
        raise ContentError(record_type, [{"field": "formed_at", "message": "needs a time zone"}])
    titles = parsed.titles(_enterprise_name(conn, enterprise_id))
    return parsed.model_dump(mode="json"), formed, titles


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
        category, origin, deadline = _record_type(conn, record_type)
        if origin != "staff":
            raise InvalidAction(
                None, "create", f"{record_type} records are published automatically"
            )
        stored, formed, titles = _prepare(conn, record_type, content, enterprise_id, formed_at)
        _check_outlet(conn, outlet_id, enterprise_id)
        record = _insert(
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
        stored, formed, titles = _prepare(
            conn,
            before.record_type,
            before.content if content is None else content,
            before.enterprise_id,
            formed_at or (before.formed_at if content is None else None),
        )
        _, _, deadline = _record_type(conn, before.record_type)
        after = _update(
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
            conn, actor, "disclosure.edit", "disclosure_record", record_id,
            before=_snapshot(before), after=_snapshot(after),
        )  # fmt: skip
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
        after = _update(
            conn,
            record_id,
            {"status": "approved", "approved_at": datetime.now(UTC), "approved_by": actor},
        )
        audit(
            conn, actor, "disclosure.approve", "disclosure_record", record_id,
            before={"status": before.status}, after={"status": after.status},
        )  # fmt: skip
    return after


def publish(conn: psycopg.Connection[Any], record_id: int, *, actor: str) -> Record:
    """Publish an approved version; the version it corrects becomes superseded."""
    _actor(actor, "publish")
    with conn.transaction():
        before = get_record(conn, record_id, lock=True)
        if before.status != "approved":
            raise InvalidAction(record_id, "publish", f"it is {before.status}, not approved")
        after = _publish(conn, before, actor)
        audit(
            conn, actor, "disclosure.publish", "disclosure_record", record_id,
            before={"status": before.status}, after=_snapshot(after),
        )  # fmt: skip
    return after


def _publish(conn: psycopg.Connection[Any], record: Record, actor: str) -> Record:
    if record.supersedes is not None:
        old = get_record(conn, record.supersedes, lock=True)
        if old.status == "published":
            _update(conn, old.id, {"status": "superseded"})
    # Whole microseconds: the log's canonical form carries them exactly.
    after = _update(
        conn,
        record.id,
        {"status": "published", "published_at": datetime.now(UTC), "published_by": actor},
    )
    ledger.append(conn, record.id, "publish")
    return after


def withdraw(conn: psycopg.Connection[Any], record_id: int, *, actor: str, reason: str) -> Record:
    """Take a published version off the public record, with the reason (shown publicly)."""
    _actor(actor, "withdraw")
    with conn.transaction():
        before = get_record(conn, record_id, lock=True)
        if before.status != "published":
            raise InvalidAction(record_id, "withdraw", f"it is {before.status}, not published")
        text = _text(reason, record_id, "withdraw", "reason")
        after = _update(
            conn,
            record_id,
            {
                "status": "withdrawn",
                "withdrawn_at": datetime.now(UTC),
                "withdrawn_by": actor,
                "withdrawn_reason": text,
            },
        )
        ledger.append(conn, record_id, "withdraw")
        audit(
            conn, actor, "disclosure.withdraw", "disclosure_record", record_id,
            before={"status": before.status}, after={"status": after.status, "reason": text},
        )  # fmt: skip
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
        stored, _, titles = _prepare(
            conn,
            old.record_type,
            old.content if content is None else content,
            old.enterprise_id,
            formed,
        )
        _, _, deadline = _record_type(conn, old.record_type)
        record = _insert(
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
            conn, actor, "disclosure.correct", "disclosure_record", record.id,
            before=_snapshot(old), after=_snapshot(record),
        )  # fmt: skip
    return record


def attach(
    conn: psycopg.Connection[Any],
    record_id: int,
    *,
    actor: str,
    filename: str,
    media_type: str,
    data: bytes,
) -> Attachment:
    """Store a file with a draft (a PDF decision …), with its SHA-256."""
    _actor(actor, "attach")
    name = filename.replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not name:
        raise InvalidAction(record_id, "attach", "the file needs a name")
    magic = _MEDIA_TYPES.get(media_type)
    if magic is None:
        raise InvalidAction(record_id, "attach", f"accepted types are {', '.join(_MEDIA_TYPES)}")
    if not data.startswith(magic):
        raise InvalidAction(record_id, "attach", f"the file is not a {media_type} file")
    if len(data) > MAX_ATTACHMENT_BYTES:
        raise InvalidAction(
            record_id, "attach", f"files are limited to {MAX_ATTACHMENT_BYTES} bytes"
        )
    digest = hashlib.sha256(data).digest()
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
    """Drafts from parsed bulk rows (:func:`schemas.disclosure.bulk.parse_bulk`), each in its
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
                errors.append({"line": row.line, "field": "enterprise_uscc",
                               "message": f"no enterprise with USCC {row.enterprise_uscc}"})  # fmt: skip
                continue
            enterprise_id = int(found[0])
        try:
            record = create_draft(
                conn, record_type=record_type, content=row.content, actor=actor,
                enterprise_id=enterprise_id,
            )  # fmt: skip
        except ContentError as exc:
            errors.extend({"line": row.line, **e} for e in exc.errors)
            continue
        created.append(record.id)
    return ImportResult(created, errors)


# --- Automatic records --------------------------------------------------------------------------


def publish_automatic(
    conn: psycopg.Connection[Any],
    *,
    record_type: str,
    record_key: str,
    content: Mapping[str, Any],
    formed_at: datetime,
    enterprise_id: int | None,
    outlet_id: int | None = None,
    source_ref: str | None = None,
    reason: str = "recomputed from revised data",
) -> AutoResult:
    """Publish ``content`` as the current version of ``record_key`` unless it already is."""
    with conn.transaction():
        category, origin, deadline = _record_type(conn, record_type)
        if origin != "auto":
            raise InvalidAction(
                None, "publish automatically", f"{record_type} is authored by staff"
            )
        stored, formed, titles = _prepare(conn, record_type, content, enterprise_id, formed_at)
        # Serialise publishers of the same key (two alerts processes at once).
        conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (record_key,))
        current = conn.execute(
            "SELECT id, version, content FROM disclosure_records WHERE record_key = %s"
            " ORDER BY version DESC LIMIT 1",
            (record_key,),
        ).fetchone()
        if current is not None and current[2] == stored:
            return AutoResult(int(current[0]), int(current[1]), changed=False)
        record = _insert(
            conn,
            {
                "record_key": record_key,
                "version": 1 if current is None else int(current[1]) + 1,
                "record_type": record_type,
                "category": category,
                "enterprise_id": enterprise_id,
                "outlet_id": outlet_id,
                "title_zh": titles[0],
                "title_en": titles[1],
                "content": stored,
                "origin": "auto",
                "source_ref": source_ref,
                "status": "approved",
                "formed_at": formed,
                "due_on": due_on(formed, deadline),
                "created_by": SYSTEM,
                "updated_by": SYSTEM,
                "supersedes": None if current is None else int(current[0]),
                "correction_reason": None if current is None else reason,
            },
        )
        published = _publish(conn, record, SYSTEM)
    return AutoResult(published.id, published.version, changed=True)
