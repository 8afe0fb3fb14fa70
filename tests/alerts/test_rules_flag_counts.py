"""The samples per flag and the valid samples of a series, found the cheap ways (the first two
flags counted at C speed, the few invalid samples found by ``index``, the Zs values' absence by
counting None), give what counting and looking up every flag gives: the same counts in the
order first seen, the same mask, the same answer."""

from __future__ import annotations

import random
from collections import Counter
from decimal import Decimal

import pytest

from alerts.rules import _counted, _no_zs, _valid_mask

VALID = frozenset({"N", "n"})
FLAGS = ["N", "D", "C", "M", "S", "F", "T", "B", None, "n", "NN", ""]


def _series(rng: random.Random, n: int) -> list[str | None]:
    kinds = rng.sample(FLAGS, rng.randint(1, 5))
    main = kinds[0]
    # mostly the first flag, a few others where the hour had them
    return [
        main if rng.random() < rng.choice((0.5, 0.9, 0.98, 1.0)) else rng.choice(kinds)
        for _ in range(n)
    ]


def _first_seen(flags: list[str | None]) -> list[tuple[str | None, int]]:
    return list(Counter(flags).items())  # a Counter keeps the order first seen


@pytest.mark.parametrize("seed", range(40))
def test_counted_and_mask_as_every_flag_gives(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(50):
        flags = _series(rng, rng.choice((0, 1, 2, 30, 59, 60, 61)))
        # flags equal to another's but not the same object (as decoded), now and then
        flags = [f if f is None or rng.random() < 0.7 else "".join(list(f)) for f in flags]
        counts = _counted(flags)
        assert list(counts.items()) == _first_seen(flags)
        assert _valid_mask(flags, counts, VALID) == [f in VALID for f in flags]
        assert _valid_mask(flags, counts, frozenset()) == [False] * len(flags)


def test_two_flags_of_half_each() -> None:
    flags = ["N", "D"] * 30
    assert list(_counted(flags).items()) == [("N", 30), ("D", 30)]
    flags = ["N"] * 30 + ["D"] * 15 + ["C"] * 15
    assert list(_counted(flags).items()) == [("N", 30), ("D", 15), ("C", 15)]
    assert _valid_mask(flags, _counted(flags), VALID) == [True] * 30 + [False] * 30


def test_no_zs() -> None:
    d = Decimal("1.5")
    assert _no_zs([]) and _no_zs([None]) and _no_zs([None] * 60)
    assert not _no_zs([d]) and not _no_zs([None, d]) and not _no_zs([d, None])
    assert not _no_zs([*[None] * 59, d])
