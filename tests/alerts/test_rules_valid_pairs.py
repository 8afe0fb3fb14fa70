"""An hour of pairs with some invalid minutes, read as :class:`~alerts.rules.Exact` columns
(its valid values kept as pairs: Summing pairs), gives the very means and spreads that the
same samples give as a plain list (each minute's Decimal, 0 + v, the Decimals added): every
field, coefficient and exponent. One scale and several, with and without Zs values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from alerts.patterns import hour_spreads
from alerts.rules import Exact, Sample, SampleColumns, epoch_micros, hourly_mean
from schemas.limits.rules import ValidityRules

HOUR = datetime(2026, 11, 22, 3, tzinfo=UTC)
GAS = ValidityRules(
    medium="gas",
    hour_min_valid_minutes=45,
    day_min_valid_hours=20,
    o2_max_for_conversion=Decimal(19),
    zs_mismatch_tolerance_pct=Decimal(2),
)
VALID = frozenset({"N"})


def _samples(seed: int, scales: list[int], invalid: set[int], zs: bool) -> list[Sample]:
    out = []
    for m in range(60):
        s = scales[m % len(scales)]
        mantissa = (seed * 7_919 + m * 1_237) % 25_000 + 20 * 10**s
        value = Decimal(f"{mantissa}E-{s}")
        z = Decimal(f"{mantissa * 13 // 10}E-{s}") if zs else None
        flag = "D" if m in invalid else "N"
        out.append(Sample(HOUR + timedelta(minutes=m), value, z, flag))
    return out


def _columns(samples: list[Sample]) -> SampleColumns:
    def exact(values: list[Decimal | None]) -> Exact | None:
        if any(v is None for v in values):
            return None
        scales = [-int(v.as_tuple().exponent) for v in values if v is not None]
        ms = [int(v.scaleb(s)) for v, s in zip(values, scales, strict=True) if v is not None]
        return Exact(ms, scales[0] if len(set(scales)) == 1 else scales)

    value, zs = exact([s.value for s in samples]), exact([s.zs_value for s in samples])
    return SampleColumns(
        None,
        None,
        None if zs else [s.zs_value for s in samples],
        [s.flag for s in samples],
        micros=[epoch_micros(s.ts) for s in samples],
        value_exact=value,
        zs_exact=zs,
    )


def _fields(r: object) -> list[object]:
    return [
        (str(v), v.as_tuple()) if isinstance(v, Decimal) else v
        for v in (getattr(r, f) for f in r.__slots__)  # type: ignore[attr-defined]
    ]


@pytest.mark.parametrize("scales", [[3], [2], [0], [3, 2, 1, 3, 0]])
@pytest.mark.parametrize("invalid", [{7}, {0, 59}, {1, 2, 3, 30}, set(range(20))])
@pytest.mark.parametrize("zs", [False, True])
def test_an_hour_with_invalid_minutes_as_pairs_gives_what_its_samples_give(
    scales: list[int], invalid: set[int], zs: bool
) -> None:
    so2 = _samples(3, scales, invalid, zs)
    o2 = [
        Sample(s.ts, Decimal(f"{800 + m * 37 % 301}E-2"), None, "C" if m == 11 else "N")
        for m, s in enumerate(so2)
    ]
    plain = (so2, o2)
    columns = (_columns(so2), _columns(o2))
    results = []
    for pollutant, oxygen in (plain, columns):
        memo: dict = {}  # type: ignore[type-arg]
        means = [
            hourly_mean(
                pollutant,
                oxygen,
                hour_start=HOUR,
                source="min",
                o2_ref=Decimal(6),
                rules=GAS,
                memo=memo,
            ),
            hourly_mean(
                oxygen, oxygen, hour_start=HOUR, source="min", o2_ref=None, rules=GAS, memo=memo
            ),
        ]
        spreads = hour_spreads(
            {"a21026": {"min": pollutant}, "a19001": {"min": oxygen}}, ["a21026", "a19001"], VALID
        )
        results.append(([_fields(m) for m in means], repr(spreads)))
    assert results[1] == results[0]
    assert columns[0].value_exact is not None  # the columns were pairs
