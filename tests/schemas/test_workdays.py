"""Working days and deadlines on the Chinese calendar (chinesecalendar), around the 2026
National Day and Spring Festival holidays with their make-up working days."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from schemas.disclosure.workdays import (
    add_working_days,
    calendar_caveat,
    calendar_known,
    due_on,
    is_working_day,
    working_days_between,
)

D = date


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (D(2026, 9, 20), True),  # Sunday, make-up working day for National Day
        (D(2026, 9, 19), False),  # an ordinary Saturday
        (D(2026, 9, 25), False),  # Mid-Autumn Festival (Friday)
        (D(2026, 9, 30), True),
        (D(2026, 10, 1), False),
        (D(2026, 10, 5), False),  # Monday inside the holiday
        (D(2026, 10, 7), False),
        (D(2026, 10, 8), True),
        (D(2026, 10, 10), True),  # Saturday, make-up working day
        (D(2026, 10, 11), False),
        (D(2026, 2, 14), True),  # Saturday, make-up working day for Spring Festival
        (D(2026, 2, 16), False),  # Monday, Spring Festival
        (D(2026, 2, 23), False),
        (D(2026, 2, 24), True),
        (D(2026, 2, 28), True),  # Saturday, make-up working day
    ],
)
def test_is_working_day_2026(day: date, working: bool) -> None:
    assert is_working_day(day) is working


@pytest.mark.parametrize(
    ("start", "n", "expected"),
    [
        # National Day 2026: Oct 1–7 off, Sun Sep 20 and Sat Oct 10 worked, Mid-Autumn Sep 25–27
        (D(2026, 9, 25), 5, D(2026, 10, 9)),  # 28, 29, 30, Oct 8, Oct 9
        (D(2026, 9, 25), 6, D(2026, 10, 10)),  # the Saturday make-up day counts
        (D(2026, 9, 30), 1, D(2026, 10, 8)),
        (D(2026, 9, 30), 3, D(2026, 10, 10)),
        (D(2026, 9, 30), 4, D(2026, 10, 12)),  # Sun Oct 11 is off
        (D(2026, 9, 18), 1, D(2026, 9, 20)),  # the Sunday make-up day counts
        (D(2026, 9, 19), 1, D(2026, 9, 20)),
        (D(2026, 9, 18), 20, D(2026, 10, 22)),
        (D(2026, 10, 1), 0, D(2026, 10, 8)),  # n = 0 on a holiday: the next working day
        (D(2026, 10, 10), 0, D(2026, 10, 10)),  # n = 0 on a working day: that day
        # Spring Festival 2026: Feb 15–23 off, Sat Feb 14 and Sat Feb 28 worked
        (D(2026, 2, 13), 1, D(2026, 2, 14)),
        (D(2026, 2, 13), 2, D(2026, 2, 24)),
        (D(2026, 2, 12), 20, D(2026, 3, 18)),
        (D(2026, 2, 27), 1, D(2026, 2, 28)),
        (D(2026, 2, 27), 2, D(2026, 3, 2)),
    ],
)
def test_add_working_days_across_holidays(start: date, n: int, expected: date) -> None:
    assert add_working_days(start, n) == expected
    if n > 0:
        assert working_days_between(start, expected) == n


def test_add_working_days_rejects_negative() -> None:
    with pytest.raises(ValueError):
        add_working_days(D(2026, 1, 5), -1)


def test_working_days_between() -> None:
    assert working_days_between(D(2026, 9, 30), D(2026, 10, 8)) == 1
    assert working_days_between(D(2026, 9, 30), D(2026, 10, 7)) == 0
    assert working_days_between(D(2026, 9, 25), D(2026, 10, 10)) == 6
    assert working_days_between(D(2026, 10, 10), D(2026, 9, 25)) == -6
    assert working_days_between(D(2026, 10, 1), D(2026, 10, 1)) == 0
    # September 2026: 22 weekdays, minus Fri Sep 25 (Mid-Autumn), plus Sun Sep 20
    assert working_days_between(D(2026, 8, 31), D(2026, 9, 30)) == 22


def test_inverse_over_the_year() -> None:
    start = D(2026, 1, 1)
    for offset in range(0, 360, 7):
        a = start + timedelta(days=offset)
        for n in (1, 5, 20):
            assert working_days_between(a, add_working_days(a, n)) == n


def test_due_on_uses_the_local_day_and_does_not_count_it() -> None:
    # 2026-09-30 00:30 in Shanghai is still 2026-09-29 in UTC
    formed = datetime(2026, 9, 29, 16, 30, tzinfo=UTC)
    assert due_on(formed, 1) == D(2026, 10, 8)
    assert due_on(datetime(2026, 9, 29, 15, 30, tzinfo=UTC), 1) == D(2026, 9, 30)
    # 20 working days from Friday 2026-09-25 (a holiday), formed at 10:00 local
    shanghai = timezone(timedelta(hours=8))
    assert due_on(datetime(2026, 9, 25, 10, tzinfo=shanghai), 20) == D(2026, 10, 29)
    assert due_on(datetime(2026, 9, 25, 10, tzinfo=shanghai), 5) == D(2026, 10, 9)
    assert due_on(datetime(2026, 2, 13, 18, tzinfo=shanghai), 7) == D(2026, 3, 2)
    with pytest.raises(ValueError):
        due_on(datetime(2026, 9, 25, 10), 20)


def test_unknown_year_falls_back_to_monday_to_friday() -> None:
    assert calendar_known(2026) is True
    assert calendar_known(2027) is False
    assert calendar_caveat(2026) is None
    caveat = calendar_caveat(2027)
    assert caveat is not None and "2027" in caveat and "Monday to Friday" in caveat
    assert is_working_day(D(2027, 1, 1)) is True  # a Friday; New Year unknown → worked
    assert is_working_day(D(2027, 10, 1)) is True  # a Friday
    assert is_working_day(D(2027, 1, 2)) is False  # Saturday
    assert add_working_days(D(2026, 12, 31), 1) == D(2027, 1, 1)
    assert add_working_days(D(2027, 1, 1), 1) == D(2027, 1, 4)
    assert due_on(datetime(2027, 1, 8, 9, tzinfo=UTC), 20) == D(2027, 2, 5)
