"""Administrative reconsiderations (行政复议) and lawsuits (行政诉讼) about requests for
information, as staff record them (``disclosure_request_challenges``), with their outcome.

The outcomes are the ``challenge`` codes of ``disclosure_request_outcomes`` (upheld, corrected,
other result, not yet decided), the columns the annual-report format counts them in. A
challenge is recorded when it is filed (outcome ``pending``) and decided later; both are
audited.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import class_row

from schemas.disclosure.errors import ContentError, InvalidAction
from schemas.disclosure.request_codes import outcomes
from schemas.disclosure.requests import get_request
from schemas.staff.audit import audit

__all__ = ["KINDS", "Challenge", "challenges_of", "decide", "record_challenge"]

KINDS: dict[str, tuple[str, str]] = {
    "reconsideration": ("行政复议", "Administrative reconsideration"),
    "lawsuit": ("行政诉讼", "Administrative lawsuit"),
}
PENDING = "pending"
MAX_NOTE = 2_000


@dataclass(frozen=True, slots=True)
class Challenge:
    id: int
    request_id: int
    kind: str
    filed_on: date
    outcome: str
    decided_on: date | None
    note: str | None
    created_by: str
    updated_by: str


_COLUMNS = sql.SQL(", ").join(map(sql.Identifier, Challenge.__slots__))


def _bad(field: str, message: str) -> ContentError:
    return ContentError("challenge", [{"field": field, "message": message}])


def _check_outcome(conn: psycopg.Connection[Any], outcome: str) -> None:
    known = [o.code for o in outcomes(conn, "challenge")]
    if outcome not in known:
        raise _bad("outcome", f"not one of {', '.join(known)}")


def _note(note: str | None) -> str | None:
    text = (note or "").strip() or None
    if text is not None and len(text) > MAX_NOTE:
        raise _bad("note", f"is longer than {MAX_NOTE} characters")
    return text


def record_challenge(
    conn: psycopg.Connection[Any],
    request_id: int,
    *,
    actor: str,
    kind: str,
    filed_on: date,
    outcome: str = PENDING,
    decided_on: date | None = None,
    note: str | None = None,
) -> Challenge:
    """A reconsideration or lawsuit about the request, filed on ``filed_on``."""
    if kind not in KINDS:
        raise _bad("kind", f"not one of {', '.join(KINDS)}")
    if (outcome == PENDING) != (decided_on is None):
        raise _bad("decided_on", "is given exactly when the outcome is not pending")
    if decided_on is not None and decided_on < filed_on:
        raise _bad("decided_on", "is before the day it was filed")
    with conn.transaction():
        _check_outcome(conn, outcome)
        request = get_request(conn, request_id)
        if filed_on < request.received_on:
            raise _bad("filed_on", "is before the request was received")
        with conn.cursor(row_factory=class_row(Challenge)) as cur:
            challenge = cur.execute(
                sql.SQL(
                    "INSERT INTO disclosure_request_challenges (request_id, kind, filed_on,"
                    " outcome, decided_on, note, created_by, updated_by)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING {}"
                ).format(_COLUMNS),
                (request_id, kind, filed_on, outcome, decided_on, _note(note), actor, actor),
            ).fetchone()
        assert challenge is not None
        audit(
            conn,
            actor,
            "request.challenge",
            "disclosure_request",
            request_id,
            after=asdict(challenge),
        )
    return challenge


def decide(
    conn: psycopg.Connection[Any],
    challenge_id: int,
    *,
    actor: str,
    outcome: str,
    decided_on: date,
    note: str | None = None,
) -> Challenge:
    """Record the decision of a pending challenge."""
    if outcome == PENDING:
        raise _bad("outcome", "a decision is not pending")
    with conn.transaction():
        _check_outcome(conn, outcome)
        with conn.cursor(row_factory=class_row(Challenge)) as cur:
            before = cur.execute(
                sql.SQL(
                    "SELECT {} FROM disclosure_request_challenges WHERE id = %s FOR UPDATE"
                ).format(_COLUMNS),
                (challenge_id,),
            ).fetchone()
            if before is None:
                raise _bad("challenge_id", f"no challenge {challenge_id}")
            if before.outcome != PENDING:
                raise InvalidAction(
                    challenge_id, "decide", "it is already decided", subject="challenge"
                )
            if decided_on < before.filed_on:
                raise _bad("decided_on", "is before the day it was filed")
            after = cur.execute(
                sql.SQL(
                    "UPDATE disclosure_request_challenges SET outcome = %s, decided_on = %s,"
                    " note = coalesce(%s, note), updated_at = %s, updated_by = %s WHERE id = %s"
                    " RETURNING {}"
                ).format(_COLUMNS),
                (outcome, decided_on, _note(note), datetime.now(UTC), actor, challenge_id),
            ).fetchone()
        assert after is not None
        audit(
            conn,
            actor,
            "request.challenge_decide",
            "disclosure_request",
            before.request_id,
            before=asdict(before),
            after=asdict(after),
        )
    return after


def challenges_of(conn: psycopg.Connection[Any], request_id: int) -> list[Challenge]:
    with conn.cursor(row_factory=class_row(Challenge)) as cur:
        return cur.execute(
            sql.SQL(
                "SELECT {} FROM disclosure_request_challenges WHERE request_id = %s ORDER BY id"
            ).format(_COLUMNS),
            (request_id,),
        ).fetchall()
