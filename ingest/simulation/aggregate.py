"""Interval data (CN 2051 minute, 2061 hour) computed from the published real-time values.

Min/Avg/Max are over every real-time value of the minute as published (so a receiver can check
Avg against the 2011 frames it got); the hour is over the minute values (:func:`hour_values`).
Cou is the amount over the interval: flow Avg × covered seconds (m³; L/s ÷ 1000 for water), and
for pollutants the concentration Avg × that volume (kg: mg/m³ × m³ × 10⁻⁶ for gas, mg/L × m³ × 10⁻³ for water;
HJ 212-2017 Appendix D.1, D.2.5). Flags follow the notes to Tables C.16-C.18 (the interval rule of
``pattern_rules.csv``): flue gas is abnormal when more than 25 % of the values are; wastewater as
soon as one value is. An abnormal interval takes the most frequent abnormal flag.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from schemas.codes.pattern_rules import interval_rule

from .signals import Factor, Reading, quantize

__all__ = ["Interval", "combine_flags", "hour_values", "minute_values"]

_COU_DECIMALS = {"volume": 2, "mass": 6}
_KG_PER = {"gas": Decimal("1E-6"), "water": Decimal("1E-3")}  # per (concentration unit × m³)
_M3_PER = {"gas": Decimal(1), "water": Decimal("1E-3")}  # per (flow unit × s)


@dataclass(frozen=True, slots=True)
class Interval:
    """One factor over one interval."""

    min: Decimal
    avg: Decimal
    max: Decimal
    zs: tuple[Decimal, Decimal, Decimal] | None  # ZsMin, ZsAvg, ZsMax
    cou: Decimal | None
    flag: str

    def fields(self) -> dict[str, str]:
        """HJ 212 field names and values, in the order of the standard's examples."""
        out = {"Min": str(self.min), "Avg": str(self.avg), "Max": str(self.max)}
        if self.zs is not None:
            out |= {"ZsMin": str(self.zs[0]), "ZsAvg": str(self.zs[1]), "ZsMax": str(self.zs[2])}
        if self.cou is not None:
            out["Cou"] = str(self.cou)
        out["Flag"] = self.flag
        return out


def combine_flags(flags: Sequence[str], kind: str) -> str:
    abnormal = Counter(f for f in flags if f != "N")
    if not interval_rule().abnormal(abnormal.total(), len(flags), kind):
        return "N"
    return abnormal.most_common(1)[0][0]


def _mean(values: Sequence[Decimal], decimals: int) -> Decimal:
    return quantize(sum(values, Decimal(0)) / len(values), decimals)


def _cou(
    factors: Sequence[Factor], kind: str, avgs: dict[str, Decimal], seconds: Decimal
) -> dict[str, Decimal]:
    """Cou per factor from the interval averages over ``seconds``."""
    volume = Decimal(0)
    for f in factors:
        if f.cou == "volume":
            volume = quantize(avgs[f.code] * seconds * _M3_PER[kind], _COU_DECIMALS["volume"])
    out: dict[str, Decimal] = {}
    for f in factors:
        if f.cou == "volume":
            out[f.code] = volume
        elif f.cou == "mass":
            out[f.code] = quantize(avgs[f.code] * volume * _KG_PER[kind], _COU_DECIMALS["mass"])
    return out


def minute_values(
    factors: Sequence[Factor], kind: str, samples: Sequence[dict[str, Reading]], interval_s: float
) -> dict[str, Interval]:
    """The 2051 values of a minute from its (non-empty) real-time readings."""
    avgs = {f.code: _mean([s[f.code].value for s in samples], f.decimals) for f in factors}
    cous = _cou(factors, kind, avgs, Decimal(repr(interval_s)) * len(samples))
    out: dict[str, Interval] = {}
    for f in factors:
        readings = [s[f.code] for s in samples]
        values = [r.value for r in readings]
        zs = None
        if f.converted:
            zvs = [r.zs for r in readings if r.zs is not None]
            zs = (min(zvs), _mean(zvs, f.decimals), max(zvs))
        flag = combine_flags([r.flag for r in readings], kind)
        out[f.code] = Interval(min(values), avgs[f.code], max(values), zs, cous.get(f.code), flag)
    return out


def hour_values(
    factors: Sequence[Factor], kind: str, minutes: Sequence[dict[str, Interval]]
) -> dict[str, Interval]:
    """The 2061 values of an hour from its (non-empty) minute values.

    A normal hour is computed from its normal minutes only (calibration, maintenance and fault
    minutes are not valid data, HJ 75-2017); an abnormal hour from all of them.
    """
    out: dict[str, Interval] = {}
    for f in factors:
        flag = combine_flags([m[f.code].flag for m in minutes], kind)
        ms = [m[f.code] for m in minutes if flag != "N" or m[f.code].flag == "N"]
        zs = None
        if f.converted:
            zvs = [m.zs for m in ms if m.zs is not None]
            zs = (
                min(z[0] for z in zvs),
                _mean([z[1] for z in zvs], f.decimals),
                max(z[2] for z in zvs),
            )
        cou = None if f.cou is None else sum((m.cou or Decimal(0) for m in ms), Decimal(0))
        out[f.code] = Interval(
            min(m.min for m in ms),
            _mean([m.avg for m in ms], f.decimals),
            max(m.max for m in ms),
            zs,
            cou,
            flag,
        )
    return out
