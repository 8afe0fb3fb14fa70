"""A year of transmission and validity rates per outlet, for the annual report: the headline
rates (:mod:`schemas.completeness.rates`) of the year's quarters, added up."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import psycopg

from schemas.completeness.rates import Rate, rates, ratio

__all__ = ["OutletYear", "year_rates"]

_OUTLETS = """
SELECT o.id, o.code, o.name_zh, o.name_en, e.id, e.name_zh, e.name_en
FROM outlets o JOIN enterprises e ON e.id = o.enterprise_id
WHERE EXISTS (SELECT 1 FROM completeness c WHERE c.outlet_id = o.id AND c.hour_start < %s)
ORDER BY e.id, o.id
"""


@dataclass(frozen=True, slots=True)
class OutletYear:
    """One outlet's year: its headline counts and rates."""

    outlet_id: int
    outlet_code: str | None
    outlet_name_zh: str
    outlet_name_en: str | None
    enterprise_id: int
    enterprise_name_zh: str
    enterprise_name_en: str | None
    kind: str  # the data kind the headline counts
    expected: int
    received: int
    valid: int
    target: Decimal
    rules_confirmed: bool

    @property
    def transmission_rate(self) -> Decimal | None:
        return ratio(self.received, self.expected)

    @property
    def validity_rate(self) -> Decimal | None:
        return ratio(self.valid, self.received)

    @property
    def transmission_validity_rate(self) -> Decimal | None:
        return ratio(self.valid, self.expected)

    @property
    def meets_target(self) -> bool | None:
        rate = self.transmission_validity_rate
        return None if rate is None else rate >= self.target


def year_rates(conn: psycopg.Connection[Any], year: int, now: datetime) -> list[OutletYear]:
    """Every outlet that has reported before the end of ``year``, with its headline rates
    over the year (up to ``now`` for the current year). One rates query per outlet."""
    first, last = date(year, 1, 1), date(year, 12, 31)
    end = datetime(year + 1, 1, 1, tzinfo=now.tzinfo)
    out: list[OutletYear] = []
    for oid, code, name_zh, name_en, eid, e_zh, e_en in conn.execute(_OUTLETS, (end,)).fetchall():
        headline: list[Rate] = [
            r for r in rates(conn, oid, "quarter", first, last, now=now) if r.headline
        ]
        if not headline:
            continue
        out.append(
            OutletYear(
                outlet_id=oid,
                outlet_code=code,
                outlet_name_zh=name_zh,
                outlet_name_en=name_en,
                enterprise_id=eid,
                enterprise_name_zh=e_zh,
                enterprise_name_en=e_en,
                kind=headline[0].kind,
                expected=sum(r.expected for r in headline),
                received=sum(r.received for r in headline),
                valid=sum(r.valid for r in headline),
                target=headline[0].target,
                rules_confirmed=headline[0].rules_confirmed,
            )
        )
    return out
