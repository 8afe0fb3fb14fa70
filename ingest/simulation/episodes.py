"""What goes wrong, and when: exceedance episodes, outages, maintenance, calibration, faults.

Each outlet gets its own episodes per local (Asia/Shanghai) day, drawn from a generator seeded by
(seed, MN, day), so the schedule of any day is known without generating the days before it.
Episodes start and end on whole minutes, so every real-time value of a minute shares the same
conditions and the minute's flag is unambiguous. The expected number of episodes of each kind
per outlet per day is the configured rate: ``floor(rate)`` plus one more with probability
``rate - floor(rate)``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import lru_cache

from .noise import key
from .timebase import DAY_MS, MINUTE_MS, from_ms, local_day, to_ms

__all__ = [
    "CALIBRATION_GROUPS",
    "EXCEEDABLE",
    "Episode",
    "EpisodeKind",
    "EpisodeRates",
    "active_episodes",
    "day_episodes",
    "episodes_between",
    "outlet_key",
]


class EpisodeKind(StrEnum):
    EXCEEDANCE = "exceedance"  # the process emits above the limit; data are valid (Flag=N)
    OUTAGE = "outage"  # the data logger is silent
    MAINTENANCE = "maintenance"  # every factor flagged M
    CALIBRATION = "calibration"  # one analyser reads zero gas, then span gas; flagged C
    FAULT = "fault"  # one factor stuck at a value; flagged D


# The factors an exceedance episode pushes above the limit (COD twice as likely as NH3-N).
EXCEEDABLE = {"gas": ("a21026", "a21002", "a34013"), "water": ("w01018", "w01018", "w21003")}
# The factors one analyser measures: calibrated together.
CALIBRATION_GROUPS = {
    "gas": (("a21026", "a21002"), ("a34013",)),
    "water": (("w01018",), ("w21003",), ("w21011", "w21001")),
}
_FAULTY = {
    "gas": ("a21026", "a21002", "a34013", "a19001", "a00000", "a01012", "a01011"),
    "water": ("w01018", "w21003", "w21011", "w21001", "w01001", "w00000"),
}
# Duration ranges in minutes.
_MINUTES = {
    EpisodeKind.EXCEEDANCE: (90, 240),
    EpisodeKind.OUTAGE: (20, 180),
    EpisodeKind.MAINTENANCE: (30, 120),
    EpisodeKind.CALIBRATION: (16, 30),
    EpisodeKind.FAULT: (10, 120),
}


@dataclass(frozen=True, slots=True)
class EpisodeRates:
    """Expected episodes per outlet per day, by kind."""

    exceedance: float = 0.25
    outage: float = 0.1
    maintenance: float = 0.1
    calibration: float = 1.0
    fault: float = 0.1

    def of(self, kind: EpisodeKind) -> float:
        rate: float = getattr(self, kind.value)
        return rate


@dataclass(frozen=True, slots=True)
class Episode:
    """One episode of one outlet; ``factors`` is empty when it concerns the whole outlet."""

    kind: EpisodeKind
    start_ms: int  # Unix epoch milliseconds, on a whole minute
    end_ms: int  # exclusive
    factors: tuple[str, ...] = ()
    level: float = 0.0  # exceedance: the multiple of the limit reached at the plateau

    @property
    def start(self) -> datetime:
        return from_ms(self.start_ms)

    @property
    def end(self) -> datetime:
        return from_ms(self.end_ms)

    @property
    def tag(self) -> str:
        """How the episode shows in ``SimMessage.note``: ``kind`` or ``kind:code+code``."""
        return f"{self.kind}:{'+'.join(self.factors)}" if self.factors else str(self.kind)

    def covers(self, t_ms: int) -> bool:
        return self.start_ms <= t_ms < self.end_ms


def outlet_key(seed: int, mn: str) -> int:
    return key("sourcewatch.simulation.outlet", seed, mn)


@lru_cache(maxsize=8192)
def _day_episodes(okey: int, kind: str, day: int, rates: EpisodeRates) -> tuple[Episode, ...]:
    rng = random.Random(key("episodes", okey, day))
    day_start = day * DAY_MS - 8 * 3600 * 1000  # local midnight (UTC+8, no DST since 1991)
    episodes: list[Episode] = []
    for ek in EpisodeKind:
        rate = rates.of(ek)
        count = int(rate) + (rng.random() < rate - int(rate))
        for _ in range(count):
            start = day_start + rng.randrange(24 * 60) * MINUTE_MS
            end = start + rng.randint(*_MINUTES[ek]) * MINUTE_MS
            factors: tuple[str, ...] = ()
            level = 0.0
            if ek is EpisodeKind.EXCEEDANCE:
                factors, level = (rng.choice(EXCEEDABLE[kind]),), rng.uniform(1.3, 2.2)
            elif ek is EpisodeKind.CALIBRATION:
                factors = rng.choice(CALIBRATION_GROUPS[kind])
            elif ek is EpisodeKind.FAULT:
                factors = (rng.choice(_FAULTY[kind]),)
            episodes.append(Episode(ek, start, end, factors, level))
    return tuple(sorted(episodes, key=lambda e: (e.start_ms, e.kind)))


def day_episodes(okey: int, kind: str, day: int, rates: EpisodeRates) -> tuple[Episode, ...]:
    """The episodes that start on local day ``day`` (days since 1970-01-01, Asia/Shanghai)."""
    return _day_episodes(okey, kind, day, rates)


def active_episodes(okey: int, kind: str, t_ms: int, rates: EpisodeRates) -> list[Episode]:
    """The episodes covering instant ``t_ms`` (none lasts longer than a day)."""
    day = local_day(t_ms)
    found = [e for e in day_episodes(okey, kind, day - 1, rates) if e.covers(t_ms)]
    found += [e for e in day_episodes(okey, kind, day, rates) if e.covers(t_ms)]
    return found


def episodes_between(
    seed: int, mn: str, kind: str, start: datetime, end: datetime, rates: EpisodeRates
) -> list[Episode]:
    """Every episode of outlet ``mn`` that overlaps [start, end): the simulator's ground truth."""
    start_ms, end_ms = to_ms(start), to_ms(end)
    okey = outlet_key(seed, mn)
    found: list[Episode] = []
    for day in range(local_day(start_ms) - 1, local_day(end_ms - 1) + 1):
        found += [
            e
            for e in day_episodes(okey, kind, day, rates)
            if e.start_ms < end_ms and e.end_ms > start_ms
        ]
    return found
