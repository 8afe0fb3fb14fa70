"""Recall requests and their tries, in the database (``recall_requests``, ``recall_attempts``).

A request is one history query for one outlet, record kind and interval:

    waiting ──send──▶ sent ──answers or time-out──▶ done (healed)
       ▲                 │
       └── retry, with ──┘──▶ failed (refused | no-answer | partial), after ``max_tries``
           backoff

- :func:`open_requests` turns gaps into waiting requests, never twice for an interval a request
  already covered (whatever became of it): a logger that refused is not asked again and again.
- :func:`take_due` takes waiting requests whose time came (``FOR UPDATE SKIP LOCKED``, so two
  processes never send one request), at most one in flight per outlet and ``max_in_flight`` in
  all.
- :func:`mark_sent`, :func:`take_answered` and :func:`finish_try` record the rest; a failed
  request raises (or adds to) the ``recall-failed`` system alert of its outlet.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import psycopg
from psycopg.rows import class_row

from schemas.recall.gaps import Gap
from schemas.system_alerts import raise_alert

__all__ = [
    "Outcome",
    "Request",
    "finish_try",
    "mark_sent",
    "open_requests",
    "take_answered",
    "take_due",
]

Outcome = Literal["healed", "refused", "no-answer", "partial"]


@dataclass(frozen=True, slots=True)
class Request:
    id: int
    outlet_id: int
    mn: str
    cn: str
    begin_at: datetime
    end_at: datetime
    tries: int
    missing: int
    expected_per_hour: int
    qn: str | None  # of the latest try
    sent_at: datetime | None
    transport: str | None


_DUE = """
SELECT r.id, r.outlet_id, o.mn, r.cn, r.begin_at, r.end_at, r.tries, r.missing,
       r.expected_per_hour, a.qn, a.sent_at, a.transport
FROM recall_requests r JOIN outlets o ON o.id = r.outlet_id
LEFT JOIN recall_attempts a ON a.request_id = r.id AND a.try = r.tries
WHERE r.state = 'waiting' AND r.next_at <= %(now)s
  AND NOT EXISTS (SELECT 1 FROM recall_requests f WHERE f.outlet_id = r.outlet_id
                  AND f.state = 'sent')
  AND (SELECT l.transport FROM frames l WHERE l.outlet_id = r.outlet_id
       AND l.st IS DISTINCT FROM '91' ORDER BY l.received_at DESC LIMIT 1) = ANY(%(links)s)
ORDER BY r.next_at, r.id LIMIT %(limit)s FOR UPDATE OF r SKIP LOCKED
"""
_SENT = """
SELECT r.id, r.outlet_id, o.mn, r.cn, r.begin_at, r.end_at, r.tries, r.missing,
       r.expected_per_hour, a.qn, a.sent_at, a.transport
FROM recall_requests r JOIN outlets o ON o.id = r.outlet_id
LEFT JOIN recall_attempts a ON a.request_id = r.id AND a.try = r.tries
WHERE r.state = 'sent' AND a.transport = %s
ORDER BY r.next_at, r.id LIMIT %s FOR UPDATE OF r SKIP LOCKED
"""


def open_requests(conn: psycopg.Connection[Any], gaps: Sequence[Gap], now: datetime) -> int:
    """A waiting request for each gap no request has covered yet; how many were opened."""
    opened = 0
    for g in gaps:
        cur = conn.execute(
            "INSERT INTO recall_requests (outlet_id, cn, begin_at, end_at, missing,"
            " expected_per_hour, next_at, created_at, updated_at)"
            " SELECT %(o)s, %(cn)s, %(b)s, %(e)s, %(m)s, %(x)s, %(now)s, %(now)s, %(now)s"
            " WHERE NOT EXISTS (SELECT 1 FROM recall_requests WHERE outlet_id = %(o)s"
            "  AND cn = %(cn)s AND begin_at < %(e)s AND end_at > %(b)s)"
            " ON CONFLICT DO NOTHING",
            {
                "o": g.outlet_id,
                "cn": g.cn,
                "b": g.begin,
                "e": g.end,
                "m": g.missing,
                "x": g.expected_per_hour,
                "now": now,
            },
        )
        opened += cur.rowcount
    return opened


def take_due(
    conn: psycopg.Connection[Any],
    now: datetime,
    *,
    max_in_flight: int,
    transports: Sequence[str],
    limit: int = 100,
) -> list[Request]:
    """Waiting requests whose time came, locked for this transaction: oldest first, only for
    outlets whose latest upload came over one of ``transports`` (the links the caller holds:
    ``mqtt``/``mqtt-json``, or ``tcp``), none for an outlet that has one in flight, and no
    more than ``max_in_flight`` sent in all."""
    row = conn.execute("SELECT count(*) FROM recall_requests WHERE state = 'sent'").fetchone()
    room = max_in_flight - (int(row[0]) if row else 0)
    if room <= 0:
        return []
    cur = conn.cursor(row_factory=class_row(Request))
    due = cur.execute(
        _DUE, {"now": now, "links": list(transports), "limit": min(room, limit) * 4}
    ).fetchall()
    out: list[Request] = []
    seen: set[int] = set()
    for r in due:  # one per outlet (the rate limit per outlet)
        if r.outlet_id not in seen and len(out) < room:
            seen.add(r.outlet_id)
            out.append(r)
    return out


def mark_sent(
    conn: psycopg.Connection[Any],
    request: Request,
    *,
    qn: str,
    transport: str,
    now: datetime,
    answer_within: timedelta,
) -> None:
    """Record a try sent with ``qn``: the request waits ``answer_within`` for its answers."""
    tries = request.tries + 1
    conn.execute(
        "UPDATE recall_requests SET state = 'sent', tries = %s, next_at = %s, updated_at = %s"
        " WHERE id = %s",
        (tries, now + answer_within, now, request.id),
    )
    conn.execute(
        "INSERT INTO recall_attempts (request_id, try, qn, transport, sent_at)"
        " VALUES (%s, %s, %s, %s, %s)",
        (request.id, tries, qn, transport, now),
    )


def take_answered(
    conn: psycopg.Connection[Any], now: datetime, *, transport: str, limit: int = 100
) -> list[Request]:
    """Sent requests (of tries sent over ``transport``) to settle now, locked: the caller
    checks whether the answer (9012) came, or the time to wait for it ran out."""
    cur = conn.cursor(row_factory=class_row(Request))
    return cur.execute(
        _SENT,
        (transport, limit),
    ).fetchall()


def finish_try(
    conn: psycopg.Connection[Any],
    request: Request,
    *,
    outcome: Outcome,
    reason: str | None,
    qn_rtn: int | None,
    exe_rtn: int | None,
    packets: int,
    missing_after: int,
    now: datetime,
    max_tries: int,
    backoff: timedelta,
) -> str:
    """Record how the latest try ended; the request is done (healed), retried after
    ``backoff`` × 2^(tries − 1), or failed after ``max_tries``. Returns its new state."""
    conn.execute(
        "UPDATE recall_attempts SET qn_rtn = %s, exe_rtn = %s, packets = %s,"
        " missing_after = %s, outcome = %s, finished_at = %s WHERE request_id = %s AND try = %s",
        (qn_rtn, exe_rtn, packets, missing_after, outcome, now, request.id, request.tries),
    )
    if outcome == "healed":
        state = "done"
        conn.execute(
            "UPDATE recall_requests SET state = 'done', outcome = 'healed', reason = NULL,"
            " updated_at = %s WHERE id = %s",
            (now, request.id),
        )
    elif request.tries >= max_tries:
        state = "failed"
        conn.execute(
            "UPDATE recall_requests SET state = 'failed', outcome = %s, reason = %s,"
            " updated_at = %s WHERE id = %s",
            (outcome, reason, now, request.id),
        )
        raise_alert(
            conn,
            "recall-failed",
            request.mn,
            1,
            message_zh=f"排口 {request.mn} 补数失败（{_ZH[outcome]}）："
            f"{request.begin_at:%Y-%m-%d %H:%M} 起 {missing_after} 条{_KIND_ZH[request.cn]}仍缺失",
            message_en=f"history recall from outlet {request.mn} failed ({outcome}):"
            f" {missing_after} {_KIND_EN[request.cn]} record(s) from"
            f" {request.begin_at:%Y-%m-%d %H:%M} UTC still missing",
            details={
                "request_id": request.id,
                "cn": request.cn,
                "begin_at": request.begin_at,
                "end_at": request.end_at,
                "tries": request.tries,
                "reason": reason,
            },
            at=now,
        )
    else:
        state = "waiting"
        delay = backoff * (2 ** max(request.tries - 1, 0))
        conn.execute(
            "UPDATE recall_requests SET state = 'waiting', outcome = %s, reason = %s,"
            " next_at = %s, updated_at = %s WHERE id = %s",
            (outcome, reason, now + delay, now, request.id),
        )
    return state


_KIND_ZH = {"2051": "分钟数据", "2061": "小时数据", "2031": "日数据"}
_KIND_EN = {"2051": "minute", "2061": "hour", "2031": "day"}
_ZH = {"refused": "被拒绝", "no-answer": "无应答", "partial": "仅部分补回", "healed": "已补齐"}
