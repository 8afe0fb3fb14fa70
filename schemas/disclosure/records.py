"""Versions of disclosure records (``disclosure_records``): reading, writing, preparing
content and publishing a version (with its publication-log entry). Shared by the staff workflow
(:mod:`schemas.disclosure.workflow`) and automatic publication
(:mod:`schemas.disclosure.automatic`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from schemas.disclosure import ledger
from schemas.disclosure.errors import ContentError, RecordNotFound
from schemas.disclosure.record_types import formed_at_of, parse_content

__all__ = [
    "COLUMNS",
    "SYSTEM",
    "Record",
    "check_outlet",
    "enterprise_name",
    "get_record",
    "insert_version",
    "prepare_content",
    "publish_version",
    "record_type_of",
    "update_version",
]

SYSTEM = "system"
"""The actor of automatic publications; no staff user may have this name."""


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


COLUMNS = sql.SQL(", ").join(map(sql.Identifier, Record.__slots__))


def get_record(conn: psycopg.Connection[Any], record_id: int, *, lock: bool = False) -> Record:
    query = sql.SQL("SELECT {columns} FROM disclosure_records WHERE id = %s {lock}").format(
        columns=COLUMNS, lock=sql.SQL("FOR UPDATE" if lock else "")
    )
    with conn.cursor(row_factory=class_row(Record)) as cur:
        found = cur.execute(query, (record_id,)).fetchone()
    if found is None:
        raise RecordNotFound(record_id)
    return found


def record_type_of(conn: psycopg.Connection[Any], code: str) -> tuple[str, str, int]:
    row = conn.execute(
        "SELECT t.category, t.origin, coalesce(t.deadline_days, c.deadline_days)"
        " FROM disclosure_record_types t JOIN disclosure_categories c ON c.code = t.category"
        " WHERE t.code = %s",
        (code,),
    ).fetchone()
    if row is None:
        raise ContentError(code, [{"field": "record_type", "message": "unknown record type"}])
    return str(row[0]), str(row[1]), int(row[2])


def enterprise_name(conn: psycopg.Connection[Any], enterprise_id: int | None) -> str | None:
    if enterprise_id is None:
        return None
    row = conn.execute("SELECT name_zh FROM enterprises WHERE id = %s", (enterprise_id,)).fetchone()
    if row is None:
        raise ContentError("", [{"field": "enterprise_id", "message": "no such enterprise"}])
    return str(row[0])


def check_outlet(
    conn: psycopg.Connection[Any], outlet_id: int | None, enterprise_id: int | None
) -> None:
    if outlet_id is None:
        return
    row = conn.execute("SELECT enterprise_id FROM outlets WHERE id = %s", (outlet_id,)).fetchone()
    if row is None or (enterprise_id is not None and row[0] != enterprise_id):
        raise ContentError(
            "", [{"field": "outlet_id", "message": "no such outlet of the enterprise"}]
        )


def insert_version(conn: psycopg.Connection[Any], values: Mapping[str, Any]) -> Record:
    query = sql.SQL(
        "INSERT INTO disclosure_records ({names}) VALUES ({placeholders}) RETURNING {columns}"
    ).format(
        names=sql.SQL(", ").join(map(sql.Identifier, values)),
        placeholders=sql.SQL(", ").join([sql.Placeholder()] * len(values)),
        columns=COLUMNS,
    )
    params = [Jsonb(v) if isinstance(v, dict) else v for v in values.values()]
    with conn.cursor(row_factory=class_row(Record)) as cur:
        row = cur.execute(query, params).fetchone()
    assert row is not None
    return row


def update_version(
    conn: psycopg.Connection[Any], record_id: int, values: Mapping[str, Any]
) -> Record:
    sets = sql.SQL(", ").join(
        sql.SQL("{} = {}").format(sql.Identifier(name), sql.Placeholder()) for name in values
    )
    query = sql.SQL(
        "UPDATE disclosure_records SET {sets} WHERE id = %s RETURNING {columns}"
    ).format(sets=sets, columns=COLUMNS)
    params = [Jsonb(v) if isinstance(v, dict) else v for v in values.values()]
    with conn.cursor(row_factory=class_row(Record)) as cur:
        row = cur.execute(query, [*params, record_id]).fetchone()
    assert row is not None
    return row


def prepare_content(
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
    titles = parsed.titles(enterprise_name(conn, enterprise_id))
    return parsed.model_dump(mode="json"), formed, titles


def publish_version(conn: psycopg.Connection[Any], record: Record, actor: str) -> Record:
    if record.supersedes is not None:
        old = get_record(conn, record.supersedes, lock=True)
        if old.status == "published":
            update_version(conn, old.id, {"status": "superseded"})
    # Whole microseconds: the log's canonical form carries them exactly.
    after = update_version(
        conn,
        record.id,
        {"status": "published", "published_at": datetime.now(UTC), "published_by": actor},
    )
    ledger.append(conn, record.id, "publish")
    return after
