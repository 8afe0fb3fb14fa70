"""A judged period's details as judge_period stores them: PeriodDetails' JSON text is the text
json.dumps made of the details dict (what was stored before it), character for character."""

from __future__ import annotations

import json
import random
from decimal import Decimal
from typing import Any

import pytest

from schemas.cases.transitions import LimitDetails, PeriodDetails, limit_details
from schemas.limits.rules import Limit


def _limit(**changes: Any) -> Limit:
    fields: dict[str, Any] = {
        "id": 24,
        "source": "standard",
        "standard": "煤电节能减排升级与改造行动计划(2014—2020年)",
        "category": "ultra-low-coal",
        "pollutant": "a21026",
        "value": Decimal(35),
        "value_min": None,
        "unit": "mg/m³",
        "period": "hour",
        "reference_o2": Decimal(6),
        "source_document": "《煤电节能减排升级与改造行动计划(2014—2020年)》",
        "clause": None,
        "confirmed": True,
        "version": 1,
    }
    return Limit(**(fields | changes))


LIMITS = [
    _limit(),
    _limit(
        source="outlet",
        standard=None,
        category=None,
        value=Decimal(9),
        value_min=Decimal("6.0"),
        unit="",
        period="day",
        reference_o2=None,
        source_document='permit "A\\B"\n\t\x00 \u2028 😀',
        clause='表 1, 注 "b"',
        confirmed=False,
        version=12,
    ),
    _limit(value=Decimal("0E-3"), reference_o2=Decimal("-1E+1"), source_document=""),
]


def _old(value: str, measured: str | None, converted: str | None, lim: Limit, cov: str) -> str:
    """What _judge and judge_period made before PeriodDetails: the dict, then json.dumps."""
    details = {
        "value": value,
        "measured": measured,
        "converted": converted,
        **limit_details(lim),
        "coverage": cov,
    }
    return json.dumps(details, default=str)


def _numbers() -> list[str]:
    rng = random.Random(20)
    out = ["0", "-0", "0E-28", "1E+3", "NaN", "Infinity", "-Infinity", "35", "43.8558416"]
    for _ in range(200):
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 30)))
        out.append(str(Decimal(f"{rng.choice('-+')}{digits}").scaleb(rng.randint(-40, 10))))
    return out


@pytest.mark.parametrize("lim", LIMITS, ids=["standard", "outlet-range", "zero"])
def test_the_text_is_json_dumps_of_the_details(lim: Limit) -> None:
    made = LimitDetails(lim)
    numbers = _numbers()
    rng = random.Random(lim.version)
    for value in numbers:
        measured = rng.choice([None, value, rng.choice(numbers)])
        converted = rng.choice([None, value, rng.choice(numbers)])
        cov = f"{rng.randint(0, 60)}/{rng.randint(0, 60)}"
        details = PeriodDetails(value, measured, converted, made, cov)
        assert details.text() == _old(value, measured, converted, lim, cov)
        assert json.dumps(details.fields(), default=str) == details.text()
    odd = PeriodDetails('"\\\n é', None, "\u2028", made, "")  # escaped as json.dumps does
    assert odd.text() == _old('"\\\n é', None, "\u2028", lim, "")


def test_the_fields_keep_the_order_of_the_dict_before() -> None:
    lim = LIMITS[0]
    details = PeriodDetails("43.8", "32.5", "43.8", LimitDetails(lim), "59/60")
    assert list(details.fields()) == [
        "value",
        "measured",
        "converted",
        *limit_details(lim),
        "coverage",
    ]
    assert details.limit.fields == limit_details(lim)
