"""Disclosure on request (依申请公开): a request for government information from its receipt to
its answer, on the statutory clock of 《中华人民共和国政府信息公开条例》 (2019).

::

    submit / register ─► received ──answer──► answered
                          │    ▲ │
          ask supplement  │    │ └─ extend (once, ≤ 20 working days, admin, with a reason)
                          ▼    │
                 supplement_requested ──supplement received (clock restarts)──┘
                          └──answer "other" (no supplement in time: 视为放弃)──► answered

**The clock** (values in ``schemas/codes/data/disclosure_request_clocks.csv``, with their
clauses; docs/regulations.md#disclosure-on-request): an answer within 20 working days after the
day of receipt (article 33; the day of receipt is not counted, as for every clock of
:mod:`schemas.disclosure.workdays`, whose working-day calendar this reuses); extendable once by
at most 20 working days with the approval of the head of the disclosure office and notice to
the requester (article 33); a request that is not clear is sent back once for a supplement
within 7 working days of receipt, and the clock then runs from the day the supplement arrives
(article 30). Each request keeps the number of working days it was received under
(``answer_days``), so a corrected table never moves an old deadline.

**Receipt.** A request through the portal or the API is received the (Asia/Shanghai) day it is
submitted: the service confirms it at once (article 31: requests over the internet are received
on the day both sides confirm it). Staff register requests received by post, in person, by
e-mail or fax with the day of receipt (国办公开办函〔2015〕207号: the day handed in, or signed
for).

**Tracking.** Every request gets a reference number and a secret token (shown once; only its
SHA-256 is stored); :func:`track` finds a request only with both.

Every action is audited (:mod:`schemas.staff.audit`) in its own transaction; every function
runs in ``conn.transaction()`` (a savepoint when the caller has one open).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal

import psycopg
from psycopg import sql
from psycopg.rows import class_row

from schemas.disclosure.errors import ContentError, InvalidAction, RequestNotFound
from schemas.disclosure.request_codes import clocks, outcomes
from schemas.disclosure.workdays import LOCAL_TZ, add_working_days, working_days_between
from schemas.disclosure.workflow import checked_file
from schemas.staff.audit import audit

__all__ = [
    "CHANNELS",
    "FORMS",
    "MAX_DESCRIPTION",
    "PUBLIC",
    "Request",
    "RequestAttachment",
    "Submitted",
    "answer",
    "assign",
    "attach",
    "attachment_file",
    "attachments",
    "due",
    "extend",
    "get_request",
    "list_requests",
    "local_today",
    "open_requests",
    "overdue",
    "request_supplement",
    "submit",
    "supplement_received",
    "track",
    "working_days_late",
]

PUBLIC = "public"
"""The actor of requests submitted through the portal or the API."""

#: How a request arrives (its day of receipt follows 国办公开办函〔2015〕207号).
CHANNELS: dict[str, tuple[str, str]] = {
    "online": ("网上申请", "Online (portal or API)"),
    "post": ("信函申请", "By post"),
    "in_person": ("当面申请", "In person"),
    "email": ("电子邮件申请", "By e-mail"),
    "fax": ("传真申请", "By fax"),
}
#: The form the requester prefers to receive the information in (article 29: 形式要求).
FORMS: dict[str, tuple[str, str]] = {
    "electronic": ("电子文档", "Electronic copy"),
    "paper": ("纸质文本", "Paper copy"),
    "inspection": ("现场查阅", "Inspection on site"),
}
KINDS = ("person", "organisation")
MAX_SHORT = 200
MAX_DESCRIPTION = 5_000
MAX_TEXT = 20_000
_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


@dataclass(frozen=True, slots=True)
class Request:
    """One request (a row of ``disclosure_requests``, without the token's digest)."""

    id: int
    reference: str
    channel: str
    requester_kind: str
    requester_name: str
    contact: str
    description: str
    preferred_form: str
    status: Literal["received", "supplement_requested", "answered"]
    received_on: date
    clock_start: date
    answer_days: int
    due_on: date
    assigned_to: str | None
    supplement_requested_on: date | None
    supplement_note: str | None
    supplement_received_on: date | None
    extension_days: int
    extension_reason: str | None
    extended_by: str | None
    extended_at: datetime | None
    outcome: str | None
    answer_text: str | None
    referred_to: str | None
    answered_on: date | None
    answered_at: datetime | None
    answered_by: str | None
    created_at: datetime
    created_by: str
    updated_at: datetime

    @property
    def on_time(self) -> bool | None:
        """Answered on or before the due day; None while not answered."""
        return None if self.answered_on is None else self.answered_on <= self.due_on


@dataclass(frozen=True, slots=True)
class Submitted:
    request: Request
    token: str  # the secret tracking token, shown to the requester once


@dataclass(frozen=True, slots=True)
class RequestAttachment:
    id: int
    request_id: int
    filename: str
    media_type: str
    size_bytes: int
    sha256: str


COLUMNS = sql.SQL(", ").join(map(sql.Identifier, Request.__slots__))


def local_today() -> date:
    return datetime.now(LOCAL_TZ).date()


def due(clock_start: date, answer_days: int, extension_days: int = 0) -> date:
    """The last day to answer: ``answer_days`` working days after ``clock_start``, then
    ``extension_days`` more."""
    day = add_working_days(clock_start, answer_days)
    return add_working_days(day, extension_days) if extension_days else day


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _bad(field: str, message: str) -> ContentError:
    return ContentError("request", [{"field": field, "message": message}])


def _text(value: str | None, field: str, limit: int, *, required: bool = True) -> str | None:
    text = (value or "").strip()
    if not text:
        if required:
            raise _bad(field, "is required")
        return None
    if len(text) > limit:
        raise _bad(field, f"is longer than {limit} characters")
    if "\x00" in text:
        raise _bad(field, "contains a NUL character")
    return text


def _choice(value: str, field: str, choices: Any) -> str:
    if value not in choices:
        raise _bad(field, f"not one of {', '.join(choices)}")
    return value


def _snapshot(request: Request) -> dict[str, Any]:
    return asdict(request)


def _select(conn: psycopg.Connection[Any], where: sql.Composable, params: Any) -> list[Request]:
    query = sql.SQL("SELECT {columns} FROM disclosure_requests WHERE {where}").format(
        columns=COLUMNS, where=where
    )
    with conn.cursor(row_factory=class_row(Request)) as cur:
        return cur.execute(query, params).fetchall()


def get_request(conn: psycopg.Connection[Any], request_id: int, *, lock: bool = False) -> Request:
    where = sql.SQL("id = %s FOR UPDATE" if lock else "id = %s")
    found = _select(conn, where, (request_id,))
    if not found:
        raise RequestNotFound(request_id)
    return found[0]


def _update(conn: psycopg.Connection[Any], request_id: int, values: dict[str, Any]) -> Request:
    values = {**values, "updated_at": datetime.now(UTC)}
    query = sql.SQL(
        "UPDATE disclosure_requests SET {sets} WHERE id = %s RETURNING {columns}"
    ).format(
        sets=sql.SQL(", ").join(
            sql.SQL("{} = {}").format(sql.Identifier(k), sql.Placeholder()) for k in values
        ),
        columns=COLUMNS,
    )
    with conn.cursor(row_factory=class_row(Request)) as cur:
        row = cur.execute(query, [*values.values(), request_id]).fetchone()
    assert row is not None
    return row


def _actor(actor: str, action: str) -> str:
    if not actor.strip():
        raise InvalidAction(None, action, "an actor is required", subject="request")
    return actor


def _refuse(request: Request, action: str, reason: str) -> InvalidAction:
    return InvalidAction(request.id, action, reason, subject="request")


# --- Receiving ----------------------------------------------------------------------------------


def submit(
    conn: psycopg.Connection[Any],
    *,
    requester_name: str,
    contact: str,
    description: str,
    preferred_form: str,
    requester_kind: str = "person",
    channel: str = "online",
    received_on: date | None = None,
    actor: str = PUBLIC,
    today: date | None = None,
) -> Submitted:
    """A new request with its reference number and tracking token. From the public (``actor``
    :data:`PUBLIC`) it is an online request received today; staff register the other channels
    with their day of receipt (not in the future)."""
    _actor(actor, "submit")
    today = today or local_today()
    values = {
        "requester_kind": _choice(requester_kind, "requester_kind", KINDS),
        "requester_name": _text(requester_name, "requester_name", MAX_SHORT),
        "contact": _text(contact, "contact", MAX_SHORT),
        "description": _text(description, "description", MAX_DESCRIPTION),
        "preferred_form": _choice(preferred_form, "preferred_form", FORMS),
        "channel": _choice(channel, "channel", CHANNELS),
    }
    if actor == PUBLIC and (channel != "online" or received_on not in (None, today)):
        raise _bad("channel", "public requests are online requests received today")
    received = received_on or today
    if received > today:
        raise _bad("received_on", "is in the future")
    token = secrets.token_urlsafe(24)
    with conn.transaction():
        answer_days = clocks(conn)["answer"].working_days
        for _ in range(5):  # a reference is random; a clash (1 in 10⁹) is retried
            reference = f"YSQ-{received.year}-" + "".join(
                secrets.choice(_ALPHABET) for _ in range(6)
            )
            taken = conn.execute(
                "SELECT 1 FROM disclosure_requests WHERE reference = %s", (reference,)
            ).fetchone()
            if taken is None:
                break
        names = [*values, "reference", "token_sha256", "received_on", "clock_start"]
        names += ["answer_days", "due_on", "created_by"]
        params: list[Any] = [*values.values(), reference, _digest(token), received, received]
        params += [answer_days, due(received, answer_days), actor]
        query = sql.SQL(
            "INSERT INTO disclosure_requests ({names}) VALUES ({values}) RETURNING {columns}"
        ).format(
            names=sql.SQL(", ").join(map(sql.Identifier, names)),
            values=sql.SQL(", ").join(sql.Placeholder() * len(names)),
            columns=COLUMNS,
        )
        with conn.cursor(row_factory=class_row(Request)) as cur:
            request = cur.execute(query, params).fetchone()
        assert request is not None
        audit(
            conn,
            actor,
            "request.submit",
            "disclosure_request",
            request.id,
            after=_snapshot(request),
        )
    return Submitted(request, token)


def track(conn: psycopg.Connection[Any], reference: str, token: str) -> Request | None:
    """The request with this reference when ``token`` is its tracking token; None otherwise
    (whether the reference exists or not)."""
    row = conn.execute(
        "SELECT id, token_sha256 FROM disclosure_requests WHERE reference = %s",
        (reference.strip().upper(),),
    ).fetchone()
    if row is None or not hmac.compare_digest(bytes(row[1]), _digest(token.strip())):
        return None
    return get_request(conn, int(row[0]))


# --- Staff actions ------------------------------------------------------------------------------


def assign(conn: psycopg.Connection[Any], request_id: int, *, actor: str, assignee: str) -> Request:
    """Give the request to a staff member (an active user with the editor or admin role)."""
    _actor(actor, "assign")
    with conn.transaction():
        before = get_request(conn, request_id, lock=True)
        if before.status == "answered":
            raise _refuse(before, "assign", "it is answered")
        found = conn.execute(
            "SELECT 1 FROM staff_users WHERE username = %s AND active"
            " AND roles && ARRAY['editor', 'admin']::text[]",
            (assignee,),
        ).fetchone()
        if found is None:
            raise _bad("assignee", "no active staff user with the editor or admin role")
        after = _update(conn, request_id, {"assigned_to": assignee})
        audit(
            conn,
            actor,
            "request.assign",
            "disclosure_request",
            request_id,
            before={"assigned_to": before.assigned_to},
            after={"assigned_to": assignee},
        )
    return after


def request_supplement(
    conn: psycopg.Connection[Any],
    request_id: int,
    *,
    actor: str,
    note: str,
    on: date | None = None,
) -> Request:
    """Ask the requester, once, to make an unclear request clear (article 30): within the
    supplement-notice clock (7 working days) of receipt. The answer clock stops until the
    supplement arrives."""
    _actor(actor, "ask for a supplement")
    day = on or local_today()
    text = _text(note, "note", MAX_TEXT)
    with conn.transaction():
        before = get_request(conn, request_id, lock=True)
        if before.status != "received":
            raise _refuse(before, "ask for a supplement", f"it is {before.status}")
        if before.supplement_requested_on is not None:
            raise _refuse(before, "ask for a supplement", "a supplement is asked for only once")
        limit = add_working_days(before.received_on, clocks(conn)["supplement_notice"].working_days)
        if not before.received_on <= day <= limit:
            raise _refuse(
                before,
                "ask for a supplement",
                f"it must be asked between the day of receipt and {limit.isoformat()}",
            )
        after = _update(
            conn,
            request_id,
            {
                "status": "supplement_requested",
                "supplement_requested_on": day,
                "supplement_note": text,
            },
        )
        audit(
            conn,
            actor,
            "request.supplement",
            "disclosure_request",
            request_id,
            before={"status": before.status},
            after={"status": after.status, "on": day, "note": text},
        )
    return after


def supplement_received(
    conn: psycopg.Connection[Any], request_id: int, *, actor: str, on: date | None = None
) -> Request:
    """The supplement arrived on ``on``: the clock starts again from that day (article 30)."""
    _actor(actor, "record a supplement")
    day = on or local_today()
    with conn.transaction():
        before = get_request(conn, request_id, lock=True)
        if before.status != "supplement_requested":
            raise _refuse(before, "record a supplement", "no supplement was asked for")
        assert before.supplement_requested_on is not None
        if not before.supplement_requested_on <= day <= local_today():
            raise _bad("on", "must be between the day it was asked for and today")
        values = {
            "status": "received",
            "supplement_received_on": day,
            "clock_start": day,
            "due_on": due(day, before.answer_days, before.extension_days),
        }
        after = _update(conn, request_id, values)
        audit(
            conn,
            actor,
            "request.supplement_received",
            "disclosure_request",
            request_id,
            before={"status": before.status, "due_on": before.due_on},
            after={"status": after.status, "clock_start": day, "due_on": after.due_on},
        )
    return after


def extend(
    conn: psycopg.Connection[Any],
    request_id: int,
    *,
    actor: str,
    days: int,
    reason: str,
    on: date | None = None,
) -> Request:
    """Extend the time to answer once, by at most the extension clock (20 working days), with
    the reason told to the requester (article 33). ``actor`` is the approving head of the
    disclosure office (the API asks for the admin role); before the deadline only."""
    _actor(actor, "extend")
    day = on or local_today()
    text = _text(reason, "reason", MAX_TEXT)
    with conn.transaction():
        before = get_request(conn, request_id, lock=True)
        if before.status != "received":
            raise _refuse(before, "extend", f"it is {before.status}")
        if before.extension_days:
            raise _refuse(before, "extend", "the time to answer is extended only once")
        longest = clocks(conn)["extension"].working_days
        if not 1 <= days <= longest:
            raise _bad("days", f"must be 1 to {longest} working days")
        if day > before.due_on:
            raise _refuse(before, "extend", f"the deadline {before.due_on.isoformat()} has passed")
        values = {
            "extension_days": days,
            "extension_reason": text,
            "extended_by": actor,
            "extended_at": datetime.now(UTC),
            "due_on": due(before.clock_start, before.answer_days, days),
        }
        after = _update(conn, request_id, values)
        audit(
            conn,
            actor,
            "request.extend",
            "disclosure_request",
            request_id,
            before={"due_on": before.due_on},
            after={"due_on": after.due_on, "days": days, "reason": text},
        )
    return after


def answer(
    conn: psycopg.Connection[Any],
    request_id: int,
    *,
    actor: str,
    outcome: str,
    text: str,
    referred_to: str | None = None,
    on: date | None = None,
) -> Request:
    """Answer with one of the Regulation's outcomes and the answer's text (for ``not_disclosed``
    the reason; for ``not_responsible`` also the body responsible, ``referred_to``). A request
    waiting for a supplement can only be closed as ``other`` (no supplement: 视为放弃)."""
    _actor(actor, "answer")
    day = on or local_today()
    body = _text(text, "text", MAX_TEXT)
    referred = _text(referred_to, "referred_to", MAX_SHORT, required=outcome == "not_responsible")
    with conn.transaction():
        known = {o.code for o in outcomes(conn, "answer")}
        _choice(outcome, "outcome", sorted(known))
        before = get_request(conn, request_id, lock=True)
        if before.status == "answered":
            raise _refuse(before, "answer", "it is already answered")
        if before.status == "supplement_requested" and outcome != "other":
            raise _refuse(before, "answer", "it waits for a supplement; only 'other' closes it")
        if not before.received_on <= day <= local_today():
            raise _bad("on", "must be between the day of receipt and today")
        values = {
            "status": "answered",
            "outcome": outcome,
            "answer_text": body,
            "referred_to": referred,
            "answered_on": day,
            "answered_at": datetime.now(UTC),
            "answered_by": actor,
        }
        after = _update(conn, request_id, values)
        audit(
            conn,
            actor,
            "request.answer",
            "disclosure_request",
            request_id,
            before={"status": before.status},
            after={"outcome": outcome, "answered_on": day, "on_time": after.on_time},
        )
    return after


def attach(
    conn: psycopg.Connection[Any],
    request_id: int,
    *,
    actor: str,
    filename: str,
    media_type: str,
    data: bytes,
) -> RequestAttachment:
    """A file sent with the answer (the answer letter, the information itself)."""
    _actor(actor, "attach")
    name, digest = checked_file(request_id, filename, media_type, data, subject="request")
    with conn.transaction():
        get_request(conn, request_id, lock=True)
        row = conn.execute(
            "INSERT INTO disclosure_request_attachments"
            " (request_id, filename, media_type, size_bytes, sha256, content, uploaded_by)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (request_id, sha256) DO NOTHING"
            " RETURNING id",
            (request_id, name, media_type, len(data), digest, data, actor),
        ).fetchone()
        if row is None:
            raise InvalidAction(
                request_id, "attach", "this file is already attached", subject="request"
            )
        attachment = RequestAttachment(
            int(row[0]), request_id, name, media_type, len(data), digest.hex()
        )
        audit(
            conn,
            actor,
            "request.attach",
            "disclosure_request",
            request_id,
            after=asdict(attachment),
        )
    return attachment


# --- Lists --------------------------------------------------------------------------------------


def open_requests(conn: psycopg.Connection[Any], *, due_by: date | None = None) -> list[Request]:
    """Requests waiting for an answer (not those waiting for a supplement), earliest deadline
    first; with ``due_by``, only those due on or before it."""
    return _select(
        conn,
        sql.SQL(
            "status = 'received' AND (%(by)s::date IS NULL OR due_on <= %(by)s) ORDER BY due_on, id"
        ),
        {"by": due_by},
    )


def overdue(conn: psycopg.Connection[Any], today: date) -> list[Request]:
    """Requests not answered whose deadline is before ``today``."""
    return [r for r in open_requests(conn, due_by=today) if r.due_on < today]


def working_days_late(request: Request, today: date) -> int:
    """Working days past the deadline (answered: at the answer; open: today); 0 when not late."""
    until = request.answered_on or today
    return max(working_days_between(request.due_on, until), 0)


def attachments(conn: psycopg.Connection[Any], request_id: int) -> list[RequestAttachment]:
    rows = conn.execute(
        "SELECT id, request_id, filename, media_type, size_bytes, encode(sha256, 'hex')"
        " FROM disclosure_request_attachments WHERE request_id = %s ORDER BY id",
        (request_id,),
    ).fetchall()
    return [RequestAttachment(*row) for row in rows]


def attachment_file(
    conn: psycopg.Connection[Any], request_id: int, sha256: bytes
) -> tuple[str, str, bytes] | None:
    """File name, media type and bytes of one attachment of the request."""
    row = conn.execute(
        "SELECT filename, media_type, content FROM disclosure_request_attachments"
        " WHERE request_id = %s AND sha256 = %s",
        (request_id, sha256),
    ).fetchone()
    return None if row is None else (str(row[0]), str(row[1]), bytes(row[2]))


def list_requests(
    conn: psycopg.Connection[Any], *, status: str | None, limit: int, offset: int
) -> tuple[int, list[Request]]:
    """How many requests (in ``status``, or all) and one page of them, newest first."""
    row = conn.execute(
        "SELECT count(*) FROM disclosure_requests WHERE %(s)s::text IS NULL OR status = %(s)s",
        {"s": status},
    ).fetchone()
    page = _select(
        conn,
        sql.SQL(
            "%(s)s::text IS NULL OR status = %(s)s ORDER BY received_on DESC, id DESC"
            " LIMIT %(limit)s OFFSET %(offset)s"
        ),
        {"s": status, "limit": limit, "offset": offset},
    )
    return (int(row[0]) if row else 0), page
