"""When a period has not ended: the one rule behind ``in_progress`` (API JSON and CSV, the
widgets), the staff console's case page, the bulk dumps and the evidence bundle of a case
(:mod:`schemas.cases.evidence`, in progress at the bundle's generation time). Here in
``schemas.core`` (it was ``api/periods.py``) so that the bundle, in ``schemas``, which imports
no app package, and the API share it.

A period is in progress while its end is after the server's now: the running hour, the current
local day. Its stored mean, ``valid`` and ``reason`` are the judgement of the data so far (26
valid minutes of 60 is where the hour stands, not a data-quality failure), so it is shown as
进行中 / in progress, not as invalid, and published snapshots leave it out.

SQL compares the stored columns with the bounds below (no arithmetic per row):
``hour_start > running_from(now)`` and ``day >= local_today(now, tz)``.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

__all__ = [
    "day_in_progress",
    "hour_in_progress",
    "local_today",
    "period_in_progress",
    "running_from",
]

_HOUR = timedelta(hours=1)


def running_from(now: datetime) -> datetime:
    """An hour that starts after this instant (now − 1 h) ends after now: it is in progress."""
    return now - _HOUR


def local_today(now: datetime, tz: tzinfo) -> date:
    """The local day of ``now`` in ``tz``: it and the days after it are in progress."""
    return now.astimezone(tz).date()


def hour_in_progress(hour_start: datetime, now: datetime) -> bool:
    return hour_start > running_from(now)


def day_in_progress(day: date, now: datetime, tz: tzinfo) -> bool:
    return day >= local_today(now, tz)


def period_in_progress(start: datetime, length: str | None, timezone: str, now: datetime) -> bool:
    """A judged period of a case (``length`` "hour" or "day", the outlet's ``timezone``
    naming its local days) that has not ended."""
    if length == "day":
        tz = ZoneInfo(timezone)
        return day_in_progress(start.astimezone(tz).date(), now, tz)
    return hour_in_progress(start, now)
