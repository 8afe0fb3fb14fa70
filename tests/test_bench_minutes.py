"""The evaluator benchmarks' minutes (``bench.alerts.minute_values``) are shaped as loggers send
them: SO₂ with three decimals, O₂ with two that varies minute by minute (but for the stuck
analysers' flat stretches), a fault and a calibration minute an hour; and every hour still
valid and exceeding after 折算, as the benchmarks' cases rely on. No database."""

from __future__ import annotations

from decimal import Decimal

from bench.alerts import minute_values

OUTLETS, HOURS = range(8), range(48)


def test_values_carry_the_loggers_decimals_and_o2_moves_within_its_range() -> None:
    for k in OUTLETS:
        for h in HOURS:
            hour = [minute_values(k, h, m) for m in range(60)]
            assert {v.so2.as_tuple().exponent for v in hour} == {-3}
            assert {v.o2.as_tuple().exponent for v in hour} == {-2}
            assert all(Decimal("8.00") <= v.o2 <= Decimal("11.00") for v in hour)
            assert all(Decimal(20) <= v.so2 < Decimal(45) for v in hour)
            levels = len({v.o2 for v in hour})
            assert levels == 1 if k % 4 == 0 and h % 24 < 8 else levels > 30


def test_each_hour_has_one_fault_and_one_calibration_minute_and_exceeds_after_conversion() -> None:
    for k in OUTLETS:
        for h in HOURS:
            hour = [minute_values(k, h, m) for m in range(60)]
            assert [v.so2_flag for v in hour].count("D") == 1
            assert [v.o2_flag for v in hour].count("C") == 1
            assert all(v.so2_flag in "ND" and v.o2_flag in "NC" for v in hour)
            valid = [v for v in hour if v.so2_flag == "N" and v.o2_flag == "N"]
            assert len(valid) == 58
            converted = sum(v.so2 * 15 / (21 - v.o2) for v in valid) / len(valid)
            assert converted > 35  # the ultra-low SO₂ limit at 6 % O₂


def test_the_minutes_are_deterministic() -> None:
    assert minute_values(3, 5, 7) == minute_values(3, 5, 7)
    assert minute_values(3, 5, 7) != minute_values(3, 5, 8)
