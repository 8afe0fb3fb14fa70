"""Automatic disclosure records: published at once from data, by the actor ``system``.

:func:`publish_automatic` publishes new content as the current version of a record key, unless
the latest version already has exactly this content (so re-running a publisher adds nothing);
a changed input (revised data, a registry change, a closed case) becomes a new version that
supersedes the previous one, with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from schemas.disclosure.errors import InvalidAction
from schemas.disclosure.records import (
    SYSTEM,
    insert_version,
    prepare_content,
    publish_version,
    record_type_of,
)
from schemas.disclosure.workdays import due_on

__all__ = ["AutoResult", "publish_automatic"]


@dataclass(frozen=True, slots=True)
class AutoResult:
    record_id: int
    version: int
    changed: bool


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
        category, origin, deadline = record_type_of(conn, record_type)
        if origin != "auto":
            raise InvalidAction(
                None, "publish automatically", f"{record_type} is authored by staff"
            )
        stored, formed, titles = prepare_content(
            conn, record_type, content, enterprise_id, formed_at
        )
        # Serialise publishers of the same key (two alerts processes at once).
        conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (record_key,))
        current = conn.execute(
            "SELECT id, version, content FROM disclosure_records WHERE record_key = %s"
            " ORDER BY version DESC LIMIT 1",
            (record_key,),
        ).fetchone()
        if current is not None and current[2] == stored:
            return AutoResult(int(current[0]), int(current[1]), changed=False)
        record = insert_version(
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
        published = publish_version(conn, record, SYSTEM)
    return AutoResult(published.id, published.version, changed=True)
