"""Notifications of system alerts (:mod:`schemas.system_alerts`) to staff subscribers.

Opening an alert (its first occurrence), reopening it (the first occurrence after staff
closed it) and closing it each write one ``system_alert_events`` row in that transaction.
:func:`announce_pending` turns those rows into outbox rows, one per matching subscription,
and marks them announced, in one transaction: the event row is the durable record, and
``UNIQUE (system_event_id, subscription_id)`` makes a repeat queue nothing new. The
dispatcher runs it before each delivery pass, so the notifications then go out like case
notifications (rate limit, digest, retries, delivery log).

With a reminder interval, :func:`remind_due` adds a 'reminder' event for every alert still
open that long after its last event (opened, reopened or the last reminder): at most one
reminder per alert per interval, however many dispatchers run (they take turns on an
advisory lock).

A subscription matches when it is active, asks for ``system_alerts`` (of this kind, or of
every kind) and belongs to an active staff user; the case filters do not apply.

The text carries the alert's own bilingual message, its subject (an outlet's MN, a broker's
host:port — never credentials), its count and times; not its ``details``, which may hold
internal reasons.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from alerts.notify import outbox
from alerts.notify.errors import InvalidNotification
from schemas.core.localtime import LOCAL_TZ
from schemas.system_alerts import KIND_LABELS

__all__ = [
    "SYSTEM_ACTIONS",
    "SystemNotice",
    "announce_pending",
    "remind_due",
    "system_action_label",
    "system_kind_label",
]

SYSTEM_ACTIONS = ("opened", "reopened", "closed", "reminder")

_KIND = KIND_LABELS
_ACTION = {
    "opened": ("新告警", "opened"),
    "reopened": ("再次出现", "reopened"),
    "closed": ("已关闭", "closed"),
    "reminder": ("提醒：仍未关闭", "reminder: still open"),
}
# A message longer than this is cut (the API and the console show it whole).
MESSAGE_MAX_CHARS = 500


def system_kind_label(code: str) -> tuple[str, str]:
    """(zh, en) label of a system alert kind."""
    return _KIND.get(code, (code, code))


def system_action_label(code: str) -> tuple[str, str]:
    """(zh, en) label of a system alert transition."""
    return _ACTION.get(code, (code, code))


@dataclass(frozen=True, slots=True)
class SystemNotice:
    """One transition of one system alert, as the outbox stores it and channels render it."""

    system_event_id: int
    alert_id: int
    kind: str
    action: str
    subject: str
    occurred_at: datetime
    first_at: datetime
    last_at: datetime
    count: int
    message_zh: str
    message_en: str
    closed_by: str | None = None

    def __post_init__(self) -> None:
        for name in ("occurred_at", "first_at", "last_at"):
            value = getattr(self, name)
            if value.tzinfo is None or value.utcoffset() is None:
                raise InvalidNotification(f"{name} must be timezone-aware")
        if self.action not in SYSTEM_ACTIONS:
            raise InvalidNotification(
                f"action must be one of {', '.join(SYSTEM_ACTIONS)}, got {self.action!r}"
            )
        object.__setattr__(self, "message_zh", _cut(self.message_zh))
        object.__setattr__(self, "message_en", _cut(self.message_en))

    @property
    def severity(self) -> str:
        """'major' while the service is losing data; 'info' once staff closed it."""
        return "info" if self.action == "closed" else "major"

    @property
    def occurred_utc(self) -> datetime:
        return self.occurred_at.astimezone(UTC)

    @property
    def occurred_local(self) -> datetime:
        return self.occurred_at.astimezone(LOCAL_TZ)

    @property
    def title_zh(self) -> str:
        kind, action = system_kind_label(self.kind)[0], system_action_label(self.action)[0]
        return f"系统告警：{kind}（{action}）{self.subject}"

    @property
    def title_en(self) -> str:
        kind, action = system_kind_label(self.kind)[1], system_action_label(self.action)[1]
        return f"System alert: {kind} ({action}) {self.subject}"

    def to_json(self) -> dict[str, Any]:
        """The bilingual JSON document (webhook body, MQTT payload, outbox row)."""
        kind, action = system_kind_label(self.kind), system_action_label(self.action)
        return {
            "type": "system_alert",
            "system_event_id": self.system_event_id,
            "alert_id": self.alert_id,
            "kind": self.kind,
            "action": self.action,
            "severity": self.severity,
            "subject": self.subject,
            "labels": {
                "zh": {"kind": kind[0], "action": action[0]},
                "en": {"kind": kind[1], "action": action[1]},
            },
            "occurred_at": {
                "utc": _z(self.occurred_utc),
                "local": self.occurred_local.isoformat(),
                "timezone": str(LOCAL_TZ),
            },
            "first_at": _z(self.first_at.astimezone(UTC)),
            "last_at": _z(self.last_at.astimezone(UTC)),
            "count": self.count,
            "message": {"zh": self.message_zh, "en": self.message_en},
            "closed_by": self.closed_by,
            "title": {"zh": self.title_zh, "en": self.title_en},
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> SystemNotice:
        """The inverse of :meth:`to_json`."""
        try:
            if doc["type"] != "system_alert":
                raise ValueError(f"type {doc['type']!r}")
            return cls(
                system_event_id=int(doc["system_event_id"]),
                alert_id=int(doc["alert_id"]),
                kind=doc["kind"],
                action=doc["action"],
                subject=doc["subject"],
                occurred_at=datetime.fromisoformat(doc["occurred_at"]["utc"]),
                first_at=datetime.fromisoformat(doc["first_at"]),
                last_at=datetime.fromisoformat(doc["last_at"]),
                count=int(doc["count"]),
                message_zh=doc["message"]["zh"],
                message_en=doc["message"]["en"],
                closed_by=doc.get("closed_by"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidNotification(f"not a system alert document: {exc!r}") from exc


_PENDING = """
SELECT e.id AS system_event_id, e.alert_id, e.action, e.at, a.kind, a.subject, a.first_at,
       a.last_at, a.count, a.message_zh, a.message_en, a.closed_by
FROM system_alert_events e JOIN system_alerts a ON a.id = e.alert_id
WHERE e.announced_at IS NULL
ORDER BY e.id LIMIT %s
FOR UPDATE OF e SKIP LOCKED
"""


def announce_pending(conn: psycopg.Connection[Any], now: datetime, limit: int = 100) -> int:
    """Queue the notifications of the system alert events not yet announced (at most
    ``limit`` events) and mark them announced; returns the outbox rows inserted. Run it in a
    transaction: events another transaction holds are skipped."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(_PENDING, (limit,)).fetchall()
    inserted = 0
    for row in rows:
        notice = SystemNotice(
            system_event_id=row["system_event_id"],
            alert_id=row["alert_id"],
            kind=row["kind"],
            action=row["action"],
            subject=row["subject"],
            occurred_at=row["at"],
            first_at=row["first_at"],
            last_at=row["last_at"],
            count=row["count"],
            message_zh=row["message_zh"],
            message_en=row["message_en"],
            closed_by=row["closed_by"] if row["action"] == "closed" else None,
        )
        inserted += outbox.enqueue_system(
            conn, notice.system_event_id, notice.kind, notice.to_json()
        )
    if rows:
        conn.execute(
            "UPDATE system_alert_events SET announced_at = %s WHERE id = ANY (%s)",
            (now, [r["system_event_id"] for r in rows]),
        )
    return inserted


# pg_advisory_xact_lock key: one dispatcher at a time decides which reminders are due.
_REMINDER_LOCK = 0x5357_5245_4D44  # "SWREMD"

_REMIND = """
INSERT INTO system_alert_events (alert_id, action, at)
SELECT a.id, 'reminder', %(now)s
FROM system_alerts a
WHERE a.state = 'open'
  AND coalesce((SELECT max(e.at) FROM system_alert_events e WHERE e.alert_id = a.id), a.first_at)
      <= %(now)s - %(every)s
ORDER BY a.id
"""


def remind_due(conn: psycopg.Connection[Any], now: datetime, every: timedelta) -> int:
    """Add a reminder event for each alert open ``every`` after its last event; returns how
    many. Run it in a transaction (it holds an advisory lock until the transaction ends)."""
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (_REMINDER_LOCK,))
    return conn.execute(_REMIND, {"now": now, "every": every}).rowcount


def _cut(text: str) -> str:
    return text if len(text) <= MESSAGE_MAX_CHARS else text[: MESSAGE_MAX_CHARS - 1] + "…"


def _z(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")
