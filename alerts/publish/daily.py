"""daily_summary records (自动监测日均值): one per outlet and local day, once the day is over.

Record key ``daily_summary:<outlet id>:<day>``; formed at the end of the local day. Revised
daily means give different content, hence a new version. Per pollutant: the daily mean
(measured and converted), its coverage, and the judgement against the limit in force — a
daily limit judges the daily mean; an hourly limit (flue gas) is reported with the number of
valid hourly means of the day above it and their highest multiple
(:func:`schemas.limits.judgement.judge`: none for a range such as pH; 0 when compliant).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from alerts.publish._util import local_midnight, pollutant_names, q
from schemas.disclosure.auto_types import DailyPollutant, DailySummary
from schemas.disclosure.automatic import AutoResult, publish_automatic
from schemas.limits.judgement import judge, value_to_judge
from schemas.limits.rules import Limit, limits_for_outlet

__all__ = ["daily_candidates", "daily_content", "publish_daily"]


def daily_candidates(
    conn: psycopg.Connection[Any],
    *,
    now: datetime,
    grace: timedelta,
    computed_since: datetime | None,
    ended_since: date,
    settle: timedelta,
) -> list[tuple[int, date, str]]:
    """(outlet, day, fingerprint) of ended days whose means were computed after
    ``computed_since`` or that are not older than ``ended_since``, and whose means have not
    changed for ``settle`` (by the server's clock, which wrote ``computed_at``)."""
    rows = conn.execute(
        """SELECT d.outlet_id, d.day, max(d.computed_at), count(*)
           FROM daily_means d JOIN outlets o ON o.id = d.outlet_id
           WHERE (d.computed_at > %(since)s OR d.day >= %(ended)s)
             AND d.day < ((%(now)s::timestamptz - %(grace)s) AT TIME ZONE o.timezone)::date
           GROUP BY d.outlet_id, d.day
           HAVING max(d.computed_at) <= statement_timestamp() - %(settle)s
           ORDER BY d.day, d.outlet_id""",
        {
            "since": computed_since or datetime.max.replace(tzinfo=now.tzinfo),
            "ended": ended_since,
            "now": now,
            "grace": grace,
            "settle": settle,
        },
    ).fetchall()
    return [(int(o), d, f"{m}|{n}") for o, d, m, n in rows]


def _limit_for(limits: list[Limit], pollutant: str) -> Limit | None:
    by_period = {lim.period: lim for lim in limits if lim.pollutant == pollutant}
    return by_period.get("day") or by_period.get("hour")


def daily_content(
    conn: psycopg.Connection[Any], outlet_id: int, day: date
) -> tuple[DailySummary, datetime, int] | None:
    """The summary, the end of the day (formed_at) and the enterprise id."""
    outlet = conn.execute(
        "SELECT enterprise_id, code, name_zh, name_en, kind, timezone FROM outlets WHERE id = %s",
        (outlet_id,),
    ).fetchone()
    if outlet is None:
        return None
    enterprise_id, code, name_zh, name_en, kind, tz_name = outlet
    tz = ZoneInfo(tz_name)
    start, end = local_midnight(day, tz), local_midnight(day + timedelta(days=1), tz)
    means = conn.execute(
        "SELECT pollutant, mean, converted, valid, valid_count, expected_count FROM daily_means"
        " WHERE outlet_id = %s AND day = %s ORDER BY pollutant",
        (outlet_id, day),
    ).fetchall()
    if not means:
        return None
    names = pollutant_names(conn)
    limits = limits_for_outlet(conn, outlet_id, day)
    items = []
    for pollutant, mean, converted, valid, valid_count, expected in means:
        zh, en, unit = names.get(pollutant, (pollutant, pollutant, None))
        lim = _limit_for(limits, pollutant)
        compliant: bool | None = None
        multiple: Decimal | None = None
        exceeding_hours: int | None = None
        if lim is not None and lim.period == "day":
            value = value_to_judge(lim, mean, converted)
            if valid and value is not None:
                verdict = judge(value, lim)
                compliant = not verdict.exceeds
                multiple = Decimal(0) if compliant else verdict.multiple
        elif lim is not None:
            hours = conn.execute(
                "SELECT mean, converted FROM hourly_means WHERE outlet_id = %s AND pollutant = %s"
                " AND hour_start >= %s AND hour_start < %s AND valid",
                (outlet_id, pollutant, start, end),
            ).fetchall()
            values = [v for v in (value_to_judge(lim, m, c) for m, c in hours) if v is not None]
            if values:
                over = [j for j in (judge(v, lim) for v in values) if j.exceeds]
                exceeding_hours = len(over)
                compliant = not over
                multiples = [j.multiple for j in over if j.multiple is not None]
                multiple = max(multiples) if multiples else None if over else Decimal(0)
        items.append(
            DailyPollutant(
                pollutant=pollutant,
                name_zh=zh,
                name_en=en,
                unit=lim.unit if lim else unit,
                mean=q(mean),
                converted=q(converted),
                reference_o2=lim.reference_o2 if lim else None,
                valid=valid,
                valid_hours=valid_count,
                expected_hours=expected,
                limit=lim.value if lim else None,
                limit_min=lim.value_min if lim else None,
                limit_period=lim.period if lim else None,
                limit_source=lim.source_document if lim else None,
                compliant=compliant,
                exceeding_hours=exceeding_hours,
                exceedance_multiple=q(multiple),
            )
        )
    summary = DailySummary(
        enterprise_id=enterprise_id,
        outlet_id=outlet_id,
        outlet_code=code,
        outlet_name_zh=name_zh,
        outlet_name_en=name_en,
        outlet_kind=kind,
        day=day,
        pollutants=tuple(items),
    )
    return summary, end, int(enterprise_id)


def publish_daily(conn: psycopg.Connection[Any], outlet_id: int, day: date) -> AutoResult | None:
    built = daily_content(conn, outlet_id, day)
    if built is None:
        return None
    summary, formed, enterprise_id = built
    return publish_automatic(
        conn,
        record_type="daily_summary",
        record_key=f"daily_summary:{outlet_id}:{day.isoformat()}",
        content=summary.model_dump(mode="json"),
        formed_at=formed,
        enterprise_id=enterprise_id,
        outlet_id=outlet_id,
        source_ref=f"daily_means:{outlet_id}:{day.isoformat()}",
    )
