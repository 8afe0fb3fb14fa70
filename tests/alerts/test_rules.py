"""The regulator's arithmetic, against hand-computed tables."""

from __future__ import annotations

import decimal
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Literal
from zoneinfo import ZoneInfo

import pytest

from alerts.rules import (
    DEFAULT_VALID_FLAGS,
    MeanResult,
    MinuteMemo,
    Sample,
    SampleColumns,
    convert_o2,
    daily_mean,
    epoch_micros,
    hourly_mean,
    zs_mismatch,
)
from schemas.limits.rules import ValidityRules

D = Decimal
HOUR = datetime(2024, 5, 1, 8, tzinfo=ZoneInfo("Asia/Shanghai"))
GAS = ValidityRules(
    medium="gas",
    hour_min_valid_minutes=45,
    day_min_valid_hours=20,
    minute_min_valid_samples=12,
    zs_mismatch_tolerance_pct=D(2),
    o2_max_for_conversion=D("19.5"),
)
WATER = ValidityRules(medium="water", hour_min_valid_minutes=1, day_min_valid_hours=18)


def at(minute: int, second: int = 0) -> datetime:
    return HOUR + timedelta(minutes=minute, seconds=second)


def minute_data(*runs: tuple[int, str | None, str | None]) -> list[Sample]:
    """Consecutive minutes from :00: (how many, value, flag) per run."""
    out: list[Sample] = []
    for count, value, flag in runs:
        for _ in range(count):
            out.append(Sample(at(len(out)), None if value is None else D(value), None, flag))
    return out


def gas_hour(
    samples: list[Sample],
    o2: Sequence[Sample] = (),
    *,
    source: Literal["min", "rtd"] = "min",
    o2_ref: Decimal | None = None,
    valid_flags: frozenset[str] = DEFAULT_VALID_FLAGS,
    interval_minutes: int = 1,
) -> MeanResult:
    return hourly_mean(
        samples,
        o2,
        hour_start=HOUR,
        source=source,
        o2_ref=o2_ref,
        rules=GAS,
        valid_flags=valid_flags,
        interval_minutes=interval_minutes,
    )


# --- Validity of the hour --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("valid_minutes", "valid", "reason"),
    [
        (44, False, "44 valid minutes of 60 (≥45 required); samples by flag: D 16, N 44"),
        (45, True, None),
        (60, True, None),
    ],
)
def test_hour_needs_45_valid_minutes(valid_minutes: int, valid: bool, reason: str | None) -> None:
    result = gas_hour(minute_data((valid_minutes, "10", "N"), (60 - valid_minutes, "999", "D")))
    assert (result.valid, result.valid_count, result.expected_count) == (valid, valid_minutes, 60)
    assert result.mean == D(10)  # the D minutes never count
    assert result.reason == reason
    assert result.flags == {
        k: v for k, v in {"D": 60 - valid_minutes, "N": valid_minutes}.items() if v
    }


def test_mean_over_mixed_flags() -> None:
    samples = minute_data(
        (24, "10", "N"),
        (24, "20", "N"),
        (1, None, "N"),  # no value: not valid
        (5, "500", "M"),
        (3, "400", "C"),
        (1, "300", "T"),
        (2, "1", None),  # no flag: not valid
    )
    result = gas_hour(samples)
    assert (result.valid, result.valid_count, result.mean) == (True, 48, D(15))
    assert result.flags == {"C": 3, "M": 5, "N": 49, "T": 1, "none": 2}
    assert (
        gas_hour(samples, valid_flags=frozenset({"N", "M"})).mean
        == D(10 * 24 + 20 * 24 + 500 * 5) / 53
    )


def test_samples_outside_the_hour_are_ignored() -> None:
    samples = minute_data((45, "10", "N"))
    samples += [Sample(at(-1), D(999), None, "N"), Sample(at(60), D(999), None, "N")]
    result = gas_hour(samples)
    assert (result.valid_count, result.mean, result.flags) == (45, D(10), {"N": 45})


def test_minute_data_with_a_ten_minute_interval() -> None:
    def records(valid: int) -> list[Sample]:
        return [Sample(at(10 * i), D(10 + i), None, "N" if i < valid else "D") for i in range(6)]

    assert (
        gas_hour(records(5), interval_minutes=10).valid_count,
        gas_hour(records(5), interval_minutes=10).valid,
    ) == (50, True)
    assert gas_hour(records(5), interval_minutes=10).mean == D(12)  # (10+11+12+13+14) / 5
    assert gas_hour(records(4), interval_minutes=10).valid is False
    with pytest.raises(ValueError, match="divide 60"):
        gas_hour(records(6), interval_minutes=7)


# --- From real-time data ---------------------------------------------------------------------


def test_rtd_minute_is_valid_with_any_valid_sample() -> None:
    rtd: list[Sample] = []
    for minute in range(60):
        if minute < 40:  # two valid samples: minute value 15
            pair = [(D(10), "N"), (D(20), "N")]
        elif minute < 50:  # one valid, one fault: minute value 40
            pair = [(D(40), "N"), (D(999), "D")]
        else:  # no valid sample: invalid minute
            pair = [(D(999), "D"), (D(999), "D")]
        rtd += [Sample(at(minute, 30 * i), v, None, f) for i, (v, f) in enumerate(pair)]
    result = gas_hour(rtd, source="rtd")
    # The mean is over minutes: (40 × 15 + 10 × 40) / 50, not over samples (1600 / 90).
    assert (result.valid, result.valid_count, result.mean) == (True, 50, D(20))
    assert result.flags == {"D": 30, "N": 90}
    assert result.source == "rtd"


def test_rtd_reason_says_where_the_data_came_from() -> None:
    rtd = [Sample(at(m, 15), D(5), None, "N" if m < 44 else "B") for m in range(60)]
    result = gas_hour(rtd, source="rtd", interval_minutes=10)  # ignored for rtd
    assert result.valid is False
    assert result.reason == (
        "44 valid minutes of 60 from real-time data (≥45 required); samples by flag: B 16, N 44"
    )


# --- 折算 (O₂ conversion) --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("c", "o2", "o2_ref", "expected"),
    [
        ("100", "9", "6", "125"),  # coal boiler: (21 − 6) / (21 − 9) = 1.25
        ("100", "6", "6", "100"),
        ("80", "3", "6", "66.66666666666666666666666667"),  # O₂ below reference: lower
        ("30", "18", "15", "60"),  # gas turbine: 6 / 3
        ("100", "11", "11", "100"),  # incinerator
        ("100", "19.4", "6", "937.5"),  # just below the maximum: 15 / 1.6
        ("100", "19.5", "6", None),  # at the maximum: not meaningful
        ("100", "20.9", "6", None),
        ("100", None, "6", None),  # O₂ missing
    ],
)
def test_convert_o2(c: str, o2: str | None, o2_ref: str, expected: str | None) -> None:
    result = convert_o2(D(c), None if o2 is None else D(o2), D(o2_ref), D("19.5"))
    assert result == (None if expected is None else D(expected))


def test_hour_converted_minute_by_minute() -> None:
    samples = [Sample(at(m), D(100), D(125), "N") for m in range(60)]
    o2 = [Sample(at(m), D(9) if m < 30 else D(6), None, "N") for m in range(60)]
    result = gas_hour(samples, o2, o2_ref=D(6))
    # 30 minutes × 125 + 30 minutes × 100
    assert (result.mean, result.converted, result.o2_mean) == (D(100), D("112.5"), D("7.5"))
    assert result.zs_reported == D(125)


def test_hour_without_enough_convertible_minutes_has_no_converted_value() -> None:
    samples = [Sample(at(m), D(100), None, "N") for m in range(60)]
    o2 = [Sample(at(m), D("19.5") if m < 16 else D(9), None, "N") for m in range(60)]
    result = gas_hour(samples, o2, o2_ref=D(6))
    assert (result.valid, result.converted) == (True, None)
    assert result.reason == (
        "no converted value: 44 valid minutes with a valid O₂ below 19.5 % (≥45 required)"
    )
    o2[15] = Sample(at(15), D(9), None, "N")  # 45 convertible minutes
    assert gas_hour(samples, o2, o2_ref=D(6)).converted == D(125)


def test_invalid_o2_minutes_do_not_convert() -> None:
    samples = [Sample(at(m), D(100), None, "N") for m in range(60)]
    o2 = [Sample(at(m), D(9), None, "C" if m < 20 else "N") for m in range(60)]
    result = gas_hour(samples, o2, o2_ref=D(6))
    assert (result.converted, result.o2_mean) == (None, D(9))


def test_water_hour_has_no_conversion() -> None:
    result = hourly_mean(
        [Sample(at(0), D("42.5"), None, "N")],
        [],
        hour_start=HOUR,
        source="min",
        o2_ref=None,
        rules=WATER,
    )
    assert (result.valid, result.mean, result.converted, result.o2_mean) == (
        True,
        D("42.5"),
        None,
        None,
    )
    with pytest.raises(ValueError, match="o2_max_for_conversion"):
        hourly_mean([], [], hour_start=HOUR, source="min", o2_ref=D(6), rules=WATER)


def water_hour(values: list[str], flows: list[str | None]) -> MeanResult:
    """Minute COD values with the outlet's flow (L/s) in the same minutes (None: no flow)."""
    cod = [Sample(at(i), D(v), None, "N") for i, v in enumerate(values)]
    flow = [Sample(at(i), D(q), None, "N") for i, q in enumerate(flows) if q is not None]
    return hourly_mean(
        cod, [], hour_start=HOUR, source="min", o2_ref=None, rules=WATER, flow_samples=flow
    )


def test_wastewater_hour_is_volume_weighted() -> None:
    # 10 mg/L at 1 L/s and 30 mg/L at 3 L/s: (10·1 + 30·3) / 4 = 25, not the arithmetic 20.
    result = water_hour(["10", "30"], ["1", "3"])
    assert (result.valid, result.mean, result.reason) == (True, D(25), None)
    # A flow flagged invalid does not weigh: that minute has no valid flow.
    cod = [Sample(at(0), D(10), None, "N"), Sample(at(1), D(30), None, "N")]
    flow = [Sample(at(0), D(1), None, "N"), Sample(at(1), D(3), None, "D")]
    result = hourly_mean(
        cod, [], hour_start=HOUR, source="min", o2_ref=None, rules=WATER, flow_samples=flow
    )
    assert result.mean == D(20)
    assert result.reason == "arithmetic mean: no valid flow in 1 of 2 valid minutes"


@pytest.mark.parametrize(
    ("flows", "reason"),
    [
        (["1", None], "arithmetic mean: no valid flow in 1 of 2 valid minutes"),
        (["0", "0"], "arithmetic mean: no flow (volume weighting needs some)"),
        (["-1", "3"], "arithmetic mean: negative flow"),
    ],
)
def test_wastewater_hour_without_usable_flow_is_arithmetic_and_says_why(
    flows: list[str | None], reason: str
) -> None:
    result = water_hour(["10", "30"], flows)
    assert (result.valid, result.mean, result.reason) == (True, D(20), reason)


# --- Daily means -----------------------------------------------------------------------------


def hour(i: int, valid: bool, mean: str, converted: str | None = None) -> MeanResult:
    return MeanResult(
        hour_start=HOUR.replace(hour=0) + timedelta(hours=i),
        source="min",
        mean=D(mean),
        zs_reported=None if converted is None else D(converted),
        converted=None if converted is None else D(converted),
        o2_mean=D(9),
        valid_count=60 if valid else 10,
        expected_count=60,
        valid=valid,
        reason=None,
        flags={},
    )


@pytest.mark.parametrize(("valid_hours", "valid"), [(19, False), (20, True), (24, True)])
def test_day_needs_20_valid_hours(valid_hours: int, valid: bool) -> None:
    hours = [hour(i, i < valid_hours, "10" if i < valid_hours else "99", "12.5") for i in range(24)]
    result = daily_mean(hours, day=date(2024, 5, 1), rules=GAS)
    assert (result.valid, result.valid_count, result.expected_count) == (valid, valid_hours, 24)
    assert (result.mean, result.converted, result.zs_reported) == (D(10), D("12.5"), D("12.5"))
    assert result.reason == (None if valid else "19 valid hours of 24 (≥20 required)")
    assert (result.day, result.source) == (date(2024, 5, 1), "hour")


def test_day_mean_of_valid_hours_only() -> None:
    hours = [hour(i, True, "10" if i % 2 else "20") for i in range(20)] + [hour(20, False, "500")]
    result = daily_mean(hours, day=date(2024, 5, 1), rules=GAS)
    assert (result.valid, result.mean, result.converted, result.o2_mean) == (
        True,
        D(15),
        None,
        D(9),
    )


def test_day_converted_needs_enough_converted_hours() -> None:
    hours = [hour(i, True, "10", "12.5" if i < 19 else None) for i in range(24)]
    result = daily_mean(hours, day=date(2024, 5, 1), rules=GAS)
    assert (result.valid, result.converted) == (True, None)
    assert result.reason == "no converted value: 19 valid hours converted (≥20 required)"


def test_wastewater_day_weighs_each_hour_by_its_flow() -> None:
    cod = [hour(i, True, "10" if i < 12 else "40") for i in range(24)]
    # twice the flow in the afternoon: (12·10·1 + 12·40·2) / 36 = 30, not the arithmetic 25
    flow = [hour(i, True, "1" if i < 12 else "2") for i in range(24)]
    result = daily_mean(cod, day=date(2024, 5, 1), rules=WATER, flow_hours=flow)
    assert (result.valid, result.mean, result.reason) == (True, D(30), None)
    # an hour whose flow mean is invalid leaves the day arithmetic, and the reason says so
    flow[3] = hour(3, False, "1")
    result = daily_mean(cod, day=date(2024, 5, 1), rules=WATER, flow_hours=flow)
    assert result.mean == D(25)
    assert result.reason == "arithmetic mean: no valid flow in 1 of 24 valid hours"
    # an invalid day keeps its own reason
    short = daily_mean(cod[:10], day=date(2024, 5, 1), rules=WATER, flow_hours=flow)
    assert (short.valid, short.reason) == (False, "10 valid hours of 24 (≥18 required)")


def test_day_rejects_the_same_hour_twice() -> None:
    with pytest.raises(ValueError, match="twice"):
        daily_mean([hour(0, True, "1"), hour(0, True, "1")], day=date(2024, 5, 1), rules=GAS)


# --- Zs mismatch and exceedance --------------------------------------------------------------


@pytest.mark.parametrize(
    ("reported", "recomputed", "mismatch"),
    [
        ("102", "100", False),  # exactly at the tolerance
        ("102.01", "100", True),
        ("98", "100", False),
        ("97.99", "100", True),
        ("0", "0", False),
        ("0.1", "0", True),
        (None, "100", False),
        ("100", None, False),
    ],
)
def test_zs_mismatch_at_the_tolerance_edge(
    reported: str | None, recomputed: str | None, mismatch: bool
) -> None:
    def dec(text: str | None) -> Decimal | None:
        return None if text is None else D(text)

    assert zs_mismatch(dec(reported), dec(recomputed), D(2)) is mismatch


# --- Samples kept as columns (how the evaluator keeps the minutes it reads) -------------------


def columns_of(samples: Sequence[Sample], *, micros: bool = False) -> SampleColumns:
    """The samples as columns; ``micros``: their times given as the evaluator reads them."""
    ts, *columns = (list(column) for column in zip(*samples, strict=True))
    if micros:
        return SampleColumns(None, *columns, micros=[epoch_micros(t) for t in ts])
    return SampleColumns(ts, *columns)


def test_sample_columns_read_as_the_samples_they_hold() -> None:
    samples = minute_data((3, "1.5", "N"), (1, None, "N"), (2, "7", "F"), (1, "2", None))
    samples[2] = samples[2]._replace(zs_value=D("1.75"))
    cols = columns_of(samples)
    assert len(cols) == len(samples)
    assert [tuple(s) for s in cols] == [tuple(s) for s in samples]
    assert [cols[i] for i in range(len(cols))] == samples
    assert cols[-1] == samples[-1] and isinstance(cols[-1], Sample)
    assert [tuple(s) for s in cols[2:5]] == [tuple(s) for s in samples[2:5]]
    assert bool(SampleColumns([], [], [], [])) is False
    by_micros = columns_of(samples, micros=True)  # times made when asked for, in UTC
    assert [tuple(s) for s in by_micros] == [tuple(s) for s in samples]
    assert by_micros[1:3].micros == cols[1:3].micros == [epoch_micros(s.ts) for s in samples[1:3]]
    assert by_micros.ts[0].tzinfo == UTC and cols.micros[0] == epoch_micros(samples[0].ts)
    with pytest.raises(ValueError, match="different lengths"):
        SampleColumns([at(0)], [D(1)], [], [None])


@pytest.mark.parametrize("source", ["min", "rtd"])
def test_hourly_mean_of_sample_columns_is_that_of_the_samples(
    source: Literal["min", "rtd"],
) -> None:
    """Every field of the result, the text of its Decimals included; O₂ and flow as columns
    too, and one memo for both (keyed by the series given)."""
    so2 = [
        Sample(
            at(m, s), D(f"{30 + (m * 7 + s) % 13}.{m % 10}"), D(f"{m}.25"), "N" if m % 9 else "F"
        )
        for m in range(0, 60, 1 if source == "min" else 2)
        for s in ((0,) if source == "min" else (0, 30))
    ] + [Sample(at(60), D(999), None, "N")]  # outside the hour
    o2 = [Sample(at(m), D(f"{8 + m % 5}.{m % 3}"), None, "N") for m in range(60)]
    flow = [Sample(at(m), D(m % 7), None, "N") for m in range(60)]

    def mean(s: Sequence[Sample], o: Sequence[Sample], q: Sequence[Sample]) -> MeanResult:
        return hourly_mean(
            s, o, hour_start=HOUR, source=source, o2_ref=D(6), rules=GAS, flow_samples=q, memo={}
        )

    plain, cols = mean(so2, o2, flow), mean(columns_of(so2), columns_of(o2), columns_of(flow))
    assert cols == plain
    assert [str(getattr(cols, f)) for f in ("mean", "zs_reported", "converted", "o2_mean")] == [
        str(getattr(plain, f)) for f in ("mean", "zs_reported", "converted", "o2_mean")
    ]


def _usual_hour(variant: str) -> tuple[list[Sample], list[Sample], list[Sample]]:
    """SO₂, O₂ and flow of one hour of minute records (one per minute, on the minute), with what
    the variant changes; the first two and the last keep the usual shape."""
    minutes = range(60)
    if variant == "gaps":
        minutes = range(0, 60, 3)
    if variant == "digits":  # few enough minutes that the last digit of one shows in the means
        minutes = range(2)
    so2 = [
        Sample(at(m), D(f"{30 + m % 13}.{m % 10}"), D(f"{m}.25") if m % 4 else None, "N")
        for m in minutes
    ]
    o2 = [Sample(at(m), D(f"{8 + m % 5}.{m % 3}"), None, "N") for m in minutes]
    if variant == "invalid":  # flags, missing values, no flag, an O₂ too high to convert
        so2[3] = so2[3]._replace(flag="F")
        so2[7] = so2[7]._replace(value=None)
        so2[9] = so2[9]._replace(flag=None)
        o2[11] = o2[11]._replace(value=D("19.6"))
        o2[12] = o2[12]._replace(flag="M")
    if variant == "digits":  # rounded to 28 digits when taken alone, and negative zero
        so2[0] = so2[0]._replace(value=D("1.69350492589913944117715162046"))
        so2[1] = so2[1]._replace(value=D("-0.00"), zs_value=D("-0"))
    if variant == "off the minute":
        so2[5] = so2[5]._replace(ts=at(5, 30))
    if variant == "outside the hour":
        so2[-1] = so2[-1]._replace(ts=at(60))
    if variant == "twice in a minute":
        so2.insert(1, Sample(at(0, 40), D("31.5"), None, "N"))
    flow = [Sample(s.ts, D(m % 7 + 1), None, "N") for m, s in enumerate(o2)]
    return so2, o2, flow


@pytest.mark.parametrize(
    "variant",
    [
        "full",
        "gaps",
        "invalid",
        "digits",
        "off the minute",
        "outside the hour",
        "twice in a minute",
    ],
)
def test_usual_minute_record_as_columns_gives_what_the_samples_give(variant: str) -> None:
    """The usual minute record as columns takes a shorter path through the minutes (and any
    other shape the general one): every field of the result is that of the same samples as a
    list, the text of its Decimals included; with O₂ conversion, without, and flow-weighted."""
    so2, o2, flow = _usual_hour(variant)
    for o2_ref, rules, q in ((D(6), GAS, None), (None, GAS, None), (None, WATER, flow)):
        plain, *as_columns = (
            hourly_mean(
                s, o, hour_start=HOUR, source="min", o2_ref=o2_ref, rules=rules, flow_samples=w
            )
            for s, o, w in (
                (so2, o2, q),
                *(
                    (
                        columns_of(so2, micros=m),
                        columns_of(o2, micros=m),
                        None if q is None else columns_of(q, micros=m),
                    )
                    for m in (False, True)
                ),
            )
        )
        fields = ("mean", "zs_reported", "converted", "o2_mean")
        for cols in as_columns:
            assert cols == plain
            assert [str(getattr(cols, f)) for f in fields] == [
                str(getattr(plain, f)) for f in fields
            ]


def test_interval_of_sample_columns_is_that_of_the_samples() -> None:
    from alerts.evaluation import _interval

    for step in (1, 5, 10, 15):
        samples = [Sample(at(m), D(1), None, "N") for m in range(0, 60, step)]
        assert _interval(columns_of(samples)) == _interval(samples) == step
        assert _interval(columns_of(samples, micros=True)) == step


def test_arrays_read_out_of_time_order_are_put_in_it() -> None:
    """read_hours' arrays come in time order (the plan reads them along the primary key); if
    a plan ever gave them otherwise, they are sorted by time, every column alike."""
    from alerts.evaluation import _in_time_order

    times = [at(m) for m in (0, 1, 2, 3)]
    columns = [[D(1), D(2), None, D(4)], [None, D("0.5"), None, None], ["N", "F", "N", None]]
    assert _in_time_order(times, columns) == (times, *columns)
    shuffled = [3, 0, 2, 1]
    got = _in_time_order([times[k] for k in shuffled], [[c[k] for k in shuffled] for c in columns])
    assert got == (times, *columns)


# Values whose minute or 折算 would show a shortcut that is not the regulator's arithmetic: a
# positive exponent, negative zeros, more digits than the context keeps (rounded half-even: the
# last kept digit 4 → 5 at 30 digits), a tiny exponent, a negative value, NaN and infinities.
_AWKWARD = [
    "31.5", "-12.25", "1E+2", "-0", "-0.00", "0E+3", "1.69350492589913944117715162046",
    "-9.99999999999999999999999999995", "12345678901234567890123456789012345", "1E-30",
    "0.000000000000000000000000000000123456789012345678901234567890", "NaN", "Infinity",
    "-Infinity",
]  # fmt: skip


@pytest.mark.parametrize(
    "context",
    [
        decimal.Context(),
        decimal.Context(prec=5, rounding=decimal.ROUND_HALF_UP),
        decimal.Context(prec=4, rounding=decimal.ROUND_FLOOR),
    ],
    ids=["default", "5 digits half-up", "4 digits floor"],
)
def test_a_minute_of_one_sample_is_its_value_as_a_mean_of_one(context: decimal.Context) -> None:
    """A minute of one valid sample v is the mean of one value, (0 + v) / 1, to the last digit
    (the text of the Decimal compared: exponent and sign of zero too), on both paths."""
    from alerts.rules import _minutes

    samples = [Sample(at(m), D(v), D(v), "N") for m, v in enumerate(_AWKWARD)]
    with decimal.localcontext(context):
        expected = {m: str((0 + D(v)) / 1) for m, v in enumerate(_AWKWARD)}
        for given in (samples, columns_of(samples), columns_of(samples, micros=True)):
            minutes = _minutes(given, HOUR, 1, DEFAULT_VALID_FLAGS, Counter())
            assert dict(zip(minutes.offsets, map(str, minutes.values), strict=True)) == expected
            assert dict(zip(minutes.offsets, map(str, minutes.zs), strict=True)) == expected


def test_o2_conversion_is_the_formula_on_awkward_values() -> None:
    """C × (21 − O₂ref) / (21 − O₂) with the operands as written (21 an integer), none at or above
    o2_max or 21 (o2_max above 21 too), the text of each result compared; a NaN o2_max raises as
    the comparison with it does, once there is an O₂ to compare."""
    from alerts.rules import _converted

    o2s = ["9", "9.37", "-0", "0.001", "20.999", "21", "21.0", "22", "19.5", "-3", "1E+1", None]
    for o2_max in ("19.5", "21", "25", "20.9990"):
        for o2_ref in ("6", "3.5", "-1", "1E+1"):
            for c in _AWKWARD[:10]:
                pairs = [(D(c), None if o2 is None else D(o2)) for o2 in o2s]
                expected = [
                    str(D(c) * (21 - D(o2_ref)) / (21 - o2))
                    for _, o2 in pairs
                    if o2 is not None and o2 < D(o2_max) and o2 < 21
                ]
                got = _converted(pairs, D(o2_ref), D(o2_max))
                assert [str(x) for x in got] == expected
                one_by_one = [convert_o2(c_, o2, D(o2_ref), D(o2_max)) for c_, o2 in pairs]
                assert [str(x) for x in one_by_one if x is not None] == expected
    assert _converted([(D(1), None)], D(6), D("NaN")) == []
    with pytest.raises(decimal.InvalidOperation):
        _converted([(D(1), D(9))], D(6), D("NaN"))


def test_the_flags_of_an_hour_are_made_once_per_text_and_read_only() -> None:
    """The samples per flag go to hourly_means as json.dumps of the dict would write them, and
    come back from it as that dict, shared between the hours of the same text and read only."""
    import json

    from alerts.evaluation import _flags_json, _flags_of

    for flags in ({"N": 60}, {"M": 3, "N": 57}, {"none": 1}, {}):
        text = _flags_json(tuple(flags.items()))
        assert text == json.dumps(flags)
        assert _flags_of(text) == flags
        assert _flags_of(text) is _flags_of(text)
    with pytest.raises(TypeError):
        _flags_of('{"N": 60}')["N"] = 1  # type: ignore[index]


# --- The hour against the regulation written out minute by minute ----------------------------

_VALUES = [
    "31.5", "-12.25", "20", "1.69350492589913944117715162046", "7.123456789",
    "12345678901234567890123456789012345", "-9.99999999999999999999999999995", "0.00",
    "0.000000000000000000000000000000123456789012345678901234567890", "44",
]  # fmt: skip
# Tiny first, then values of 30 digits rounded to even at 28 (up, down): a minute normalised
# (rounded) or not gives another sum and another product.
_TIES = [
    "0.000000000000000000000000001",
    "1.00000000000000000000000000050",
    "2.00000000000000000000000000150",
]
_O2 = ["9.37", "9", "19.49", "0.001", "12.5", "20.999999999999999999999999999999", "6"]


def _reference_hour(
    so2: Sequence[Sample], o2: Sequence[Sample], o2_ref: Decimal | None
) -> tuple[str, ...]:
    """The hour as docs/regulations.md says, written out plainly: per minute the mean of its
    valid samples (flag N, a value), the mean of those minutes, of their Zs values, of the O₂ of
    the minutes that have a valid O₂, and of each minute converted with its own minute's O₂
    below the conversion's maximum; each as text."""

    def minutes(samples: Sequence[Sample]) -> dict[int, tuple[Decimal, Decimal | None]]:
        buckets: dict[int, list[Sample]] = {}
        for s in samples:
            seconds = (s.ts - HOUR).total_seconds()
            if 0 <= seconds < 3600 and s.value is not None and s.flag == "N":
                buckets.setdefault(int(seconds) // 60, []).append(s)
        out = {}
        for m in sorted(buckets):
            zs = [s.zs_value for s in buckets[m] if s.zs_value is not None]
            out[m] = (
                sum((s.value for s in buckets[m] if s.value is not None), D(0)) / len(buckets[m]),
                sum(zs, D(0)) / len(zs) if zs else None,
            )
        return out

    def mean(values: list[Decimal]) -> Decimal | None:
        return sum(values, D(0)) / len(values) if values else None

    own, oxygen = minutes(so2), minutes(o2)
    valid = len(own) >= GAS.hour_min_valid_minutes
    o2_of = {m: oxygen[m][0] for m in own if m in oxygen}
    converted = None
    if o2_ref is not None:
        done = [
            own[m][0] * (21 - o2_ref) / (21 - o2_of[m])
            for m in own
            if m in o2_of and o2_of[m] < D("19.5") and o2_of[m] < 21
        ]
        if len(done) >= GAS.hour_min_valid_minutes or not valid:
            converted = mean(done)
    return tuple(
        str(x)
        for x in (
            mean([v for v, _ in own.values()]),
            mean([z for _, z in own.values() if z is not None]),
            converted,
            mean(list(o2_of.values())),
            len(own),
        )
    )


@pytest.mark.parametrize(
    "variant", ["usual", "zs", "invalid", "gaps", "o2 elsewhere", "rtd", "ties", "ties invalid"]
)
def test_hourly_mean_is_the_regulation_written_out_on_awkward_values(variant: str) -> None:
    """Every Decimal of the result (its text: digits, exponent, sign) is that of the regulation
    written out minute by minute, on values of more than 28 digits (some whose rounding to 28
    shows in the means), negative, without decimals and with many, and O₂ at and above the conversion's maximum; for the usual hour (every
    minute, all valid: the shortest path), with Zs values, with invalid flags and missing values,
    with minutes missing, with O₂ on other minutes than the pollutant's, and with two samples a
    minute; as a list of samples and as columns; the O₂ series itself through the memo."""
    minutes = [m for m in range(60) if variant != "gaps" or m % 7 not in (2, 3)]
    values = _VALUES
    if variant.startswith("ties"):  # few minutes, whose 29th digits show: each one is rounded
        minutes, values = list(range(6)), _TIES
    seconds = (0, 20) if variant == "rtd" else (0,)
    so2 = [
        Sample(
            at(m, s),
            None if variant == "invalid" and m % 13 == 4 else D(values[(m + s) % len(values)]),
            D(values[(m + 2) % len(values)]) if variant[:2] in ("zs", "ti") and m % 3 else None,
            "F" if variant.endswith("invalid") and m % 11 == 5 else "N",
        )
        for m in minutes
        for s in seconds
    ]
    o2_minutes = [m for m in range(60) if m % 9 != 1] if variant == "o2 elsewhere" else minutes
    o2 = [
        Sample(at(m), D("19.5") if m % 17 == 3 else D(_O2[m % len(_O2)]), None, "N")
        for m in o2_minutes
    ]
    source: Literal["min", "rtd"] = "rtd" if variant == "rtd" else "min"
    for given_so2, given_o2 in (
        (so2, o2),
        (columns_of(so2), columns_of(o2)),
        (columns_of(so2, micros=True), columns_of(o2, micros=True)),
    ):
        memo: MinuteMemo = {}  # the O₂ put into minutes once, as the evaluator does
        for series, plain, o2_ref in (
            (given_so2, so2, D(6)),
            (given_so2, so2, None),
            (given_o2, o2, None),
        ):
            result = hourly_mean(
                series, given_o2, hour_start=HOUR, source=source, o2_ref=o2_ref, rules=GAS,
                memo=memo,
            )  # fmt: skip
            fields = (result.mean, result.zs_reported, result.converted, result.o2_mean)
            got = (*map(str, fields), str(result.valid_count))
            assert got == _reference_hour(plain, o2, o2_ref)
