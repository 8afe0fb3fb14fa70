"""Turns case transitions into notifications (bilingual titles, the case's context), enqueued
in the same transaction as the transition: one notification per transition, never more."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg.rows import dict_row

from alerts.notify import Notification, enqueue_many
from alerts.notify.notification import action_label, kind_label
from schemas.cases.transitions import Transition

__all__ = ["announce", "titles"]

_CONTEXT = """
SELECT c.id, c.kind, c.pollutant, c.period, c.subject, c.severity, c.first_at, c.last_at,
       c.max_multiple, c.details, c.close_reason,
       o.id AS outlet_id, o.name_zh AS outlet_name_zh, o.mn,
       e.id AS enterprise_id, e.name_zh AS enterprise_name_zh, e.name_en AS enterprise_name_en,
       e.district, p.name_zh AS pollutant_name_zh, p.name_en AS pollutant_name_en,
       p.unit_en AS unit
FROM cases c JOIN outlets o ON o.id = c.outlet_id JOIN enterprises e ON e.id = o.enterprise_id
LEFT JOIN pollutants p ON p.code = c.pollutant
WHERE c.id = ANY(%s)
"""

_PERIOD = {"hour": ("小时均值", "hourly mean"), "day": ("日均值", "daily mean")}


def titles(ctx: dict[str, Any], action: str) -> tuple[str, str]:
    kind_zh, kind_en = kind_label(ctx["kind"])
    act_zh, act_en = ("", "") if action == "opened" else action_label(action)
    act_zh, act_en = (f"（{act_zh}）", f" ({act_en})") if act_zh else ("", "")
    where_zh = f"{ctx['enterprise_name_zh']} {ctx['outlet_name_zh']}"
    where_en = f"{ctx['enterprise_name_en'] or ctx['enterprise_name_zh']} outlet {ctx['mn']}"
    what_zh = what_en = ""
    if ctx["pollutant"]:
        period_zh, period_en = _PERIOD.get(ctx["period"], ("", ""))
        what_zh = f" {ctx['pollutant_name_zh'] or ctx['pollutant']}{period_zh}"
        what_en = f" {ctx['pollutant_name_en'] or ctx['pollutant']} {period_en}".rstrip()
    if ctx["subject"] and ctx["kind"] != "exceedance":
        what_zh += f" [{ctx['subject']}]"
        what_en += f" [{ctx['subject']}]"
    return (
        f"{kind_zh}{act_zh}：{where_zh}{what_zh}",
        f"{kind_en}{act_en}: {where_en}{what_en}",
    )


def announce(conn: psycopg.Connection, transitions: Sequence[Transition]) -> int:
    """Enqueue one notification per transition (all in one statement); returns the outbox rows
    created."""
    if not transitions:
        return 0
    cur = conn.cursor(row_factory=dict_row)
    # Every case's context at once, as it is after all of the transitions.
    contexts = {
        row["id"]: row for row in cur.execute(_CONTEXT, (sorted({t.case_id for t in transitions}),))
    }
    notifications: list[Notification] = []
    for t in transitions:
        ctx = contexts.get(t.case_id)
        if ctx is None:
            continue
        title_zh, title_en = titles(ctx, t.action)
        details = dict(ctx["details"] or {})
        details |= {
            "first_at": ctx["first_at"].isoformat(),
            "last_at": ctx["last_at"].isoformat(),
            "max_multiple": None if ctx["max_multiple"] is None else str(ctx["max_multiple"]),
            "period": ctx["period"] or None,
            "unit": ctx["unit"],
            "close_reason": ctx["close_reason"],
        }
        notifications.append(
            Notification(
                event_id=t.event_id,
                case_id=t.case_id,
                kind=ctx["kind"],
                action=t.action,
                severity=t.severity,
                occurred_at=ctx["last_at"],
                enterprise_id=ctx["enterprise_id"],
                enterprise_name_zh=ctx["enterprise_name_zh"],
                enterprise_name_en=ctx["enterprise_name_en"],
                district=ctx["district"],
                outlet_id=ctx["outlet_id"],
                outlet_name_zh=ctx["outlet_name_zh"],
                mn=ctx["mn"],
                pollutant=ctx["pollutant"] or None,
                pollutant_name_zh=ctx["pollutant_name_zh"],
                pollutant_name_en=ctx["pollutant_name_en"],
                title_zh=title_zh,
                title_en=title_en,
                details=details,
            )
        )
    return enqueue_many(conn, notifications)
