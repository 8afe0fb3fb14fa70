"""A case and its history as stored: one ``cases`` row (:class:`Case`) and its append-only
``case_events`` (:class:`CaseEvent`), read by id, and the one place an event is appended.

Every change to a case, by the evaluator (:mod:`schemas.cases.transitions`) or by a person
(:mod:`schemas.cases.workflow`), appends exactly one event through :func:`append_event`; a
person's event is also written to the staff audit log (:mod:`schemas.staff.audit`). The actor
:data:`MACHINE` is the evaluator's.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import Any, Protocol

import psycopg
from psycopg import sql
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from schemas.cases.errors import CaseNotFound, database_errors
from schemas.staff.audit import audit

__all__ = [
    "MACHINE",
    "Case",
    "CaseEvent",
    "EventId",
    "EventIds",
    "append_event",
    "append_machine_event",
    "columns",
    "get_case",
    "history",
]

MACHINE = "evaluator"
"""The actor of the evaluator's transitions; reserved, no person may act under it."""


@dataclass(frozen=True, slots=True)
class Case:
    """One row of ``cases`` (see ``schemas/core/migrations/0004_evaluation.sql``)."""

    id: int
    kind: str
    outlet_id: int
    pollutant: str
    period: str
    limit_id: int
    subject: str
    state: str
    severity: str
    opened_at: datetime
    first_at: datetime
    last_at: datetime
    closed_at: datetime | None
    close_reason: str | None
    compliant_run: int
    max_multiple: Decimal | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    assigned_to: str | None
    escalated_at: datetime | None
    details: dict[str, Any]

    @property
    def limit_source(self) -> str:
        """``standard`` (``limit_id`` is a ``limits`` row) or ``outlet`` (``outlet_limits``)."""
        return str(self.details.get("limit_source", "standard"))

    @property
    def replies(self) -> list[dict[str, Any]]:
        return list(self.details.get("replies", []))


@dataclass(frozen=True, slots=True)
class CaseEvent:
    """One row of ``case_events``: a transition by the evaluator or an action by a person."""

    id: int
    case_id: int
    at: datetime
    actor: str
    action: str
    severity: str | None
    detail: dict[str, Any]


def columns(cls: type[Any]) -> sql.Composed:
    """The column list of a row dataclass, for SELECT and RETURNING."""
    return sql.SQL(", ").join(sql.Identifier(f.name) for f in dataclasses.fields(cls))


_GET = sql.SQL("SELECT {c} FROM cases WHERE id = %s").format(c=columns(Case))
_HISTORY = sql.SQL("SELECT {c} FROM case_events WHERE case_id = %s ORDER BY id").format(
    c=columns(CaseEvent)
)
_APPEND = sql.SQL(
    "INSERT INTO case_events (case_id, actor, action, severity, detail) "
    "VALUES (%s, %s, %s, %s, %s) RETURNING {c}"
).format(c=columns(CaseEvent))
_APPEND_ID = (
    "INSERT INTO case_events (case_id, actor, action, severity, detail) "
    "VALUES (%s, %s, %s, %s, %s) RETURNING id"
)
_dumps = partial(json.dumps, default=str)  # decimals and times as text


def get_case(conn: psycopg.Connection[Any], case_id: int) -> Case:
    """The case as it is now; :class:`CaseNotFound` if there is none."""
    with database_errors("read", case_id), conn.cursor(row_factory=class_row(Case)) as cur:
        case = cur.execute(_GET, (case_id,)).fetchone()
    if case is None:
        raise CaseNotFound(case_id)
    return case


def history(conn: psycopg.Connection[Any], case_id: int) -> list[CaseEvent]:
    """Every event of the case, oldest first."""
    get_case(conn, case_id)
    with database_errors("read", case_id), conn.cursor(row_factory=class_row(CaseEvent)) as cur:
        return cur.execute(_HISTORY, (case_id,)).fetchall()


class OneRow(Protocol):
    """Where an :class:`EventId` reads its row (the id first): a cursor, or what shares one."""

    def fetchone(self) -> Any: ...


class EventId:
    """The id of an event appended by :func:`append_machine_event`, read when first asked for
    (:attr:`id`): in a pipeline, after the pipeline's sync that brought it (asking earlier syncs
    then). An event kept to be appended with others (:meth:`later`) has its id once
    :meth:`appended` says which of their statement's ids it is."""

    __slots__ = ("_cursor", "_id", "_ids", "_index")

    def __init__(self, cursor: OneRow | None) -> None:
        self._cursor: OneRow | None = cursor
        self._id: int | None = None
        self._ids: EventIds | None = None
        self._index = 0

    @classmethod
    def later(cls) -> EventId:
        return cls(None)

    @classmethod
    def known(cls, event_id: int) -> EventId:
        """The id of an event whose statement's result was read already."""
        known = cls(None)
        known._id = int(event_id)
        return known

    def appended(self, ids: EventIds, index: int) -> None:
        self._ids, self._index = ids, index

    @property
    def id(self) -> int:
        if self._id is None:
            if self._ids is not None:
                self._id, self._ids = self._ids[self._index], None
            else:
                assert self._cursor is not None, "an event kept for later was never appended"
                row = self._cursor.fetchone()
                assert row is not None
                self._id, self._cursor = int(row[0]), None
        return self._id


class EventIds:
    """The ids a statement appending several events returned (``RETURNING id``), read when
    first asked for; the k-th appended has the k-th smallest (the sequence numbers the rows in
    the order they are inserted)."""

    __slots__ = ("_cursor", "_ids")

    def __init__(self, cursor: psycopg.Cursor[Any]) -> None:
        self._cursor: psycopg.Cursor[Any] | None = cursor
        self._ids: list[int] = []

    def __getitem__(self, index: int) -> int:
        if self._cursor is not None:
            self._ids = sorted(int(row[0]) for row in self._cursor.fetchall())
            self._cursor = None
        return self._ids[index]


def append_machine_event(
    conn: psycopg.Connection[Any],
    case_id: int,
    action: str,
    detail: dict[str, Any],
    severity: str | None = None,
) -> EventId:
    """:func:`append_event` by :data:`MACHINE` (the evaluator) without waiting for the row: in a
    pipeline the INSERT is sent and nothing waits for it; its id is read when needed."""
    cur = conn.cursor()
    cur.execute(_APPEND_ID, (case_id, MACHINE, action, severity, Jsonb(detail, dumps=_dumps)))
    return EventId(cur)


def append_event(
    conn: psycopg.Connection[Any],
    case_id: int,
    actor: str,
    action: str,
    detail: dict[str, Any],
    severity: str | None = None,
) -> CaseEvent:
    """Append one event to the case's history (and, for a person, to the staff audit log)."""
    with conn.cursor(row_factory=class_row(CaseEvent)) as cur:
        event = cur.execute(
            _APPEND, (case_id, actor, action, severity, Jsonb(detail, dumps=_dumps))
        ).fetchone()
    assert event is not None
    if actor != MACHINE:
        audit(conn, actor, f"case.{action}", "case", case_id, after=detail)
    return event
