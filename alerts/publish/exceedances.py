"""exceedance_notice records (自动监测超标信息): one per exceedance case, published as soon as
the case opens and updated as it grows and when it closes.

Record key ``exceedance_notice:<case id>``; formed when the case opened. Only what the data
say is published — never staff comments, assignments or close reasons.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.rows import dict_row

from alerts.publish._util import pollutant_names, q
from schemas.disclosure.auto_types import ExceedanceNotice
from schemas.disclosure.automatic import AutoResult, publish_automatic
from schemas.limits.rules import load_validity_rules

__all__ = ["exceedance_candidates", "notice_content", "publish_notice"]


def exceedance_candidates(
    conn: psycopg.Connection[Any], after_event: int
) -> tuple[list[tuple[int, str]], int]:
    """(case id, fingerprint) of open exceedance cases and of those with events after
    ``after_event``; and the latest event id."""
    last = conn.execute("SELECT coalesce(max(id), 0) FROM case_events").fetchone()
    latest = int(last[0]) if last else 0
    rows = conn.execute(
        """SELECT c.id, c.state, c.first_at, c.last_at, c.max_multiple, c.closed_at,
                  (SELECT count(*) || ':' || coalesce(sum(p.value), 0)
                   FROM case_periods p WHERE p.case_id = c.id AND NOT p.compliant)
           FROM cases c
           WHERE c.kind = 'exceedance' AND (c.state = 'open' OR c.id IN
                 (SELECT e.case_id FROM case_events e WHERE e.id > %s AND e.id <= %s))
           ORDER BY c.id""",
        (after_event, latest),
    ).fetchall()
    return [(int(r[0]), "|".join(str(v) for v in r[1:])) for r in rows], latest


def _utc(at: datetime | None) -> datetime | None:
    return None if at is None else at.astimezone(UTC)


def notice_content(
    conn: psycopg.Connection[Any], case_id: int
) -> tuple[ExceedanceNotice, datetime] | None:
    """The notice and when the case opened (formed_at)."""
    cur = conn.cursor(row_factory=dict_row)
    case = cur.execute(
        "SELECT c.*, o.enterprise_id, o.code AS outlet_code, o.name_zh AS outlet_name_zh,"
        " o.name_en AS outlet_name_en, o.kind AS outlet_kind FROM cases c"
        " JOIN outlets o ON o.id = c.outlet_id WHERE c.id = %s AND c.kind = 'exceedance'",
        (case_id,),
    ).fetchone()
    if case is None:
        return None
    periods = cur.execute(
        "SELECT period_start, value, limit_value, multiple, compliant, details FROM case_periods"
        " WHERE case_id = %s ORDER BY compliant, multiple DESC NULLS LAST, period_start",
        (case_id,),
    ).fetchall()
    exceeding = [p for p in periods if not p["compliant"]]
    candidates = exceeding or periods
    peak: dict[str, Any] | None = candidates[0] if candidates else None
    details: dict[str, Any] = dict(case["details"] or {})
    if peak is not None:
        extra = peak["details"]
        details.update(json.loads(extra) if isinstance(extra, str) else extra or {})
    zh, en, unit = pollutant_names(conn).get(case["pollutant"], (case["pollutant"],) * 2 + (None,))
    value = peak["value"] if peak is not None else Decimal(details.get("value", 0))
    limit = peak["limit_value"] if peak is not None else Decimal(details["limit"])
    ref_o2 = details.get("reference_o2")
    coverage = details.get("coverage")
    medium = case["outlet_kind"]
    rules = load_validity_rules(conn, medium, case["first_at"].date())
    if case["period"] == "hour":
        note_zh = f"依据有效小时均值判定（每小时至少{rules.hour_min_valid_minutes}个有效分钟数据）"
        note_en = (
            f"Judged on valid hourly means (at least {rules.hour_min_valid_minutes} valid"
            " minutes in the hour)"
        )
    else:
        note_zh = f"依据有效日均值判定（每日至少{rules.day_min_valid_hours}个有效小时均值）"
        note_en = f"Judged on valid daily means (at least {rules.day_min_valid_hours} valid hours)"
    if ref_o2 is not None:
        note_zh += f"，浓度折算至基准氧含量{ref_o2}%"
        note_en += f", concentration converted to {ref_o2} % reference O₂"
    if coverage:
        note_zh += f"；最高值时段有效数据 {coverage}"
        note_en += f"; valid data in the highest period: {coverage}"
    notice = ExceedanceNotice(
        case_id=case_id,
        enterprise_id=case["enterprise_id"],
        outlet_id=case["outlet_id"],
        outlet_code=case["outlet_code"],
        outlet_name_zh=case["outlet_name_zh"],
        outlet_name_en=case["outlet_name_en"],
        pollutant=case["pollutant"],
        pollutant_name_zh=zh,
        pollutant_name_en=en,
        period=case["period"],
        first_at=_utc(case["first_at"]),
        last_at=_utc(case["last_at"]),
        exceeding_periods=len(exceeding),
        value=q(value),
        value_at=_utc(peak["period_start"] if peak is not None else case["first_at"]),
        unit=details.get("unit") or unit or "",
        limit=limit,
        limit_min=details.get("limit_min"),
        reference_o2=ref_o2,
        limit_standard=details.get("standard"),
        limit_source=details.get("source_document") or details.get("limit_source") or "",
        limit_clause=details.get("clause"),
        limit_confirmed=bool(details.get("limit_confirmed", True)),
        multiple=q(case["max_multiple"] if exceeding else Decimal(0)),
        state=case["state"],
        closed_at=_utc(case["closed_at"]),
        validity_note_zh=note_zh + "。",
        validity_note_en=note_en + ".",
    )
    return notice, case["opened_at"]


def publish_notice(conn: psycopg.Connection[Any], case_id: int) -> AutoResult | None:
    built = notice_content(conn, case_id)
    if built is None:
        return None
    notice, opened_at = built
    return publish_automatic(
        conn,
        record_type="exceedance_notice",
        record_key=f"exceedance_notice:{case_id}",
        content=notice.model_dump(mode="json"),
        formed_at=opened_at,
        enterprise_id=notice.enterprise_id,
        outlet_id=notice.outlet_id,
        source_ref=f"cases:{case_id}",
        reason="the case changed",
    )
