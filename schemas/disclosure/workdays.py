"""Working days on the Chinese calendar, and the legal deadline of a disclosure record.

**The rule.** Information in the active-disclosure scope of 环发〔2013〕74号 is published
"自该信息形成或者变更之日起20个工作日内" — within 20 working days from the day it is formed or
changed (docs/regulations.md#disclosure-clocks; Hanzhong implementation,
https://static.solidwaste.com.cn/news/123965.html). As in the counting of periods in Chinese
administrative law, the day of forming is **not** counted: the deadline is the 20th working day
*after* the local (Asia/Shanghai) day the information was formed, and a record published on
that day is on time. Each category and record type carries its own number of working days
(``deadline_days`` in ``schemas/codes/data/disclosure_*.csv``: 20 by default, 1 for automatic
monitoring, 7 for penalty decisions); 0 means "the day it is formed", or the next working day
when that is not one.

**Working days** are the days the State Council's annual holiday notice (国务院办公厅关于…部分
节假日安排的通知) does not make holidays: Monday–Friday, except the public holidays, plus the
weekend days declared make-up working days (调休上班, e.g. Sunday 2026-09-20 and Saturday
2026-10-10 around the 2026 National Day holiday). They come from the ``chinesecalendar``
package (``import chinese_calendar``), which follows those notices. The notice for a year is
published late in the year before; for a year the package does not know yet,
:func:`is_working_day` falls back to Monday–Friday, and :func:`calendar_known` says so
(reports carry :func:`calendar_caveat`).
"""

from __future__ import annotations

import functools
from datetime import date, datetime, timedelta

import chinese_calendar  # type: ignore[import-untyped, unused-ignore]

from schemas.core.localtime import LOCAL_TZ

__all__ = [
    "LOCAL_TZ",
    "add_working_days",
    "calendar_caveat",
    "calendar_known",
    "due_on",
    "is_working_day",
    "working_days_between",
]

_DAY = timedelta(days=1)


@functools.cache
def calendar_known(year: int) -> bool:
    """Whether ``chinesecalendar`` has the holiday notice of ``year`` (else Monday–Friday)."""
    try:
        chinese_calendar.is_workday(date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


def calendar_caveat(year: int) -> str | None:
    """A sentence for reports when working days of ``year`` are counted Monday–Friday."""
    if calendar_known(year):
        return None
    return (
        f"{year}年法定节假日及调休安排未收录，工作日按周一至周五计算。 "
        f"The holiday calendar of {year} is not known to this service (chinesecalendar): "
        "working days are counted Monday to Friday, without public holidays and make-up "
        "working days."
    )


@functools.lru_cache(maxsize=4096)
def is_working_day(d: date) -> bool:
    """A working day on the Chinese calendar (make-up working days included, public holidays
    excluded); Monday–Friday for a year :func:`calendar_known` does not know."""
    if calendar_known(d.year):
        return bool(chinese_calendar.is_workday(d))
    return d.weekday() < 5


def add_working_days(start: date, n: int) -> date:
    """The ``n``-th working day after ``start`` (``start`` itself is not counted); for
    ``n == 0``, ``start`` when it is a working day, else the next working day."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    day = start
    if n == 0:
        while not is_working_day(day):
            day += _DAY
        return day
    counted = 0
    while counted < n:
        day += _DAY
        if is_working_day(day):
            counted += 1
    return day


def working_days_between(a: date, b: date) -> int:
    """Working days ``d`` with ``a < d <= b`` (the inverse of :func:`add_working_days`:
    ``working_days_between(a, add_working_days(a, n)) == n`` for ``n >= 1``); negative, with
    the roles swapped, when ``b < a``; 0 when they are the same day."""
    if b < a:
        return -working_days_between(b, a)
    count = 0
    day = a + _DAY
    while day <= b:
        if is_working_day(day):
            count += 1
        day += _DAY
    return count


def due_on(formed_at: datetime, deadline_days: int) -> date:
    """The last day (Asia/Shanghai) to publish information formed at ``formed_at``: the
    ``deadline_days``-th working day after the local day of forming."""
    if formed_at.tzinfo is None or formed_at.utcoffset() is None:
        raise ValueError("formed_at must be timezone-aware")
    return add_working_days(formed_at.astimezone(LOCAL_TZ).date(), deadline_days)
