"""Subscriptions: who is told about which case transitions and system alerts, over which channel.

Filters are arrays; an empty array matches everything. A case without a pollutant (an outage,
a fault of the outlet) matches any pollutant filter: it concerns every pollutant of the outlet.
``cases`` (default on) asks for case notifications, ``system_alerts`` (default off) for the
system alerts (:mod:`schemas.system_alerts`) of the kinds in ``system_alert_kinds`` (empty:
every kind); the case filters (enterprises, districts, pollutants, kinds, severity) do not
apply to system alerts. Only staff are told about the service itself: a subscription asking
for system alerts must belong to an active staff user (its ``subscriber`` is the user name).
Everything is validated here, before it reaches the database, and reported as a
:class:`SubscriptionError` that names the field.

The alerts process reads subscriptions (:mod:`alerts.notify`); staff manage them through the
``sourcewatch subscriptions`` commands and the staff API. A change made with an ``actor`` is
written to the audit log with before and after. The secret (webhook HMAC key, robot sign
secret) is write-only: it is stored for the dispatcher, never returned by :meth:`Subscription.public`
and never written to the audit log or a log line (only whether one is set). A robot URL's own
credential (WeCom ``key``, DingTalk ``access_token``) is a secret too: :func:`shown_target`
masks it wherever a target is shown, and error messages never echo a URL target.

Errors::

    SubscriptionError     a subscription that cannot be stored; the message names the field
    └── UnknownSubscription   no subscription has this id
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from schemas.cases.kinds import CASE_KINDS, SEVERITIES
from schemas.core.addresses import TargetRefused, resolve_checked
from schemas.core.transactions import atomic
from schemas.staff.audit import audit
from schemas.system_alerts import ALERT_KINDS

__all__ = [
    "CHANNELS",
    "Subscription",
    "SubscriptionError",
    "UnknownSubscription",
    "add_subscription",
    "deactivate_subscription",
    "get_subscription",
    "list_subscriptions",
    "shown_target",
    "update_subscription",
    "validate_target",
]


class SubscriptionError(ValueError):
    """A subscription that cannot be stored; the message says which field is wrong."""


class UnknownSubscription(SubscriptionError, LookupError):
    """No subscription has this id."""


CHANNELS = ("webhook", "email", "mqtt", "wecom", "dingtalk")

# The query parameters of a robot URL that are its credential (masked when shown).
_URL_CREDENTIALS = frozenset({"key", "access_token", "token", "secret", "sign"})
MASK = "***"


def shown_target(channel: str, target: str) -> str:
    """``target`` as it may be shown (API answers, the CLI, the audit log): a URL's credential
    query parameters and any user:password replaced by ``***``."""
    if channel not in ("webhook", "wecom", "dingtalk"):
        return target
    parts = urlsplit(target)
    query = [
        (name, MASK if name.lower() in _URL_CREDENTIALS else value)
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
    ]
    netloc = parts.netloc.rpartition("@")[2]
    if parts.username is not None or parts.password is not None:
        netloc = f"{MASK}@{netloc}"
    return urlunsplit(
        (parts.scheme, netloc, parts.path, urlencode(query, safe="*"), parts.fragment)
    )


_EMAIL = re.compile(r"[^@\s<>,;\"]+@[^@\s<>,;\"]+")
_COLUMNS = sql.SQL(
    "id, subscriber, channel, target, secret, enterprise_ids, districts, pollutants, kinds, "
    "min_severity, max_per_hour, digest_after, cases, system_alerts, system_alert_kinds, "
    "active, created_at"
)


@dataclass(frozen=True, slots=True)
class Subscription:
    id: int
    subscriber: str
    channel: str
    target: str
    secret: str | None = field(repr=False)
    enterprise_ids: tuple[int, ...]
    districts: tuple[str, ...]
    pollutants: tuple[str, ...]
    kinds: tuple[str, ...]
    min_severity: str
    max_per_hour: int
    digest_after: int | None
    active: bool
    created_at: datetime
    cases: bool = True
    system_alerts: bool = False
    system_alert_kinds: tuple[str, ...] = ()

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Subscription:
        return cls(
            id=row["id"],
            subscriber=row["subscriber"],
            channel=row["channel"],
            target=row["target"],
            secret=row["secret"],
            enterprise_ids=tuple(row["enterprise_ids"]),
            districts=tuple(row["districts"]),
            pollutants=tuple(row["pollutants"]),
            kinds=tuple(row["kinds"]),
            min_severity=row["min_severity"],
            max_per_hour=row["max_per_hour"],
            digest_after=row["digest_after"],
            active=row["active"],
            created_at=row["created_at"],
            cases=row["cases"],
            system_alerts=row["system_alerts"],
            system_alert_kinds=tuple(row["system_alert_kinds"]),
        )

    def public(self) -> dict[str, Any]:
        """Every field but the secret, and whether one is set (for staff and the audit log)."""
        return {
            "id": self.id,
            "subscriber": self.subscriber,
            "channel": self.channel,
            "target": shown_target(self.channel, self.target),
            "secret_set": self.secret is not None,
            "enterprise_ids": list(self.enterprise_ids),
            "districts": list(self.districts),
            "pollutants": list(self.pollutants),
            "kinds": list(self.kinds),
            "min_severity": self.min_severity,
            "max_per_hour": self.max_per_hour,
            "digest_after": self.digest_after,
            "cases": self.cases,
            "system_alerts": self.system_alerts,
            "system_alert_kinds": list(self.system_alert_kinds),
            "active": self.active,
            "created_at": self.created_at,
        }


def validate_target(
    channel: str, target: str, secret: str | None, *, allow_private_targets: bool = False
) -> None:
    """Raise :class:`SubscriptionError` unless ``target`` and ``secret`` suit ``channel``.
    An http(s) target must resolve to global addresses only, unless
    ``allow_private_targets`` (docs/security.md#webhooks); a host that does not resolve now
    is accepted, and checked again before each request."""
    if channel not in CHANNELS:
        raise SubscriptionError(f"channel must be one of {', '.join(CHANNELS)}, got {channel!r}")
    if not target or target != target.strip():
        raise SubscriptionError("target must be a non-empty string without surrounding spaces")
    if channel in ("webhook", "wecom", "dingtalk"):
        parts = urlsplit(target)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SubscriptionError(f"{channel} target must be an http(s) URL")
        query = dict(parse_qsl(parts.query))
        if channel == "wecom" and not query.get("key"):
            raise SubscriptionError("wecom target must be the robot URL with its ?key=…")
        if channel == "dingtalk" and not query.get("access_token"):
            raise SubscriptionError("dingtalk target must be the robot URL with ?access_token=…")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
            resolve_checked(parts.hostname, port, allow_private=allow_private_targets)
        except TargetRefused as exc:
            raise SubscriptionError(f"{channel} target {parts.hostname}: {exc}") from exc
        except (OSError, ValueError, UnicodeError):
            pass  # not resolvable now (or a bad port, refused when sent): checked when sent
    elif channel == "email":
        if not _EMAIL.fullmatch(target):
            raise SubscriptionError(f"email target must be one e-mail address, got {target!r}")
    elif channel == "mqtt":
        if "+" in target or "#" in target or "\x00" in target:
            raise SubscriptionError("mqtt target must be a topic without wildcards (+, #)")
        if target.startswith("$") or len(target.encode()) > 65535:
            raise SubscriptionError("mqtt target must be a topic of at most 65535 bytes, not $…")
    if channel == "webhook" and not secret:
        raise SubscriptionError("webhook subscriptions need a secret to sign their requests")
    if channel in ("email", "mqtt", "wecom") and secret is not None:
        raise SubscriptionError(f"{channel} subscriptions take no secret")


def add_subscription(
    conn: psycopg.Connection[Any],
    *,
    subscriber: str,
    channel: str,
    target: str,
    secret: str | None = None,
    enterprise_ids: Iterable[int] = (),
    districts: Iterable[str] = (),
    pollutants: Iterable[str] = (),
    kinds: Iterable[str] = (),
    min_severity: str = "info",
    max_per_hour: int = 30,
    digest_after: int | None = None,
    cases: bool = True,
    system_alerts: bool = False,
    system_alert_kinds: Iterable[str] = (),
    actor: str | None = None,
    allow_private_targets: bool = False,
) -> int:
    """Store a subscription; returns its id. With ``actor`` the creation is audited."""
    values = _checked(
        conn,
        allow_private_targets=allow_private_targets,
        subscriber=subscriber,
        channel=channel,
        target=target,
        secret=secret,
        enterprise_ids=enterprise_ids,
        districts=districts,
        pollutants=pollutants,
        kinds=kinds,
        min_severity=min_severity,
        max_per_hour=max_per_hour,
        digest_after=digest_after,
        cases=cases,
        system_alerts=system_alerts,
        system_alert_kinds=system_alert_kinds,
    )
    with atomic(conn):
        row = conn.execute(
            "INSERT INTO subscriptions (subscriber, channel, target, secret, enterprise_ids, "
            "districts, pollutants, kinds, min_severity, max_per_hour, digest_after, cases, "
            "system_alerts, system_alert_kinds) "
            "VALUES (%(subscriber)s, %(channel)s, %(target)s, %(secret)s, %(enterprise_ids)s, "
            "%(districts)s, %(pollutants)s, %(kinds)s, %(min_severity)s, %(max_per_hour)s, "
            "%(digest_after)s, %(cases)s, %(system_alerts)s, %(system_alert_kinds)s) "
            "RETURNING id",
            values,
        ).fetchone()
        assert row is not None
        if actor is not None:
            after = get_subscription(conn, int(row[0])).public()
            audit(conn, actor, "subscription.create", "subscription", row[0], after=after)
    return int(row[0])


_FIELDS = (
    "subscriber",
    "channel",
    "target",
    "secret",
    "enterprise_ids",
    "districts",
    "pollutants",
    "kinds",
    "min_severity",
    "max_per_hour",
    "digest_after",
    "cases",
    "system_alerts",
    "system_alert_kinds",
)


def update_subscription(
    conn: psycopg.Connection[Any],
    subscription_id: int,
    changes: dict[str, Any],
    *,
    actor: str,
    allow_private_targets: bool = False,
) -> Subscription:
    """Change some fields (names of :data:`_FIELDS`); the whole subscription is validated
    again. Omit ``secret`` to keep it; set it to None to remove it. Audited; the result."""
    if unknown := sorted(set(changes) - set(_FIELDS)):
        raise SubscriptionError(f"unknown fields: {', '.join(unknown)}")
    with atomic(conn):
        conn.execute("SELECT 1 FROM subscriptions WHERE id = %s FOR UPDATE", (subscription_id,))
        before = get_subscription(conn, subscription_id)
        current = {name: getattr(before, name) for name in _FIELDS}
        if changes.get("system_alerts") is False and "system_alert_kinds" not in changes:
            current["system_alert_kinds"] = ()  # switched off: its kinds go with it
        values = _checked(conn, allow_private_targets=allow_private_targets, **(current | changes))
        conn.execute(
            "UPDATE subscriptions SET subscriber = %(subscriber)s, channel = %(channel)s, "
            "target = %(target)s, secret = %(secret)s, enterprise_ids = %(enterprise_ids)s, "
            "districts = %(districts)s, pollutants = %(pollutants)s, kinds = %(kinds)s, "
            "min_severity = %(min_severity)s, max_per_hour = %(max_per_hour)s, "
            "digest_after = %(digest_after)s, cases = %(cases)s, "
            "system_alerts = %(system_alerts)s, system_alert_kinds = %(system_alert_kinds)s "
            "WHERE id = %(id)s",
            values | {"id": subscription_id},
        )
        after = get_subscription(conn, subscription_id)
        old, new = before.public(), after.public()
        if "secret" in changes and changes["secret"] is not None:
            new["secret_changed"] = True  # the value itself is never recorded
        changed = sorted(k for k in new if new[k] != old.get(k))
        audit(
            conn,
            actor,
            "subscription.update",
            "subscription",
            subscription_id,
            before={k: old[k] for k in changed if k in old},
            after={k: new[k] for k in changed},
        )
    return after


def _checked(
    conn: psycopg.Connection[Any],
    *,
    subscriber: str,
    channel: str,
    target: str,
    secret: str | None,
    enterprise_ids: Iterable[int],
    districts: Iterable[str],
    pollutants: Iterable[str],
    kinds: Iterable[str],
    min_severity: str,
    max_per_hour: int,
    digest_after: int | None,
    cases: bool = True,
    system_alerts: bool = False,
    system_alert_kinds: Iterable[str] = (),
    allow_private_targets: bool = False,
) -> dict[str, Any]:
    """The validated column values of a subscription."""
    if not subscriber.strip():
        raise SubscriptionError("subscriber must not be empty")
    validate_target(channel, target, secret, allow_private_targets=allow_private_targets)
    kinds_ = _unique(kinds)
    if bad := [k for k in kinds_ if k not in CASE_KINDS]:
        raise SubscriptionError(f"kinds must be among {', '.join(CASE_KINDS)}, got {bad}")
    if min_severity not in SEVERITIES:
        raise SubscriptionError(f"min_severity must be one of {', '.join(SEVERITIES)}")
    if isinstance(max_per_hour, bool) or max_per_hour < 1:
        raise SubscriptionError("max_per_hour must be at least 1")
    if digest_after is not None and digest_after < 1:
        raise SubscriptionError("digest_after must be at least 1 (or None: never digest)")
    if not isinstance(cases, bool) or not isinstance(system_alerts, bool):
        raise SubscriptionError("cases and system_alerts must be true or false")
    if not cases and not system_alerts:
        raise SubscriptionError("a subscription must ask for cases, system_alerts or both")
    alert_kinds = _unique(system_alert_kinds)
    if bad := [k for k in alert_kinds if k not in ALERT_KINDS]:
        raise SubscriptionError(
            f"system_alert_kinds must be among {', '.join(ALERT_KINDS)}, got {bad}"
        )
    if alert_kinds and not system_alerts:
        raise SubscriptionError("system_alert_kinds needs system_alerts: true")
    if system_alerts and not _is_staff(conn, subscriber.strip()):
        raise SubscriptionError(
            "system_alerts: only staff are told about the service itself; the subscriber "
            "must be the user name of an active staff user"
        )
    enterprise_ids_ = sorted({int(e) for e in enterprise_ids})
    districts_ = _unique(districts)
    pollutants_ = _unique(pollutants)
    if pollutants_:
        known = {
            code
            for (code,) in conn.execute(
                "SELECT code FROM pollutants WHERE code = ANY(%s)", (pollutants_,)
            )
        }
        if unknown := [p for p in pollutants_ if p not in known]:
            raise SubscriptionError(f"unknown pollutant codes: {', '.join(unknown)}")
    return {
        "subscriber": subscriber.strip(),
        "channel": channel,
        "target": target,
        "secret": secret,
        "enterprise_ids": enterprise_ids_,
        "districts": districts_,
        "pollutants": pollutants_,
        "kinds": kinds_,
        "min_severity": min_severity,
        "max_per_hour": max_per_hour,
        "digest_after": digest_after,
        "cases": cases,
        "system_alerts": system_alerts,
        "system_alert_kinds": alert_kinds,
    }


def _is_staff(conn: psycopg.Connection[Any], username: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM staff_users WHERE username = %s AND active", (username,)
    ).fetchone()
    return row is not None


def get_subscription(conn: psycopg.Connection[Any], subscription_id: int) -> Subscription:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            sql.SQL("SELECT {} FROM subscriptions WHERE id = %s").format(_COLUMNS),
            (subscription_id,),
        ).fetchone()
    if row is None:
        raise UnknownSubscription(f"no subscription {subscription_id}")
    return Subscription.from_row(row)


def list_subscriptions(
    conn: psycopg.Connection[Any],
    *,
    subscriber: str | None = None,
    include_inactive: bool = False,
) -> list[Subscription]:
    """Subscriptions in id order, of one subscriber or all; active ones unless asked."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            sql.SQL(
                "SELECT {} FROM subscriptions"
                " WHERE (%(subscriber)s::text IS NULL OR subscriber = %(subscriber)s)"
                " AND (active OR %(all)s) ORDER BY id"
            ).format(_COLUMNS),
            {"subscriber": subscriber, "all": include_inactive},
        ).fetchall()
    return [Subscription.from_row(r) for r in rows]


def deactivate_subscription(
    conn: psycopg.Connection[Any], subscription_id: int, *, actor: str | None = None
) -> int:
    """Stop a subscription; its pending notifications are cancelled ('failed'). Returns how
    many were cancelled. Deactivating twice is a no-op. With ``actor`` it is audited."""
    with atomic(conn):
        row = conn.execute(
            "UPDATE subscriptions s SET active = false, "
            "deactivated_at = coalesce(s.deactivated_at, now()) "
            "FROM (SELECT id, active FROM subscriptions WHERE id = %s FOR UPDATE) was "
            "WHERE s.id = was.id RETURNING was.active",
            (subscription_id,),
        ).fetchone()
        if row is None:
            raise UnknownSubscription(f"no subscription {subscription_id}")
        cur = conn.execute(
            "UPDATE notification_outbox SET status = 'failed', "
            "last_error = 'subscription deactivated' "
            "WHERE subscription_id = %s AND status = 'pending'",
            (subscription_id,),
        )
        if actor is not None and row[0]:
            audit(
                conn,
                actor,
                "subscription.deactivate",
                "subscription",
                subscription_id,
                before={"active": True},
                after={"active": False, "pending_cancelled": cur.rowcount},
            )
        return cur.rowcount


def _unique(values: Iterable[str]) -> list[str]:
    if isinstance(values, str):
        raise SubscriptionError(f"expected a list of strings, got the string {values!r}")
    out: list[str] = []
    for v in values:
        if not isinstance(v, str) or not v.strip():
            raise SubscriptionError(f"filter values must be non-empty strings, got {v!r}")
        if v.strip() not in out:
            out.append(v.strip())
    return out
