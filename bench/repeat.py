"""Repeated, interleaved measurements: a figure and its ceiling measured in alternation, k
times, each side summed up by its median, with the spread kept so that a reader can judge it.

On a machine shared with other work the same code moves by a third from one run to the next; a
single run of each side (or the ceiling once and ours once, minutes apart) gives a ratio, and a
verdict, that flips with the moment's load. Alternating the sides puts the same load on both,
and the median of k runs is a figure a second run reproduces more closely than any single run.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


def round_order(sides: Sequence[T], i: int) -> list[T]:
    """The sides in the order round ``i`` runs them: as given, reversed every other round
    (A B C, C B A, A B C …), so that no side always runs first, or right after another
    particular one."""
    return list(sides) if i % 2 == 0 else list(reversed(sides))


def rounds(sides: Sequence[T], k: int) -> Iterator[tuple[int, T]]:
    """``(round, side)`` for ``k`` rounds of every side, in :func:`round_order`."""
    for i in range(k):
        for side in round_order(sides, i):
            yield i, side


@dataclass(frozen=True)
class Runs:
    """One side's figures, one per round, in round order (a rate: higher is better, or a
    time: it depends on the caller; this class only summarises)."""

    values: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def low(self) -> float:
        return min(self.values)

    @property
    def high(self) -> float:
        return max(self.values)

    def __len__(self) -> int:
        return len(self.values)

    def median_index(self) -> int:
        """The round whose figure is the median (the lower middle one for an even count)."""
        order = sorted(range(len(self.values)), key=self.values.__getitem__)
        return order[(len(order) - 1) // 2]

    def describe(self, fmt: Callable[[float], str]) -> str:
        """``median 1,234 (5 runs: 1,100–1,300)``; a single run is given alone."""
        if len(self.values) == 1:
            return fmt(self.values[0])
        return (
            f"median {fmt(self.median)} ({len(self.values)} runs: {fmt(self.low)}–{fmt(self.high)})"
        )


def pair_ratios(ours: Runs, ceiling: Runs) -> tuple[float, ...]:
    """Ours over the ceiling, round by round (the two measured side by side in each round)."""
    if len(ours) != len(ceiling):
        raise ValueError(f"{len(ours)} runs of ours against {len(ceiling)} of the ceiling")
    return tuple(o / c for o, c in zip(ours.values, ceiling.values, strict=True) if c)
