"""The audit log of staff actions (``staff_audit``): who, what, when, before and after.

Every staff action that changes something calls :func:`audit` in the transaction that makes
the change, so the log and the change commit (or roll back) together. The table is
append-only (a trigger refuses UPDATE and DELETE).
"""

from __future__ import annotations

import json
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

__all__ = ["audit"]


def _json(value: Any) -> Jsonb | None:
    if value is None:
        return None
    # Through json with default=str: dates, decimals and ids become plain JSON values.
    return Jsonb(json.loads(json.dumps(value, default=str, ensure_ascii=False)))


def audit(
    conn: psycopg.Connection[Any],
    actor: str,
    action: str,
    object_type: str,
    object_id: str | int | None,
    *,
    before: Any = None,
    after: Any = None,
) -> int:
    """Append one entry; its id."""
    if not actor.strip():
        raise ValueError("an audited action needs an actor")
    row = conn.execute(
        "INSERT INTO staff_audit (actor, action, object_type, object_id, before, after)"
        " VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
        (
            actor,
            action,
            object_type,
            None if object_id is None else str(object_id),
            _json(before),
            _json(after),
        ),
    ).fetchone()
    assert row is not None
    return int(row[0])
