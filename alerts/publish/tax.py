"""tax_estimate records (环境保护税估算): per enterprise and local month, from the same masses
as the emission totals (:mod:`alerts.publish.totals`).

环境保护税法: equivalents = emission (kg) / pollution equivalent value (附表二); per outlet the
pollutants are ranked by equivalents within their group and the first three (air, other
water pollutants) or five (first-class water pollutants) are taxed; of COD, BOD5 and TOC only
the largest is taxed; tax = equivalents × the rate (yuan per equivalent) of the region. Art.
13 reduction: a monthly mean concentration at least 30 % (50 %) below the limit is taxed at
75 % (50 %), provided no valid hourly (air) or daily (water) mean of the month exceeded it.

Approximate, and said so in the record: masses from online data without substitution of
missing hours; the monthly mean is the arithmetic mean of valid hourly means (converted to
reference O₂ when the limit has one); 烟尘 is used for particulates (一般性粉尘 not told
apart); pH, colour and coliforms (taxed per tonne of water) are not estimated. Official
amounts are staff's ``fee_record`` records.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg import sql

from alerts.publish._util import q
from alerts.publish.totals import MonthPeriod, OutletMass, month_masses, publish_monthly
from schemas.disclosure.auto_types import TaxEstimate, TaxItem
from schemas.disclosure.automatic import AutoResult
from schemas.disclosure.tax_tables import Equivalent, pollution_equivalents, region_of, tax_rate
from schemas.limits.judgement import judge
from schemas.limits.rules import Limit, limits_for_outlet

__all__ = ["TOP_N", "publish_tax", "reduction_factor", "tax_content"]

TOP_N = {"air": 3, "water-1": 5, "water-2": 3}  # 环境保护税法 第九条
METHOD_ZH = (
    "污染当量数 = 排放量（千克）÷ 污染当量值；每一排放口按污染当量数从大到小排序，大气污染物与"
    "第二类水污染物计前三项、第一类水污染物计前五项（化学需氧量、生化需氧量、总有机碳只计一项）；"
    "税额 = 污染当量数 × 适用税额 × 减征系数（月均浓度低于排放标准30%减按75%、低于50%减按50%，"
    "且当月无超标均值）。排放量由自动监测流量与浓度估算，缺失小时未补遗。"
)
METHOD_EN = (
    "Equivalents = emissions (kg) / pollution equivalent value; per outlet, ranked by"
    " equivalents, the top three air and other water pollutants and the top five first-class"
    " water pollutants are taxed (only one of COD, BOD5 and TOC); tax = equivalents × rate ×"
    " reduction factor (75 % when the monthly mean is at least 30 % below the limit, 50 % when"
    " at least 50 % below, if no mean of the month exceeded it). Emissions are estimated from"
    " online flow and concentration without substituting missing hours."
)


def reduction_factor(below: Decimal | None, exceeded: bool) -> Decimal:
    """环境保护税法 第十三条: 75 % at ≥ 30 % below the limit, 50 % at ≥ 50 % below."""
    if below is None or exceeded:
        return Decimal(1)
    if below >= Decimal("0.5"):
        return Decimal("0.5")
    if below >= Decimal("0.3"):
        return Decimal("0.75")
    return Decimal(1)


def _limit_for(limits: list[Limit], pollutant: str, kind: str) -> Limit | None:
    by_period = {lim.period: lim for lim in limits if lim.pollutant == pollutant}
    preferred = ("hour", "day") if kind == "gas" else ("day", "hour")
    return next((by_period[p] for p in preferred if p in by_period), None)


def _concentration(
    conn: psycopg.Connection[Any], mass: OutletMass, lim: Limit | None, period: MonthPeriod
) -> tuple[Decimal | None, bool]:
    """The month's mean concentration on the limit's basis, and whether a valid mean of the
    limit's period exceeded the limit during the month."""
    column = sql.Identifier(
        "converted" if lim is not None and lim.reference_o2 is not None else "mean"
    )
    row = conn.execute(
        sql.SQL(
            "SELECT avg({}) FROM hourly_means WHERE outlet_id = %s AND pollutant = %s"
            " AND hour_start >= %s AND hour_start < %s AND valid"
        ).format(column),
        (mass.outlet_id, mass.pollutant, period.start, period.cutoff),
    ).fetchone()
    mean = row[0] if row else None
    if lim is None:
        return mean, False
    if lim.period == "hour":
        values = conn.execute(
            sql.SQL(
                "SELECT {} FROM hourly_means WHERE outlet_id = %s AND pollutant = %s"
                " AND hour_start >= %s AND hour_start < %s AND valid"
            ).format(column),
            (mass.outlet_id, mass.pollutant, period.start, period.cutoff),
        ).fetchall()
    else:
        values = conn.execute(
            sql.SQL(
                "SELECT {} FROM daily_means WHERE outlet_id = %s AND pollutant = %s"
                " AND day >= %s AND day <= %s AND valid"
            ).format(column),
            (mass.outlet_id, mass.pollutant, date(period.year, period.month, 1), period.through),
        ).fetchall()
    exceeded = any(v is not None and judge(v, lim).exceeds for (v,) in values)
    return mean, exceeded


def _rank(rows: list[tuple[OutletMass, Equivalent, Decimal]]) -> dict[int, tuple[int, bool]]:
    """Rank and taxed flag per row index, per outlet and group (one of COD/BOD5/TOC)."""
    out: dict[int, tuple[int, bool]] = {}
    groups: dict[tuple[int, str], list[int]] = defaultdict(list)
    best: dict[tuple[int, str], int] = {}
    for i, (mass, eq, equivalents) in enumerate(rows):
        key = (mass.outlet_id, eq.one_of)
        if key not in best or equivalents > rows[best[key]][2]:
            best[key] = i
    for i, (mass, eq, _) in enumerate(rows):
        if best[(mass.outlet_id, eq.one_of)] == i:
            groups[(mass.outlet_id, eq.tax_group)].append(i)
        else:
            out[i] = (0, False)  # not the largest of COD/BOD5/TOC
    for (_, group), members in groups.items():
        members.sort(key=lambda i: (-rows[i][2], rows[i][0].pollutant))
        for rank, i in enumerate(members, start=1):
            out[i] = (rank, rank <= TOP_N[group] and rows[i][2] > 0)
    return out


def tax_content(
    conn: psycopg.Connection[Any], enterprise_id: int, period: MonthPeriod, tz: ZoneInfo
) -> TaxEstimate | None:
    equivalents = pollution_equivalents(conn, period.through)
    masses = [
        m
        for m in month_masses(conn, enterprise_id, period.start, period.cutoff)
        if m.pollutant in equivalents and equivalents[m.pollutant].medium == m.kind
    ]
    if not masses:
        return None
    district = conn.execute(
        "SELECT district FROM enterprises WHERE id = %s", (enterprise_id,)
    ).fetchone()
    region = region_of(conn, district[0] if district else None)
    rows = [
        (m, equivalents[m.pollutant], q(m.kg / equivalents[m.pollutant].value) or Decimal(0))
        for m in masses
    ]
    ranks = _rank(rows)
    limits: dict[int, list[Limit]] = {}
    items = []
    region_name = ""
    total = Decimal(0)
    for i, (mass, eq, eqs) in enumerate(rows):
        if mass.outlet_id not in limits:
            limits[mass.outlet_id] = limits_for_outlet(conn, mass.outlet_id, period.through)
        lim = _limit_for(limits[mass.outlet_id], mass.pollutant, mass.kind)
        mean, exceeded = _concentration(conn, mass, lim, period)
        below = None
        if lim is not None and mean is not None and lim.value > 0:
            below = q((lim.value - mean) / lim.value, "0.0001")
        factor = reduction_factor(below, exceeded)
        rate = tax_rate(conn, region, mass.kind, mass.pollutant, period.through)
        region_name = rate.region_name_zh
        rank, taxed = ranks[i]
        tax = q(eqs * rate.value * factor, "0.01") if taxed else Decimal("0.00")
        assert tax is not None
        total += tax
        items.append(
            TaxItem(
                outlet_id=mass.outlet_id,
                outlet_code=mass.outlet_code,
                outlet_name_zh=mass.outlet_name_zh,
                pollutant=mass.pollutant,
                item_zh=eq.item_zh,
                item_en=eq.item_en,
                tax_group=eq.tax_group,
                emission_kg=q(mass.kg),
                equivalent_kg=eq.value,
                equivalents=eqs,
                rank=rank,
                taxed=taxed,
                rate_yuan=rate.value,
                monthly_mean=q(mean),
                limit=lim.value if lim else None,
                below_limit=below,
                reduction_factor=factor,
                tax_yuan=tax,
            )
        )
    return TaxEstimate(
        enterprise_id=enterprise_id,
        year=period.year,
        month=period.month,
        through=period.through,
        complete=period.complete,
        region=region,
        region_name_zh=region_name,
        items=tuple(items),
        total_yuan=q(total, "0.01"),
        method_note_zh=METHOD_ZH,
        method_note_en=METHOD_EN,
    )


def publish_tax(
    conn: psycopg.Connection[Any], enterprise_id: int, period: MonthPeriod, tz: ZoneInfo
) -> AutoResult | None:
    content = tax_content(conn, enterprise_id, period, tz)
    return publish_monthly(conn, "tax_estimate", enterprise_id, period, content)
