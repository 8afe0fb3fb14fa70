"""One PostgreSQL login role per process, holding only what that process writes.

The tables belong to the role that runs ``sourcewatch migrate`` (the owner). Every other
process connects with its own role (``sourcewatch db roles`` creates them, idempotently):

* ``<prefix>_ingest`` — the MQTT ingest workers and the TCP gateway: frames, measurements
  (the table ``measurement_rows`` beneath the view), their revisions, outlet activity, the
  evaluation queue, dead letters and the completeness record;
* ``<prefix>_alerts`` — the evaluator, the notification dispatcher and the publisher:
  means, cases, notifications, automatic disclosure records, and it alone signs the
  publication log's daily roots (``publication_roots``, ``signing_keys``); its sweep deletes
  expired dead letters;
* ``<prefix>_api`` — the HTTP API: it reads, and its staff routes write what staff do
  (disclosure drafts and attachments, case actions, the audit log, a token's last use, and
  what admins manage: the registry, limit bindings and permit limits, subscriptions — with
  cancelling their pending notifications — staff accounts and tokens, and the console's
  sessions and failed logins).

Every role reads every table. The publication log is appended to by the two processes that
publish — the publisher (automatic records) and the API (staff publish and withdraw in the
same transaction as the record changes, so that no publication exists without its entry) —
with ``INSERT`` only. No role may ``UPDATE``, ``DELETE`` or ``TRUNCATE`` the log, its roots,
the signing keys or the audit log; the triggers of migrations 0011 and 0014 refuse those even
to the owner. Each role is ``NOSUPERUSER``: a role that exists with more powers is refused.

Privileges are re-applied from :data:`WRITES` on every run (``REVOKE ALL`` first), so a run
after a new migration gives the roles the new tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

__all__ = ["PROCESSES", "WRITES", "RoleError", "apply_roles", "role_name"]

PROCESSES = ("api", "ingest", "alerts")

_IW = ("INSERT", "UPDATE")  # INSERT … ON CONFLICT DO UPDATE, or rows changed later

# table → privileges beyond SELECT, per process. SELECT … FOR UPDATE/SHARE needs UPDATE.
WRITES: Mapping[str, Mapping[str, tuple[str, ...]]] = {
    "ingest": {
        "frames": ("INSERT",),
        "measurement_rows": _IW,  # beneath the view `measurements` (migration 0024)
        "measurement_revisions": ("INSERT",),
        "outlet_activity": _IW,
        "evaluation_queue": _IW,
        "dead_letters": ("INSERT",),
        "completeness": _IW,
        # issue 14: the broker's drop counters, system alerts, history recall
        "broker_counters": _IW,
        "system_alerts": _IW,
        "system_alert_events": ("INSERT",),  # opened, reopened: told to subscribers
        "recall_requests": _IW,
        "recall_attempts": _IW,
    },
    "alerts": {
        "evaluation_queue": ("UPDATE", "DELETE"),
        "dead_letters": ("DELETE",),  # the evaluator's sweep expires them (alerts/retention.py)
        "evaluation_errors": ("INSERT",),
        "hourly_means": _IW,
        "daily_means": _IW,
        "cases": _IW,
        "case_periods": _IW,
        "case_events": ("INSERT",),
        "subscriptions": _IW,
        "notification_outbox": _IW,
        "delivery_log": ("INSERT",),
        "system_alert_events": _IW,  # reminders; announced: queued for the subscribers
        "disclosure_records": _IW,
        "publication_log": ("INSERT",),
        "publication_roots": ("INSERT",),
        "signing_keys": ("INSERT",),
    },
    "api": {
        "disclosure_records": _IW,
        "disclosure_attachments": ("INSERT",),
        "publication_log": ("INSERT",),
        "cases": ("UPDATE",),
        "case_events": ("INSERT",),
        "staff_audit": ("INSERT",),
        "staff_tokens": _IW,
        # staff management (issue 13): the registry, limits, subscriptions and accounts
        "enterprises": _IW,
        "outlets": _IW,
        "outlet_limit_bindings": _IW,
        "outlet_limits": _IW,
        "subscriptions": _IW,
        "notification_outbox": ("UPDATE",),
        "staff_users": _IW,
        "system_alerts": ("UPDATE",),  # staff close them (issue 14)
        "system_alert_events": ("INSERT",),  # closed: told to subscribers
        # disclosure on request (issue 17): the public form and the staff actions
        "disclosure_requests": _IW,
        "disclosure_request_attachments": ("INSERT",),
        "disclosure_request_challenges": _IW,
        # the staff console (issue 13): password logins, sessions, throttled failures
        "staff_sessions": _IW,
        "staff_login_failures": ("INSERT", "DELETE"),
    },
}

_LOCK_KEY = 0x5357_524F_4C45  # "SWROLE": one run at a time


class RoleError(Exception):
    """A role cannot be set up as asked (a bad name, or a role with powers it must not have)."""


@dataclass(frozen=True, slots=True)
class _Existing:
    superuser: bool
    createrole: bool
    createdb: bool
    bypassrls: bool
    replication: bool


def role_name(prefix: str, process: str) -> str:
    """``<prefix>_<process>``, e.g. ``sourcewatch_api``."""
    if process not in PROCESSES:
        raise RoleError(f"unknown process {process!r} (one of {', '.join(PROCESSES)})")
    name = f"{prefix}_{process}"
    if not prefix or not name.replace("_", "").isalnum() or not name.isascii() or len(name) > 63:
        raise RoleError(f"role name {name!r}: letters, digits and _ only, at most 63 characters")
    return name.lower()


def _existing(conn: psycopg.Connection[Any], name: str) -> _Existing | None:
    row = conn.execute(
        "SELECT rolsuper, rolcreaterole, rolcreatedb, rolbypassrls, rolreplication "
        "FROM pg_roles WHERE rolname = %s",
        (name,),
    ).fetchone()
    return None if row is None else _Existing(*map(bool, row))


def _password(conn: psycopg.Connection[Any], name: str, password: str) -> sql.Composable:
    """The SCRAM-SHA-256 verifier, computed here: the password never reaches the server's
    statement log."""
    verifier = conn.pgconn.encrypt_password(password.encode(), name.encode(), b"scram-sha-256")
    return sql.SQL(" PASSWORD {}").format(sql.Literal(verifier.decode()))


def _grants(conn: psycopg.Connection[Any], role: sql.Identifier, process: str) -> None:
    conn.execute(sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {}").format(role))
    conn.execute(sql.SQL("REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {}").format(role))
    conn.execute(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {}").format(role))
    conn.execute(sql.SQL("GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {}").format(role))
    for table, privileges in WRITES[process].items():
        conn.execute(
            sql.SQL("GRANT {} ON TABLE {} TO {}").format(
                sql.SQL(", ").join(sql.SQL(p) for p in privileges), sql.Identifier(table), role
            )
        )


def apply_roles(
    conn: psycopg.Connection[Any],
    prefix: str = "sourcewatch",
    passwords: Mapping[str, str] | None = None,
) -> list[str]:
    """Create the roles that do not exist yet (``LOGIN``, with the given password per process
    when there is one), set the given passwords, and re-apply every role's privileges on this
    database, in one transaction. Returns the role names. Needs the owner of the tables with
    ``CREATEROLE`` (or a superuser). Raises :class:`RoleError`."""
    passwords = passwords or {}
    if unknown := set(passwords) - set(PROCESSES):
        raise RoleError(f"passwords for unknown processes: {', '.join(sorted(unknown))}")
    names = [role_name(prefix, p) for p in PROCESSES]
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        for process, name in zip(PROCESSES, names, strict=True):
            role = sql.Identifier(name)
            found = _existing(conn, name)
            password = passwords.get(process)
            secret = _password(conn, name, password) if password else sql.SQL("")
            if found is None:
                conn.execute(
                    sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE{}").format(
                        role, secret
                    )
                )
            elif powers := _powers(found):
                raise RoleError(
                    f"role {name} exists with {', '.join(powers)}: a process role "
                    "must have none of these (drop or alter it first)"
                )
            elif password:
                conn.execute(sql.SQL("ALTER ROLE {} LOGIN{}").format(role, secret))
            _grants(conn, role, process)
    return names


def _powers(found: _Existing) -> list[str]:
    return [
        power
        for power, held in (
            ("SUPERUSER", found.superuser),
            ("CREATEROLE", found.createrole),
            ("CREATEDB", found.createdb),
            ("BYPASSRLS", found.bypassrls),
            ("REPLICATION", found.replication),
        )
        if held
    ]
