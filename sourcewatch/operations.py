"""The commands a bureau runs to operate sourcewatch: ``sourcewatch limits …`` (what judges an
outlet) and ``sourcewatch check`` (the operating problems it can see). The parser is in
:mod:`sourcewatch.cli`; every command imports what it needs when it runs."""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = ["check", "limits_bind", "limits_import", "limits_show", "limits_standards"]


def _say(text: str = "") -> None:
    print(text)  # noqa: T201


def _error(text: str) -> None:
    print(f"error: {text}", file=sys.stderr)  # noqa: T201


def _connect(name: str) -> Any:
    from schemas.core.db import connect
    from schemas.core.settings import get_settings

    return connect(get_settings().database, application_name=f"sourcewatch.{name}")


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


def _today() -> Any:
    from schemas.core.localtime import LOCAL_TZ

    return datetime.now(LOCAL_TZ).date()


def limits_import(args: argparse.Namespace) -> int:
    from schemas.limits.changes import import_limits
    from schemas.limits.rules import LimitsError

    try:
        data = args.file.read_bytes()
    except OSError as exc:
        _error(f"cannot read {args.file}: {exc.strerror or exc}")
        return 1
    try:
        with _connect("limits") as conn:
            result = import_limits(conn, data, actor=_actor(), filename=str(args.file))
            conn.commit()
    except LimitsError as exc:
        _error(str(exc))
        return 1
    if not result.ok:
        for e in result.errors:
            _error(str(e))
        _error(f"{len(result.errors)} error(s); nothing imported")
        return 1
    _say(result.summary())
    return 0


def limits_bind(args: argparse.Namespace) -> int:
    from schemas.limits.changes import bind
    from schemas.limits.rules import LimitsError

    try:
        with _connect("limits") as conn:
            binding_id = bind(
                conn,
                args.mn,
                args.standard,
                args.category,
                args.valid_from,
                args.source,
                valid_to=args.valid_to,
                actor=_actor(),
            )
            conn.commit()
    except LimitsError as exc:
        _error(str(exc))
        return 1
    _say(f"binding {binding_id}: {args.mn} → {args.standard} / {args.category}")
    return 0


def _number(value: Any) -> str:
    return "" if value is None else format(value, "f")


def limits_show(args: argparse.Namespace) -> int:
    from schemas.limits.overview import bindings, find_outlet, in_force, outlet_limit_versions
    from schemas.limits.rules import LimitsError

    day = args.on or _today()
    try:
        with _connect("limits") as conn:
            outlet_id, kind = find_outlet(conn, args.mn)
            limits = in_force(conn, outlet_id, day)
            bound = bindings(conn, outlet_id)
            versions = outlet_limit_versions(conn, outlet_id)
    except LimitsError as exc:
        _error(str(exc))
        return 1
    _say(f"{args.mn} ({kind}): limits in force on {day} (Asia/Shanghai calendar day)")
    if not limits:
        _say("  none: this outlet is not judged (bind it or import its permit limits)")
    for item in limits:
        lim = item.limit
        low = f"{_number(lim.value_min)}–" if lim.value_min is not None else ""
        o2 = f", at {_number(lim.reference_o2)} % O₂" if lim.reference_o2 is not None else ""
        until = item.valid_to or "open-ended"
        _say(
            f"  {lim.pollutant} {item.pollutant_zh} / {item.pollutant_en}: {low}"
            f"{_number(lim.value)} {lim.unit} per {lim.period}{o2}"
            f" — {'confirmed' if lim.confirmed else 'UNCONFIRMED'}, valid {item.valid_from}"
            f" to {until}\n      from {item.origin}"
        )
    _say("bindings (standard / category, valid from – to, source):")
    for b in bound:
        _say(f"  {b.standard} / {b.category}, {b.valid_from} – {b.valid_to or '…'}, {b.source}")
    if not bound:
        _say("  none")
    _say("permit limit versions (pollutant period vN: value unit, valid from – to, source):")
    for v in versions:
        _say(
            f"  {v.pollutant} {v.period} v{v.version}: {_number(v.value)} {v.unit},"
            f" {v.valid_from} – {v.valid_to or '…'}, {v.source_document} (by {v.created_by})"
        )
    if not versions:
        _say("  none")
    return 0


def limits_standards(args: argparse.Namespace) -> int:
    from schemas.limits.standards import loaded_categories

    with _connect("limits") as conn:
        categories = loaded_categories(conn)
    _say("standard / category — medium — name (zh / en) — valid from – to — pollutants")
    for c in categories.values():
        _say(
            f"{c.standard} / {c.category} — {c.medium} — {c.name_zh} / {c.name_en} —"
            f" {c.valid_from} – {c.valid_to or '…'} — {', '.join(c.pollutants)}"
        )
    return 0


def check(args: argparse.Namespace) -> int:
    from pathlib import Path

    from schemas.core.localtime import LOCAL_TZ
    from schemas.disclosure.keys import default_key_path
    from sourcewatch import checks
    from sourcewatch.settings import AllSettings

    settings = AllSettings.from_environ()  # the broker, its limits, the signing key
    now = datetime.now(UTC)
    today = now.astimezone(LOCAL_TZ).date()
    config = settings.mqtt_broker_config
    try:
        limit, source = checks.queue_limit(
            Path(config) if config else None, settings.mqtt_max_queued_messages
        )
        queue_error = None
    except OSError as exc:
        limit, source, queue_error = None, "unknown", exc
    with _connect("check") as conn:
        findings = [
            *checks.unjudged(conn, now, today),
            *checks.silent(conn, now, timedelta(seconds=args.silent_after)),
            *checks.without_pw(conn),
            *checks.requests(conn, today, args.remind_within),
        ]
        if queue_error is not None:
            findings.append(
                checks.Finding(
                    "broker-queue", "problem", f"the broker configuration: {queue_error}"
                )
            )
        else:
            findings += checks.broker_queue(
                conn,
                now,
                limit=limit,
                source=source,
                outage=timedelta(seconds=args.outage),
                assumed_per_hour=args.assumed_rate,
            )
    findings += checks.broker_drops(settings.broker)
    findings += checks.broker_version(settings.broker)
    findings += checks.signing_key(default_key_path(settings.signing_key_file))
    findings += checks.calendar(today)
    for f in findings:
        _say(str(f))
    problems = sum(f.level == "problem" for f in findings)
    _say(f"{problems} problem(s)" if problems else "no problems found")
    return 1 if problems else 0
