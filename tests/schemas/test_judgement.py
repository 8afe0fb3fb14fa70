"""The one judgement rule (schemas/limits/judgement.py), as a table of values and limits."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from schemas.limits.judgement import Judgement, LimitBounds, judge, value_to_judge
from schemas.limits.rules import Limit

PH = LimitBounds(D(9), D(6))

# value, limit, verdict
TABLE = [
    # pH 6–9: outside either bound exceeds, the bounds comply, a range has no multiple
    ("5", PH, Judgement(D(5), exceeds=True, bound="lower")),
    ("5.99", PH, Judgement(D("5.99"), exceeds=True, bound="lower")),
    ("6", PH, Judgement(D(6), exceeds=False)),
    ("7.5", PH, Judgement(D("7.5"), exceeds=False)),
    ("9", PH, Judgement(D(9), exceeds=False)),
    ("9.01", PH, Judgement(D("9.01"), exceeds=True, bound="upper")),
    ("12", PH, Judgement(D(12), exceeds=True, bound="upper")),
    # an upper limit: (value − limit) / limit above it, nothing at or below it
    ("150", LimitBounds(D(100)), Judgement(D(150), True, "upper", D("0.5"))),
    ("100", LimitBounds(D(100)), Judgement(D(100), exceeds=False)),
    ("99.99", LimitBounds(D(100)), Judgement(D("99.99"), exceeds=False)),
    ("49.99", LimitBounds(D(50)), Judgement(D("49.99"), exceeds=False)),
    ("50", LimitBounds(D(50)), Judgement(D(50), exceeds=False)),
    ("50.01", LimitBounds(D(50)), Judgement(D("50.01"), True, "upper", D("0.0002"))),
    ("75", LimitBounds(D(50)), Judgement(D(75), True, "upper", D("0.5"))),
    ("1600", LimitBounds(D(100)), Judgement(D(1600), True, "upper", D(15))),
    # a zero limit (not detectable): anything above it exceeds, with no multiple
    ("0", LimitBounds(D(0)), Judgement(D(0), exceeds=False)),
    ("0.001", LimitBounds(D(0)), Judgement(D("0.001"), exceeds=True, bound="upper")),
    ("3", LimitBounds(D(0)), Judgement(D(3), exceeds=True, bound="upper")),
]


@pytest.mark.parametrize(("value", "limit", "expected"), TABLE)
def test_judgement_table(value: str, limit: LimitBounds, expected: Judgement) -> None:
    assert judge(D(value), limit) == expected


def test_a_limit_row_is_judged_like_its_bounds() -> None:
    row = _limit(value="9", value_min="6", reference_o2=None)
    assert judge(D(5), row) == judge(D(5), PH)
    assert judge(D("9.01"), row).bound == "upper"


def test_the_value_judged_is_converted_only_where_the_limit_has_a_reference_o2() -> None:
    gas = _limit(value="100", reference_o2="6")
    water = _limit(value="50", reference_o2=None)
    assert value_to_judge(gas, D(80), D(120)) == D(120)
    assert value_to_judge(gas, D(80), None) is None  # not convertible: not judged
    assert value_to_judge(water, D(40), None) == D(40)


def _limit(value: str, value_min: str | None = None, reference_o2: str | None = None) -> Limit:
    return Limit(
        id=1,
        source="standard",
        standard="GB 18918-2002",
        category="class-1A",
        pollutant="w01001",
        value=D(value),
        value_min=None if value_min is None else D(value_min),
        unit="dimensionless",
        period="day",
        reference_o2=None if reference_o2 is None else D(reference_o2),
        source_document="GB 18918-2002",
        clause="Table 1",
        confirmed=False,
        version=1,
    )
