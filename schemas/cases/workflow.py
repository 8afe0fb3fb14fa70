"""What enforcement staff do with a case, each action audited in ``case_events``.

Every action takes the case row with ``SELECT … FOR UPDATE``, checks that the action is allowed,
changes the row and appends exactly one ``case_events`` row (actor = the staff user name) in the
same transaction, and one ``staff_audit`` row (:mod:`schemas.staff.audit`). The work runs in
``conn.transaction()``: it commits by itself, unless the
caller already has a transaction open, in which case it is a savepoint and the caller commits.

The rules (``InvalidTransition`` otherwise):

======================  ===========  ===========  ===================================
action                  open case    closed case  also refused
======================  ===========  ===========  ===================================
acknowledge             yes          yes          a case that is already acknowledged
assign                  yes          no           the same assignee again
comment                 yes          yes          a blank text
close                   yes          no           a blank reason
record_reply            yes          yes          a blank text
======================  ===========  ===========  ===================================

Acknowledging twice is an error, not a no-op: the second person is told who acknowledged the
case first and when, and the history keeps one ``acknowledged`` event. Acknowledging a closed
case is allowed because the evaluator may close a case before anyone has looked at it.
The right of reply (the enterprise's explanation, or the regulator's answer to it) stays open
after closing. The actor ``evaluator`` is reserved for the machine.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from schemas.cases.errors import CaseNotFound, InvalidTransition, database_errors
from schemas.cases.model import MACHINE, Case, append_event, columns

__all__ = ["MAX_TEXT", "acknowledge", "assign", "close", "comment", "record_reply"]

MAX_TEXT = 10_000
"""Longest note, comment, reason or reply accepted, in characters."""

_LOCK = sql.SQL("SELECT {c} FROM cases WHERE id = %s FOR UPDATE").format(c=columns(Case))
_NOW = sql.SQL("now()")


def acknowledge(
    conn: psycopg.Connection[Any], case_id: int, actor: str, note: str | None = None
) -> Case:
    """Record that ``actor`` has seen the case. A second acknowledgement is refused."""
    actor = _actor(case_id, "acknowledge", actor)
    note = _text(case_id, "acknowledge", note, "a note") if note and note.strip() else None
    with _locked(conn, case_id, "acknowledge") as case:
        if case.acknowledged_at is not None:
            raise InvalidTransition(
                case_id,
                "acknowledge",
                f"it was already acknowledged by {case.acknowledged_by} "
                f"at {_utc(case.acknowledged_at)}",
            )
        updated = _update(conn, case_id, acknowledged_at=_NOW, acknowledged_by=actor)
        append_event(conn, case_id, actor, "acknowledged", {"note": note} if note else {})
    return updated


def assign(conn: psycopg.Connection[Any], case_id: int, actor: str, assignee: str) -> Case:
    """Give the case to ``assignee`` (a staff user name); reassigning is allowed."""
    actor = _actor(case_id, "assign", actor)
    assignee = _text(case_id, "assign", assignee, "an assignee")
    with _locked(conn, case_id, "assign") as case:
        if case.state == "closed":
            raise InvalidTransition(case_id, "assign", "it is closed")
        if case.assigned_to == assignee:
            raise InvalidTransition(case_id, "assign", f"it is already assigned to {assignee}")
        updated = _update(conn, case_id, assigned_to=assignee)
        append_event(
            conn, case_id, actor, "assigned", {"assignee": assignee, "previous": case.assigned_to}
        )
    return updated


def comment(conn: psycopg.Connection[Any], case_id: int, actor: str, text: str) -> Case:
    """Add a staff comment to the history (the case row itself does not change)."""
    actor = _actor(case_id, "comment on", actor)
    text = _text(case_id, "comment on", text, "a comment")
    with _locked(conn, case_id, "comment on") as case:
        append_event(conn, case_id, actor, "commented", {"text": text})
    return case


def close(conn: psycopg.Connection[Any], case_id: int, actor: str, reason: str) -> Case:
    """Close the case; a reason is required and a closed case cannot be closed again."""
    actor = _actor(case_id, "close", actor)
    reason = _text(case_id, "close", reason, "a reason")
    with _locked(conn, case_id, "close") as case:
        if case.state == "closed":
            raise InvalidTransition(
                case_id,
                "close",
                f"it is already closed (at {_utc(case.closed_at)}: {case.close_reason})",
            )
        updated = _update(conn, case_id, state="closed", closed_at=_NOW, close_reason=reason)
        append_event(conn, case_id, actor, "closed", {"reason": reason})
    return updated


def record_reply(
    conn: psycopg.Connection[Any],
    case_id: int,
    actor: str,
    text: str,
    *,
    on_behalf_of_enterprise: bool = True,
) -> Case:
    """Record a reply on the case: the enterprise's explanation (right of reply) entered by
    ``actor``, or, with ``on_behalf_of_enterprise=False``, the regulator's own answer.

    Kept as a ``replied`` event and appended to ``cases.details->'replies'`` as
    ``{event_id, at, actor, text, on_behalf_of_enterprise}``.
    """
    actor = _actor(case_id, "record a reply on", actor)
    text = _text(case_id, "record a reply on", text, "a reply")
    with _locked(conn, case_id, "record a reply on") as case:
        event = append_event(
            conn,
            case_id,
            actor,
            "replied",
            {"text": text, "on_behalf_of_enterprise": on_behalf_of_enterprise},
        )
        reply = {
            "event_id": event.id,
            "at": _utc(event.at),
            "actor": actor,
            "text": text,
            "on_behalf_of_enterprise": on_behalf_of_enterprise,
        }
        details = {**case.details, "replies": [*case.replies, reply]}
        updated = _update(conn, case_id, details=Jsonb(details))
    return updated


@contextmanager
def _locked(conn: psycopg.Connection[Any], case_id: int, verb: str) -> Iterator[Case]:
    """The case row, locked until the end of the transaction this opens."""
    with database_errors(verb, case_id), conn.transaction():
        with conn.cursor(row_factory=class_row(Case)) as cur:
            case = cur.execute(_LOCK, (case_id,)).fetchone()
        if case is None:
            raise CaseNotFound(case_id)
        yield case


def _update(conn: psycopg.Connection[Any], case_id: int, **changes: object) -> Case:
    sets: list[sql.Composable] = []
    params: list[object] = []
    for column, value in changes.items():
        if isinstance(value, sql.Composable):
            sets.append(sql.SQL("{} = {}").format(sql.Identifier(column), value))
        else:
            sets.append(sql.SQL("{} = %s").format(sql.Identifier(column)))
            params.append(value)
    query = sql.SQL("UPDATE cases SET {sets} WHERE id = %s RETURNING {c}").format(
        sets=sql.SQL(", ").join(sets), c=columns(Case)
    )
    with conn.cursor(row_factory=class_row(Case)) as cur:
        row = cur.execute(query, [*params, case_id]).fetchone()
    assert row is not None  # the row is locked by this transaction
    return row


def _actor(case_id: int, verb: str, actor: str) -> str:
    actor = _text(case_id, verb, actor, "an actor (the staff user name)")
    if actor == MACHINE:
        raise InvalidTransition(case_id, verb, f"the actor name {MACHINE!r} is reserved")
    return actor


def _text(case_id: int, verb: str, text: str | None, what: str) -> str:
    text = (text or "").strip()
    if not text:
        raise InvalidTransition(case_id, verb, f"{what} is required")
    if len(text) > MAX_TEXT:
        raise InvalidTransition(case_id, verb, f"the text is longer than {MAX_TEXT} characters")
    return text


def _utc(at: datetime | None) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z") if at else "an unknown time"
