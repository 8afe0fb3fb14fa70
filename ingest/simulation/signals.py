"""What one outlet's instruments read at one instant: plant behaviour, noise and episodes.

Gas outlets (ST=31) follow a diurnal load cycle; O2 rises as load falls; the pollutant levels
are modelled as converted (折算) concentrations at 6 % O2 and measured as
``C = Zs × (21 − O2) / 15``. Wastewater outlets (ST=32) follow a two-peaked diurnal inflow.
Noise is smooth (autocorrelated) plus a little white noise, all counter-based (``noise.py``).
Values are rounded to their published decimals before anything is derived from them, so
``ZsRtd`` follows exactly from the published ``Rtd`` and O2.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from .episodes import Episode, EpisodeKind, EpisodeRates, active_episodes, outlet_key
from .noise import gauss, key, smooth

__all__ = [
    "FACTORS",
    "LIMITS",
    "REFERENCE_O2",
    "Factor",
    "OutletModel",
    "Reading",
    "converted",
]

REFERENCE_O2 = Decimal(6)  # GB 13223-2011 coal-fired boilers: 基准氧含量 6 %
# The usual limits an exceedance episode crosses: ultra-low emission (超低排放) flue gas,
# mg/m³ at 6 % O2; GB 18918-2002 grade 1A COD and NH3-N, mg/L.
LIMITS = {"a21026": 35.0, "a21002": 50.0, "a34013": 10.0, "w01018": 50.0, "w21003": 5.0}
# What an analyser reads during calibration: (zero check, span check), in the factor's unit.
_CALIBRATION = {
    "a21026": (0.3, 80.0),
    "a21002": (0.5, 120.0),
    "a34013": (0.1, 40.0),
    "w01018": (0.5, 100.0),
    "w21003": (0.02, 10.0),
    "w21011": (0.005, 1.0),
    "w21001": (0.05, 20.0),
}


@dataclass(frozen=True, slots=True)
class Factor:
    code: str
    decimals: int
    cou: str | None = None  # "volume" (flow: m³) or "mass" (pollutant: kg); None: no Cou
    converted: bool = False  # also published as Zs values (O2-converted)


FACTORS: Mapping[str, tuple[Factor, ...]] = {
    "gas": (
        Factor("a21026", 2, "mass", True),  # SO2, mg/m³
        Factor("a21002", 2, "mass", True),  # NOx, mg/m³
        Factor("a34013", 2, "mass", True),  # particulate (烟尘), mg/m³
        Factor("a19001", 2),  # O2, %
        Factor("a00000", 2, "volume"),  # flue-gas flow, m³/s
        Factor("a01012", 1),  # temperature, °C
        Factor("a01011", 2),  # velocity, m/s
        Factor("a01013", 3),  # static pressure, kPa
        Factor("a01014", 2),  # humidity, %
    ),
    "water": (
        Factor("w01018", 1, "mass"),  # COD, mg/L
        Factor("w21003", 3, "mass"),  # NH3-N, mg/L
        Factor("w21011", 3, "mass"),  # TP, mg/L
        Factor("w21001", 2, "mass"),  # TN, mg/L
        Factor("w01001", 2),  # pH
        Factor("w00000", 2, "volume"),  # flow, L/s
    ),
}
# An industrial effluent logger under GB 8978-1996 reports COD, NH3-N and flow: the factors its
# standard limits in the code tables, so that every simulated pollutant is judged.
_MEASURED = {"GB 8978-1996": frozenset({"w01018", "w21003", "w00000"})}
# Power plants and municipal wastewater plants: big flows, low excess O2.
_LARGE = ("煤电节能减排升级与改造行动计划(2014—2020年)", "GB 13223-2011", "GB 18918-2002")
_QUANTUM = {d: Decimal(1).scaleb(-d) for d in range(7)}


@dataclass(frozen=True, slots=True)
class Reading:
    """One factor's real-time value as published: value, converted value, flag."""

    value: Decimal
    zs: Decimal | None
    flag: str


def quantize(value: Decimal, decimals: int) -> Decimal:
    q = value.quantize(_QUANTUM[decimals], ROUND_HALF_UP)
    return q.copy_abs() if q.is_zero() else q


def _decimal(value: float, decimals: int) -> Decimal:
    return quantize(Decimal(repr(value)), decimals)


def converted(c: Decimal, o2: Decimal, decimals: int) -> Decimal:
    """HJ 212 Appendix D / GB 13223-2011: ``C × (21 − O2ref) / (21 − O2)``, O2ref = 6 %."""
    return quantize(c * (21 - REFERENCE_O2) / (21 - o2), decimals)


def _soft_cap(x: float, cap: float) -> float:
    """Leave x alone below 80 % of ``cap``; above, approach ``cap`` without reaching it."""
    knee = 0.8 * cap
    if x <= knee:
        return x
    span = cap - knee
    return cap - span * math.exp(-(x - knee) / span)


def _clamp(x: float, lo: float, hi: float) -> float:
    return max(lo, min(x, hi))


class OutletModel:
    """One outlet of the registry (a dict in registry JSON shape) and its simulated plant."""

    def __init__(self, outlet: Mapping[str, Any], seed: int) -> None:
        self.mn: str = outlet["mn"]
        self.password: str = outlet.get("password") or "123456"
        self.kind: str = outlet["kind"]
        if self.kind not in FACTORS:
            raise ValueError(f"outlet {self.mn}: kind must be 'gas' or 'water', got {self.kind!r}")
        self.st = "31" if self.kind == "gas" else "32"
        measured = _MEASURED.get(outlet.get("emission_standard") or "")
        self.factors = tuple(
            f for f in FACTORS[self.kind] if measured is None or f.code in measured
        )
        self.key = outlet_key(seed, self.mn)
        self._k = {f.code: key(self.key, f.code) for f in FACTORS[self.kind]} | {
            "load": key(self.key, "load")
        }
        large = outlet.get("emission_standard") in _LARGE
        rng = random.Random(self.key)
        self._phase_h = rng.uniform(-2.0, 2.0)
        if self.kind == "gas":
            self._base = {
                "a21026": rng.uniform(0.35, 0.65) * LIMITS["a21026"],
                "a21002": rng.uniform(0.45, 0.70) * LIMITS["a21002"],
                "a34013": rng.uniform(0.25, 0.60) * LIMITS["a34013"],
                "a19001": rng.uniform(5.5, 9.0) if large else rng.uniform(8.0, 13.0),
                "a00000": rng.uniform(120.0, 300.0) if large else rng.uniform(8.0, 40.0),
                "a01012": rng.uniform(45.0, 55.0) if large else rng.uniform(60.0, 140.0),
                "a01013": rng.uniform(-0.6, 0.4),
                "a01014": rng.uniform(9.0, 14.0) if large else rng.uniform(3.0, 9.0),
            }
            self._area = self._base["a00000"] / rng.uniform(14.0, 20.0)  # duct area, m²
        else:
            self._base = {
                "w01018": rng.uniform(15.0, 32.0),
                "w21003": rng.uniform(0.3, 1.8),
                "w21011": rng.uniform(0.10, 0.30),
                "w21001": rng.uniform(5.0, 11.0),
                "w01001": rng.uniform(6.8, 7.6),
                "w00000": rng.uniform(120.0, 600.0) if large else rng.uniform(5.0, 60.0),
            }

    def episodes(self, t_ms: int, rates: EpisodeRates) -> list[Episode]:
        return active_episodes(self.key, self.kind, t_ms, rates)

    def _hour(self, t_ms: int) -> float:
        return ((t_ms / 3_600_000 + 8.0) % 24.0) - self._phase_h

    def _gas(self, t_ms: int, episodes: list[Episode]) -> dict[str, float]:
        t, k, b, h = t_ms / 1000.0, self._k, self._base, self._hour(t_ms)
        load = 0.74 + 0.16 * math.cos(2 * math.pi * (h - 14.0) / 24.0)
        load += 0.06 * smooth(k["load"], t, 10800.0) + 0.03 * smooth(k["load"] + 1, t, 1200.0)
        load = _clamp(load, 0.35, 1.0)
        o2 = b["a19001"] + 2.5 * (0.8 - load) + 0.35 * smooth(k["a19001"], t, 1800.0)
        o2 = _clamp(o2 + 0.08 * gauss(k["a19001"] + 1, t_ms), 2.5, 18.5)
        values = {"a19001": o2}
        for code in ("a21026", "a21002", "a34013"):
            kc = k[code]
            zs = b[code] * (0.85 + 0.2 * load)
            zs *= 1 + 0.12 * smooth(kc, t, 7200.0) + 0.07 * smooth(kc + 1, t, 900.0)
            zs = _soft_cap(zs * (1 + 0.025 * gauss(kc + 2, t_ms)), 0.92 * LIMITS[code])
            values[code] = self._exceed(code, zs, t_ms, episodes) * (21.0 - o2) / 15.0
        flow = b["a00000"] * load * (1 + 0.015 * gauss(k["a00000"], t_ms))
        values["a00000"] = flow
        values["a01011"] = flow / self._area * (1 + 0.01 * gauss(k["a01011"], t_ms))
        values["a01012"] = (
            b["a01012"]
            + 4.0 * (load - 0.75)
            + 0.8 * smooth(k["a01012"], t, 3600.0)
            + 0.15 * gauss(k["a01012"] + 1, t_ms)
        )
        values["a01013"] = (
            b["a01013"]
            + 0.2 * (load - 0.75)
            + 0.05 * smooth(k["a01013"], t, 1200.0)
            + 0.01 * gauss(k["a01013"] + 1, t_ms)
        )
        values["a01014"] = (
            b["a01014"] + 0.6 * smooth(k["a01014"], t, 7200.0) + 0.08 * gauss(k["a01014"], t_ms)
        )
        return values

    def _water(self, t_ms: int, episodes: list[Episode]) -> dict[str, float]:
        t, k, b, h = t_ms / 1000.0, self._k, self._base, self._hour(t_ms)
        inflow = 0.72 + 0.16 * math.sin(2 * math.pi * (h - 8.0) / 24.0)
        inflow += 0.07 * math.sin(4 * math.pi * (h - 9.0) / 24.0)
        inflow += 0.04 * smooth(k["w00000"], t, 3600.0)
        flow = b["w00000"] * inflow * (1 + 0.015 * gauss(k["w00000"] + 1, t_ms))
        kc = k["w01018"]
        cod = 1 + 0.1 * math.sin(2 * math.pi * (h - 13.0) / 24.0)
        cod += 0.15 * smooth(kc, t, 10800.0) + 0.05 * smooth(kc + 1, t, 1800.0)
        cod = _soft_cap(b["w01018"] * (cod + 0.02 * gauss(kc + 2, t_ms)), 0.9 * LIMITS["w01018"])
        kn = k["w21003"]
        nh3 = 1 + 0.25 * smooth(kn, t, 10800.0) + 0.05 * smooth(kn + 1, t, 1800.0)
        nh3 = _soft_cap(b["w21003"] * (nh3 + 0.03 * gauss(kn + 2, t_ms)), 0.9 * LIMITS["w21003"])
        tp = 1 + 0.2 * smooth(k["w21011"], t, 14400.0) + 0.03 * gauss(k["w21011"] + 1, t_ms)
        tn = 1 + 0.15 * smooth(k["w21001"], t, 14400.0) + 0.03 * gauss(k["w21001"] + 1, t_ms)
        ph = 0.15 * smooth(k["w01001"], t, 7200.0) + 0.03 * gauss(k["w01001"] + 1, t_ms)
        return {
            "w01018": self._exceed("w01018", cod, t_ms, episodes),
            "w21003": self._exceed("w21003", nh3, t_ms, episodes),
            "w21011": b["w21011"] * tp,
            "w21001": b["w21001"] * tn,
            "w01001": b["w01001"] + ph,
            "w00000": flow,
        }

    def _exceed(self, code: str, normal: float, t_ms: int, episodes: list[Episode]) -> float:
        """Blend towards ``level × limit`` over an exceedance episode (10-minute ramps)."""
        for e in episodes:
            if e.kind is EpisodeKind.EXCEEDANCE and code in e.factors:
                ramp = min(1.0, (t_ms - e.start_ms) / 600_000, (e.end_ms - t_ms) / 600_000)
                k = self._k[code] + 7
                high = LIMITS[code] * e.level
                high *= 1 + 0.06 * smooth(k, t_ms / 1000.0, 600.0) + 0.02 * gauss(k, t_ms)
                normal += (high - normal) * max(ramp, 0.0)
        return normal

    def _process(self, t_ms: int, episodes: list[Episode]) -> dict[str, float]:
        if self.kind == "gas":
            return self._gas(t_ms, episodes)
        return self._water(t_ms, episodes)

    def sample(self, t_ms: int, episodes: list[Episode]) -> dict[str, Reading]:
        """Every factor's published reading at ``t_ms`` under ``episodes`` (no outage)."""
        raw = self._process(t_ms, episodes)
        flags = dict.fromkeys(raw, "N")
        for e in episodes:
            if e.kind is EpisodeKind.MAINTENANCE:
                flags = dict.fromkeys(raw, "M")
        for e in episodes:
            if e.kind is EpisodeKind.FAULT:  # stuck at the value it read when it failed
                (code,) = e.factors
                raw[code] = self._process(e.start_ms, [])[code]
                flags[code] = "D"
        for e in episodes:
            if e.kind is EpisodeKind.CALIBRATION:
                zero_phase = t_ms < (e.start_ms + e.end_ms) // 2
                for code in e.factors:
                    zero, span = _CALIBRATION[code]
                    raw[code] = zero if zero_phase else span
                    flags[code] = "C"
        values = {f.code: _decimal(raw[f.code], f.decimals) for f in self.factors}
        o2 = values.get("a19001")
        readings: dict[str, Reading] = {}
        for f in self.factors:
            value = values[f.code]
            zs = converted(value, o2, f.decimals) if f.converted and o2 is not None else None
            readings[f.code] = Reading(value, zs, flags[f.code])
        return readings
