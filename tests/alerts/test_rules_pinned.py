"""The regulation's results of :mod:`alerts.rules` and the flat-line spreads of
:func:`alerts.patterns.hour_spreads`, pinned on awkward hours: every Decimal as its text (digits,
exponent, sign), the validity counts, flags and reasons, as the arithmetic on Decimals gave them
when pinned (``rules_pinned.json``). Whatever the arithmetic becomes, these stay.

The hours: scales mixed within a series ('20', '20.4', '20.44', '2E+1'), negatives, zeros with
and without decimals, values too large for a stored pair (the database keeps them whole: the
``wide`` path), O₂ at and around the conversion's maximum, invalid flags and missing values,
fewer than 45 valid minutes, Zs values on some minutes; and the days of those hours. Each hour is
given as a list of samples of the values as written, and as the columns the evaluator reads
(values as the database stores and returns them: '2E+1' comes back as 20).

Regenerate only on purpose, from the arithmetic that is the reference:
``SOURCEWATCH_REGENERATE_RULES_PINS=1 pytest tests/alerts/test_rules_pinned.py``.
"""

from __future__ import annotations

import decimal
import json
import os
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from alerts.patterns import hour_spreads
from alerts.rules import (
    DEFAULT_VALID_FLAGS,
    MeanResult,
    MinuteMemo,
    Sample,
    SampleColumns,
    daily_mean,
    epoch_micros,
    hourly_mean,
)
from tests.alerts.test_rules import GAS, HOUR

if TYPE_CHECKING:
    from alerts.rules import Exact

PINS = Path(__file__).with_name("rules_pinned.json")
SO2, O2 = "a21026", "a19001"
_PAIR_SCALES = 18  # a stored pair: at most 18 decimal places and 18 significant digits


def stored(text: str | None) -> Decimal | None:
    """A value as the database stores it and the evaluator reads it back: numeric's value (no
    positive exponent; NaN stays NaN), kept as a pair when it fits and whole otherwise."""
    if text is None:
        return None
    d = Decimal(text)
    if not d.is_finite():
        return d
    if d.is_zero():
        d = d.copy_abs()  # numeric has no negative zero
    return d if d.as_tuple().exponent <= 0 else d.quantize(Decimal(1))  # type: ignore[operator]


# Per scenario: (SO₂ values per minute, their flags, Zs values, O₂ values per minute) as text
# cycled over the minutes present; minutes present; the limit's reference O₂.
_MIXED = ["20", "20.4", "20.44", "2E+1", "0", "0.00", "-3.5", "44.999", "7", "0.5"]
_SIGNED = ["-12.25", "0", "-0.00", "31.5", "-0", "12.250", "-31.5", "0.000", "1E+1"]
_HUGE = [
    "12345678901234567890123456789012345",
    "20.44",
    "999999999999999999.5",
    "-9223372036854775808",
    "9223372036854775807",
    "0.0000000000000000001",
    "1000000000000000000",
    "5",
]
_O2_EDGE = ["19.49", "19.5", "19.51", "9", "20.999", "21", "6.00", "18.9999999999"]
_O2_PLAIN = ["9", "9.37", "10", "8.5", "9.00"]


def _scenario(name: str) -> dict[str, Any]:
    minutes = list(range(60))
    so2: Sequence[str | None] = _MIXED
    flags: Sequence[str | None] = ["N"]
    zs: Sequence[str | None] = [None]
    o2: Sequence[str | None] = _O2_PLAIN
    ref: str | None = "6"
    if name == "mixed scales":
        zs = [None, "25.5", "25.50", None, "3E+1"]
    elif name == "negatives and zeros":
        so2 = _SIGNED
    elif name == "zeros":
        so2, o2, zs = ["0", "0.00", "0.0", "-0.0"], ["0", "0.0"], ["0.000"]
    elif name == "huge":
        so2, zs = _HUGE, [None, "12345678901234567890.5"]
    elif name == "o2 near its max":
        o2 = _O2_EDGE
    elif name == "invalid flags":
        flags = ["N", "N", "F", "N", "M", None, "N", "D", "N", "N", "N"]
        so2 = [*_MIXED[:5], None, *_MIXED[5:]]
    elif name == "44 valid minutes":
        minutes = [m for m in range(60) if m % 4 != 1 and m != 0]
    elif name == "45 valid minutes":
        minutes = [m for m in range(60) if m % 4 != 1]
    elif name == "integers, steady O2":  # the benchmark's hour
        so2, o2 = [str(20 + k) for k in range(25)], ["9"]
    elif name == "two decimals":
        so2 = [f"{200 + k * 3.17:.2f}" for k in range(60)]
        o2, zs = [f"{9 + k * 0.13:.2f}" for k in range(60)], ["300.25", None, "301.5"]
    elif name == "negatives, one scale":
        so2 = ["-12.25", "0.00", "31.50", "-31.50", "12.25", "-0.00", "44.99"]
        o2, zs = ["9.37", "19.49", "19.50", "20.99", "-1.00", "12.00"], ["25.50", "-0.25"]
    elif name == "largest pairs":
        so2 = ["999999999999999999", "999999999999999998", "-999999999999999999", "1", "0"]
        o2, zs = ["0.999999999999999999", "0.000000000000000001"], ["123456789012345678"]
    elif name == "scales far apart":  # their sum has more digits than a context keeps
        so2 = ["999999999999999999", "0.000000000000000001", "-999999999999999998", "0.5"]
        o2, zs = ["9", "9.000000000000000001", "9.5"], ["999999999999999999", "1E-18"]
    elif name == "positive exponents":
        so2, o2, zs = ["2E+1", "1E+2", "-0", "3E+1"], ["1E+1"], ["3E+1", None]
    elif name == "water":
        ref = None
    return {"minutes": minutes, "so2": so2, "flags": flags, "zs": zs, "o2": o2, "ref": ref}


SCENARIOS = [
    "mixed scales",
    "negatives and zeros",
    "zeros",
    "huge",
    "o2 near its max",
    "invalid flags",
    "44 valid minutes",
    "45 valid minutes",
    "integers, steady O2",
    "two decimals",
    "negatives, one scale",
    "largest pairs",
    "scales far apart",
    "positive exponents",
    "water",
]


def _series(
    name: str, convert: Callable[[str | None], Decimal | None]
) -> tuple[list[Sample], list[Sample]]:
    s = _scenario(name)
    so2: list[Sample] = []
    o2: list[Sample] = []
    for k, m in enumerate(s["minutes"]):
        ts = HOUR + timedelta(minutes=m)
        pick = s["so2"][k % len(s["so2"])], s["zs"][k % len(s["zs"])]
        so2.append(Sample(ts, convert(pick[0]), convert(pick[1]), s["flags"][k % len(s["flags"])]))
        o2.append(Sample(ts, convert(s["o2"][k % len(s["o2"])]), None, "N"))
    return so2, o2


def _given(samples: list[Sample]) -> Sequence[Sample]:
    return samples


def _columns(samples: list[Sample]) -> Sequence[Sample]:
    return SampleColumns(
        None,
        [s.value for s in samples],
        [s.zs_value for s in samples],
        [s.flag for s in samples],
        micros=[epoch_micros(s.ts) for s in samples],
    )


def _pair(v: Decimal | None) -> tuple[int, int] | None:
    """(mantissa, scale) as the database keeps a value that fits a pair (0024's exact_fits)."""
    if v is None or not v.is_finite():
        return None
    scale = -int(v.as_tuple().exponent)
    if not 0 <= scale <= _PAIR_SCALES or abs(v) >= Decimal(10) ** (_PAIR_SCALES - scale):
        return None
    return int(v.scaleb(scale)), scale


def _exact(values: Sequence[Decimal | None]) -> Exact | None:
    from alerts.rules import Exact  # (imported here: the pins are made by code without it)

    pairs = [_pair(v) for v in values]
    if not values or None in pairs:
        return None
    scales = [p[1] for p in pairs if p is not None]
    one = len(set(scales)) == 1
    return Exact([p[0] for p in pairs if p is not None], scales[0] if one else scales)


_EXACT_MADE: list[Exact] = []  # the columns made as integers


def _exact_columns(samples: list[Sample]) -> Sequence[Sample]:
    """The columns as the evaluator reads them: a column whose values are all pairs of one
    scale as :class:`Exact`, its Decimals made only when asked for; others as Decimals."""
    value, zs = _exact([s.value for s in samples]), _exact([s.zs_value for s in samples])
    _EXACT_MADE.extend(e for e in (value, zs) if e is not None)
    return SampleColumns(
        None,
        None if value else [s.value for s in samples],
        None if zs else [s.zs_value for s in samples],
        [s.flag for s in samples],
        micros=[epoch_micros(s.ts) for s in samples],
        value_exact=value,
        zs_exact=zs,
    )


def _text(v: Any) -> Any:
    return None if v is None else str(v)


def _hour_row(r: MeanResult) -> list[Any]:
    return [
        r.source,
        _text(r.mean),
        _text(r.zs_reported),
        _text(r.converted),
        _text(r.o2_mean),
        r.valid_count,
        r.expected_count,
        r.valid,
        r.reason,
        dict(r.flags),
    ]


def results(
    representation: str,
    as_given: Callable[[list[Sample]], Sequence[Sample]] = _columns,
) -> dict[str, Any]:
    """Every scenario's hourly means (SO₂ converted with its O₂, O₂), its flat-line spreads,
    and the day of all scenarios' hours, as text: ``representation`` "written" gives the values
    as written, "stored" as the database returns them; ``as_given`` makes the series."""
    convert = (
        (lambda t: None if t is None else Decimal(t)) if representation == "written" else stored
    )
    out: dict[str, Any] = {}
    hours: list[MeanResult] = []
    for k, name in enumerate(SCENARIOS):
        so2, o2 = _series(name, convert)
        given_so2, given_o2 = as_given(so2), as_given(o2)
        ref = _scenario(name)["ref"]
        memo: MinuteMemo = {}
        so2_hour = hourly_mean(
            given_so2,
            given_o2,
            hour_start=HOUR,
            source="min",
            o2_ref=None if ref is None else Decimal(ref),
            rules=GAS,
            memo=memo,
        )
        o2_hour = hourly_mean(
            given_o2, given_o2, hour_start=HOUR, source="min", o2_ref=None, rules=GAS, memo=memo
        )
        spreads = hour_spreads(
            {SO2: {"min": given_so2}, O2: {"min": given_o2}}, [O2, SO2], DEFAULT_VALID_FLAGS
        )
        out[name] = {
            "so2": _hour_row(so2_hour),
            "o2": _hour_row(o2_hour),
            "spreads": None
            if spreads is None
            else {p: [_text(x) for x in row] for p, row in sorted(spreads.items())},
        }
        # the scenarios as the hours of a day (a valid day needs 20 valid hours: each thrice)
        for again in (0, 1, 2):
            start = HOUR + timedelta(hours=3 * k + again)
            hours.append(MeanResult(start, *[getattr(so2_hour, f) for f in _FIELDS[1:]]))
    day = daily_mean(hours, day=date(2024, 5, 1), rules=GAS)
    short = daily_mean(hours[:21], day=date(2024, 5, 1), rules=GAS)
    out["day"] = [
        [
            _text(d.mean),
            _text(d.zs_reported),
            _text(d.converted),
            _text(d.o2_mean),
            d.valid_count,
            d.valid,
            d.reason,
        ]
        for d in (day, short)
    ]
    return out


_FIELDS = tuple(MeanResult.__dataclass_fields__)


def _pins() -> dict[str, Any]:
    return dict(json.loads(PINS.read_text(encoding="utf-8")))


def test_regenerate_pins_only_on_purpose() -> None:
    if not os.environ.get("SOURCEWATCH_REGENERATE_RULES_PINS"):
        pytest.skip("the pins are regenerated only on purpose")
    pins = {
        representation: {
            "samples": results(representation, _given),
            "columns": results(representation),
        }
        for representation in ("written", "stored")
    }
    PINS.write_text(json.dumps(pins, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


@pytest.mark.parametrize("representation", ["written", "stored"])
@pytest.mark.parametrize("given", ["samples", "columns"])
def test_the_regulations_results_are_the_pinned_ones(representation: str, given: str) -> None:
    as_given = _given if given == "samples" else _columns
    assert results(representation, as_given) == _pins()[representation][given]


def test_pairs_read_as_integers_give_the_pinned_results() -> None:
    """Values read as integer mantissas and one scale (as the evaluator reads the usual
    series) give every pinned result of the Decimals they stand for: the means, Zs and O₂
    means summed on the integers, the spreads too."""
    _EXACT_MADE.clear()
    assert results("stored", _exact_columns) == _pins()["stored"]["columns"]
    scales = {e.scale for e in _EXACT_MADE if isinstance(e.scale, int)}
    assert {0, 2, 18} <= scales  # the integer paths were taken, at several scales
    assert sum(not isinstance(e.scale, int) for e in _EXACT_MADE) >= 10  # and mixed ones
    assert any(min(e.mantissas) < 0 for e in _EXACT_MADE)


def test_the_pins_say_what_they_pin() -> None:
    """The pinned scenarios do reach the cases they are there for."""
    pins = _pins()["stored"]["columns"]
    assert pins["44 valid minutes"]["so2"][5:8] == [44, 60, False]
    assert pins["45 valid minutes"]["so2"][5:8] == [45, 60, True]
    assert pins["o2 near its max"]["so2"][3] is None  # too few minutes below 19.5 % O₂
    assert "no converted value" in pins["o2 near its max"]["so2"][8]
    assert pins["invalid flags"]["so2"][9] == {"D": 5, "F": 6, "M": 6, "N": 38, "none": 5}
    assert pins["water"]["so2"][3] is None
    assert pins["huge"]["so2"][1].endswith("E+33")  # the wide value counts
    assert pins["day"][0][5] is True and pins["day"][1][5] is False
    written = _pins()["written"]["columns"]
    exponents = "positive exponents"
    assert written[exponents]["spreads"] != pins[exponents]["spreads"]  # '2E+1' kept as written


@pytest.mark.parametrize(
    "context",
    [decimal.Context(), decimal.Context(prec=3, rounding=decimal.ROUND_FLOOR)],
    ids=["default", "3 digits floor"],
)
def test_a_pairs_decimal_is_that_of_its_text(context: decimal.Context) -> None:
    """A pair made into a Decimal from its integers (one scale, several, with NULLs) is the
    Decimal of its exact_text, '{m}E-{s}': coefficient, exponent and sign, in any context."""
    from alerts.rules import Exact, pair_decimals

    mantissas = [0, 1, -1, 999999999999999999, -999999999999999999, 2044, -50, 10**17]
    expected = {
        s: [Decimal(f"{m}E-{s}").as_tuple() for m in mantissas] for s in (0, 1, 2, 3, 17, 18)
    }
    with decimal.localcontext(context):
        for s, want in expected.items():
            assert [d.as_tuple() for d in Exact(mantissas, s).decimals()] == want
            scales = [s] * len(mantissas)
            assert [d.as_tuple() for d in Exact(mantissas, scales).decimals()] == want
            made = pair_decimals([*mantissas, None], [*scales, None])
            assert [d.as_tuple() for d in made if d is not None] == want
            assert made[-1] is None
