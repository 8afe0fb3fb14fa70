"""emission_totals records (污染物排放总量): per enterprise and local month, emissions computed
from valid hourly means as flow × concentration, month and year to date, against the
permitted annual amount of the latest published ``emission_quota`` record.

Mass of one hour at one outlet: concentration (mg/m³ gas, mg/L water — units read from the
pollutants table) × flow (a00000 m³/s, w00000 L/s per HJ 212-2017 Table B) × 3600 s. Only
hours where both the pollutant's and the flow's hourly means are valid count; missing or
invalid hours add nothing (no substitution as HJ 75 prescribes for missing data), and the
coverage says how many hours counted. Gas concentration is the measured one (not converted
to reference O₂); flow and concentration are assumed to be on the same (standard, dry) basis.

Record key ``emission_totals:<enterprise id>:<YYYY-MM>``. The current month is published
with data through the end of yesterday (so at most one new version a day); formed at the
end of the month once it is complete, else at the cut-off.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from alerts.publish._util import local_midnight, month_bounds, pollutant_names, q
from schemas.disclosure.auto_types import EmissionTotals, TotalsPollutant
from schemas.disclosure.automatic import AutoResult, publish_automatic
from schemas.disclosure.content import RecordContent

__all__ = [
    "FLOW",
    "MonthPeriod",
    "OutletMass",
    "month_masses",
    "month_period",
    "publish_monthly",
    "publish_totals",
    "totals_content",
]

FLOW = {"gas": "a00000", "water": "w00000"}
_MASS_KG = {
    "g": Decimal("1e-3"),
    "mg": Decimal("1e-6"),
    "µg": Decimal("1e-9"),
    "ng": Decimal("1e-12"),
}
_VOLUME_M3 = {"m³": Decimal(1), "L": Decimal("1e-3")}
_TIME_S = {"s": Decimal(1), "min": Decimal(60), "h": Decimal(3600)}
METHOD_ZH = (
    "排放量 = 有效小时均值浓度 × 有效小时均值流量 × 1小时，按月累加；浓度或流量无效、缺失的小时"
    "不计（未按技术规范补遗），数据完整率为计入小时数与应有小时数之比。"
)
METHOD_EN = (
    "Emissions = valid hourly mean concentration × valid hourly mean flow × 1 h, summed over the"
    " month; hours with invalid or missing concentration or flow add nothing (no substitution),"
    " and the coverage is the share of hours that counted."
)


@dataclass(frozen=True, slots=True)
class MonthPeriod:
    year: int
    month: int
    start: datetime  # UTC, start of the local month
    end: datetime  # UTC, end of the local month (exclusive)
    cutoff: datetime  # UTC, data before this count (min(end, start of today))
    through: date  # last local day included
    complete: bool


def month_period(month: date, now: datetime, tz: ZoneInfo) -> MonthPeriod | None:
    """The month holding ``month`` as published at ``now``; None before its first day ends."""
    start, end = month_bounds(month, tz)
    today = local_midnight(now.astimezone(tz).date(), tz)
    cutoff = min(end, today)
    if cutoff <= start:
        return None
    through = (cutoff.astimezone(tz) - timedelta(days=1)).date()
    return MonthPeriod(month.year, month.month, start, end, cutoff, through, cutoff == end)


@dataclass(frozen=True, slots=True)
class OutletMass:
    outlet_id: int
    outlet_code: str | None
    outlet_name_zh: str
    kind: str
    pollutant: str
    kg: Decimal
    valid_hours: int
    hours_present: int  # hours with a mean of the pollutant (valid or not)


def _factor(conc_unit: str | None, flow_unit: str | None) -> Decimal | None:
    """kg per (concentration unit × flow unit × 1 h), or None when the units do not fit."""
    if not conc_unit or not flow_unit or conc_unit.count("/") != 1 or flow_unit.count("/") != 1:
        return None
    mass, conc_volume = conc_unit.split("/")
    flow_volume, per = flow_unit.split("/")
    if mass not in _MASS_KG or conc_volume not in _VOLUME_M3:
        return None
    if flow_volume not in _VOLUME_M3 or per not in _TIME_S:
        return None
    return _MASS_KG[mass] * _VOLUME_M3[flow_volume] / _VOLUME_M3[conc_volume] * 3600 / _TIME_S[per]


def month_masses(
    conn: psycopg.Connection[Any], enterprise_id: int, start: datetime, cutoff: datetime
) -> list[OutletMass]:
    """Mass per outlet and pollutant of the enterprise for hours in [start, cutoff)."""
    units = {code: unit for code, (_, _, unit) in pollutant_names(conn).items()}
    rows = conn.execute(
        """SELECT o.id, o.code, o.name_zh, o.kind, c.pollutant,
                  sum(c.mean * f.mean) FILTER (WHERE c.valid AND f.valid),
                  count(*) FILTER (WHERE c.valid AND f.valid AND c.mean IS NOT NULL
                                   AND f.mean IS NOT NULL),
                  count(*)
           FROM outlets o
           JOIN hourly_means c ON c.outlet_id = o.id
           LEFT JOIN hourly_means f ON f.outlet_id = o.id AND f.hour_start = c.hour_start
                AND f.pollutant = CASE o.kind WHEN 'gas' THEN %(gas)s ELSE %(water)s END
           WHERE o.enterprise_id = %(e)s AND c.hour_start >= %(start)s
             AND c.hour_start < %(cutoff)s AND c.pollutant NOT IN (%(gas)s, %(water)s)
           GROUP BY o.id, o.code, o.name_zh, o.kind, c.pollutant
           ORDER BY o.id, c.pollutant""",
        {
            "gas": FLOW["gas"],
            "water": FLOW["water"],
            "e": enterprise_id,
            "start": start,
            "cutoff": cutoff,
        },
    ).fetchall()
    out = []
    for outlet_id, code, name, kind, pollutant, product, valid_hours, present in rows:
        factor = _factor(units.get(pollutant), units.get(FLOW[kind]))
        if factor is None:
            continue  # not a mass concentration (O₂ %, temperature, pH …)
        kg = (product or Decimal(0)) * factor
        out.append(OutletMass(outlet_id, code, name, kind, pollutant, kg, valid_hours, present))
    return out


def _quotas(
    conn: psycopg.Connection[Any], enterprise_id: int, year: int
) -> dict[str, tuple[Decimal, str | None]]:
    """Permitted tonnes and permit number per pollutant: the latest published quota record."""
    rows = conn.execute(
        "SELECT content FROM disclosure_records WHERE record_type = 'emission_quota'"
        " AND status = 'published' AND enterprise_id = %s AND content->>'year' = %s"
        " ORDER BY published_at DESC, id DESC",
        (enterprise_id, str(year)),
    ).fetchall()
    out: dict[str, tuple[Decimal, str | None]] = {}
    for (content,) in rows:
        code = content.get("pollutant")
        if code and code not in out and content.get("permitted_tonnes") is not None:
            out[code] = (Decimal(str(content["permitted_tonnes"])), content.get("permit_number"))
    return out


def totals_content(
    conn: psycopg.Connection[Any], enterprise_id: int, period: MonthPeriod, tz: ZoneInfo
) -> EmissionTotals | None:
    year_start = local_midnight(date(period.year, 1, 1), tz)
    month = month_masses(conn, enterprise_id, period.start, period.cutoff)
    ytd = month_masses(conn, enterprise_id, year_start, period.cutoff)
    quotas = _quotas(conn, enterprise_id, period.year)
    if not month and not ytd and not quotas:
        return None
    hours = int((period.cutoff - period.start) / timedelta(hours=1))
    kg_month: dict[str, Decimal] = defaultdict(Decimal)
    kg_ytd: dict[str, Decimal] = defaultdict(Decimal)
    valid: dict[str, int] = defaultdict(int)
    outlets: dict[str, int] = defaultdict(int)
    for m in month:
        kg_month[m.pollutant] += m.kg
        valid[m.pollutant] += m.valid_hours
        outlets[m.pollutant] += 1
    for m in ytd:
        kg_ytd[m.pollutant] += m.kg
    names = pollutant_names(conn)
    items = []
    for code in sorted(set(kg_ytd) | set(quotas)):
        permitted, permit = quotas.get(code, (None, None))
        ytd_t = kg_ytd[code] / 1000
        expected = hours * outlets[code]
        zh, en, _ = names.get(code, (code, code, None))
        items.append(
            TotalsPollutant(
                pollutant=code,
                name_zh=zh,
                name_en=en,
                month_tonnes=q(kg_month[code] / 1000, "0.000001"),
                ytd_tonnes=q(ytd_t, "0.000001"),
                permitted_tonnes=permitted,
                permit_number=permit,
                share_of_permit=q(ytd_t / permitted, "0.0001") if permitted else None,
                valid_hours=valid[code],
                expected_hours=expected,
                coverage=q(Decimal(valid[code]) / expected if expected else 0, "0.001"),
            )
        )
    return EmissionTotals(
        enterprise_id=enterprise_id,
        year=period.year,
        month=period.month,
        through=period.through,
        complete=period.complete,
        pollutants=tuple(items),
        method_note_zh=METHOD_ZH,
        method_note_en=METHOD_EN,
    )


def publish_monthly(
    conn: psycopg.Connection[Any],
    record_type: str,
    enterprise_id: int,
    period: MonthPeriod,
    content: RecordContent | None,
) -> AutoResult | None:
    """Publish a monthly record (``<type>:<enterprise>:<YYYY-MM>``); formed at the end of the
    month once it is complete, else at the cut-off. Nothing when there is no content."""
    if content is None:
        return None
    month = f"{period.year}-{period.month:02d}"
    return publish_automatic(
        conn,
        record_type=record_type,
        record_key=f"{record_type}:{enterprise_id}:{month}",
        content=content.model_dump(mode="json"),
        formed_at=period.end if period.complete else period.cutoff,
        enterprise_id=enterprise_id,
        source_ref=f"hourly_means:enterprise {enterprise_id}:{month}",
        reason="recomputed from new or revised data",
    )


def publish_totals(
    conn: psycopg.Connection[Any], enterprise_id: int, period: MonthPeriod, tz: ZoneInfo
) -> AutoResult | None:
    content = totals_content(conn, enterprise_id, period, tz)
    return publish_monthly(conn, "emission_totals", enterprise_id, period, content)
