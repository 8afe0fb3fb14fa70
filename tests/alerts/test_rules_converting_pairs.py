"""The 折算 of an hour of pairs (Converting pairs in alerts/rules.py): read as
:class:`~alerts.rules.Exact` columns, the hour gives the very means (converted, O₂ mean and all
the others) that the same samples give as a plain list, where each value's Decimal is converted
by the formula: every field, coefficient and exponent. O₂ varying, missing or invalid on other
minutes than the pollutant's, at or above o2_max and 21, negative and zero values, scales 0 to
18, awkward limits and contexts."""

from __future__ import annotations

import decimal
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import cast

import pytest

from alerts.rules import Exact, Sample, SampleColumns, epoch_micros, hourly_mean
from schemas.limits.rules import ValidityRules

HOUR = datetime(2026, 11, 22, 3, tzinfo=UTC)
FLAGS = ["N", "N", "N", "N", "N", "N", "D", "C", None]


def _rules(o2_max: str) -> ValidityRules:
    return ValidityRules(
        medium="gas",
        hour_min_valid_minutes=45,
        day_min_valid_hours=20,
        o2_max_for_conversion=Decimal(o2_max),
        zs_mismatch_tolerance_pct=Decimal(2),
    )


def _series(
    rng: random.Random, minutes: list[int], scale: int, low: int, high: int
) -> list[Sample]:
    return [
        Sample(
            HOUR + timedelta(minutes=m),
            Decimal(rng.randint(low, high)).scaleb(-scale),
            None,
            rng.choice(FLAGS),
        )
        for m in minutes
    ]


def _columns(samples: list[Sample], scale: int) -> SampleColumns:
    micros = [epoch_micros(s.ts) for s in samples]
    every = micros == list(range(micros[0], micros[0] + len(micros) * 60_000_000, 60_000_000))
    return SampleColumns(
        None,
        None,
        [None] * len(samples),
        [s.flag for s in samples],
        # as the evaluator reads a series of every minute: a range
        micros=range(micros[0], micros[-1] + 1, 60_000_000) if every else micros,
        value_exact=Exact([int(cast("Decimal", s.value).scaleb(scale)) for s in samples], scale),
    )


def _fields(r: object) -> list[object]:
    return [
        (str(v), v.as_tuple()) if isinstance(v, Decimal) else v
        for v in (getattr(r, f) for f in r.__slots__)  # type: ignore[attr-defined]
    ]


@pytest.mark.parametrize(
    "context",
    [
        decimal.Context(),
        decimal.Context(prec=40, rounding=decimal.ROUND_HALF_UP),
        decimal.Context(prec=28, rounding=decimal.ROUND_DOWN),
        decimal.Context(prec=6, rounding=decimal.ROUND_HALF_EVEN),
        decimal.Context(prec=30, rounding=decimal.ROUND_FLOOR),
    ],
    ids=["default", "40 half-up", "28 down", "6 digits", "30 floor"],
)
@pytest.mark.parametrize("seed", range(12))
def test_an_hour_of_pairs_converts_as_its_samples_do(context: decimal.Context, seed: int) -> None:
    rng = random.Random(seed)
    s, t = rng.choice([3, 2, 0, 1, 18]), rng.choice([2, 1, 0, 3, 16])
    every = list(range(60))
    pollutant_minutes = every if seed % 3 else sorted(rng.sample(every, 55))
    o2_minutes = every if seed % 4 else sorted(rng.sample(every, 50))
    magnitude = 10 ** min(s + 2, 17)
    pollutant = _series(rng, pollutant_minutes, s, -magnitude // 10, magnitude)
    if seed % 5 == 0:
        pollutant[3] = pollutant[3]._replace(value=Decimal(0).scaleb(-s), flag="N")
    # O₂ around o2_max and 21 (and some negative ones), in scale t
    o2 = _series(rng, o2_minutes, t, -(10**t), 22 * 10**t)
    for o2_max in ("19", "21", "25", "19.995", "20.0001", "-1E+30", "0"):
        for o2_ref in ("6", "3.5", "11", "-1", "1E+1", "6.000"):
            results = []
            for p, ox in ((pollutant, o2), (_columns(pollutant, s), _columns(o2, t))):
                memo: dict = {}  # type: ignore[type-arg]
                with decimal.localcontext(context):
                    results.append(
                        [
                            _fields(
                                hourly_mean(
                                    p,
                                    ox,
                                    hour_start=HOUR,
                                    source="min",
                                    o2_ref=Decimal(o2_ref),
                                    rules=_rules(o2_max),
                                    valid_flags=frozenset({"N"}),
                                    memo=memo,
                                )
                            ),
                            _fields(
                                hourly_mean(
                                    ox,
                                    ox,
                                    hour_start=HOUR,
                                    source="min",
                                    o2_ref=None,
                                    rules=_rules(o2_max),
                                    valid_flags=frozenset({"N"}),
                                    memo=memo,
                                )
                            ),
                        ]
                    )
            assert results[1] == results[0], (o2_max, o2_ref)


def test_the_o2_of_the_minutes_is_found_whatever_minutes_either_misses() -> None:
    """Every minute valid in both series, and only those, is converted: the same minutes of
    which some are invalid in either, and minutes missing from either."""
    rng = random.Random(7)
    for case in range(40):
        pollutant_minutes = sorted(rng.sample(range(60), rng.randint(45, 60)))
        o2_minutes = sorted(rng.sample(range(60), rng.randint(1, 60)))
        pollutant = _series(rng, pollutant_minutes, 3, 20_000, 45_000)
        o2 = _series(rng, o2_minutes, 2, 300, 2_000)
        got = []
        for p, ox in ((pollutant, o2), (_columns(pollutant, 3), _columns(o2, 2))):
            got.append(
                _fields(
                    hourly_mean(
                        p, ox, hour_start=HOUR, source="min", o2_ref=Decimal(6), rules=_rules("19")
                    )
                )
            )
        assert got[1] == got[0], case
