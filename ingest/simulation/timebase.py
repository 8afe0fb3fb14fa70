"""Instants as integer Unix-epoch milliseconds; local time is Asia/Shanghai (HJ 212 DataTime)."""

from __future__ import annotations

from datetime import datetime

from schemas.core.localtime import LOCAL_TZ

__all__ = [
    "DAY_MS",
    "HOUR_MS",
    "MINUTE_MS",
    "data_time_text",
    "from_ms",
    "local_day",
    "qn_text",
    "to_ms",
]


MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
_OFFSET_MS = 8 * HOUR_MS  # China Standard Time; no daylight saving since 1991


def to_ms(t: datetime) -> int:
    """Epoch milliseconds of ``t``; a naive ``t`` is taken as Asia/Shanghai local time."""
    if t.tzinfo is None:
        t = t.replace(tzinfo=LOCAL_TZ)
    return round(t.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    """The instant as an aware Asia/Shanghai datetime."""
    return datetime.fromtimestamp(ms / 1000, tz=LOCAL_TZ)


def local_day(ms: int) -> int:
    """Days since 1970-01-01 in Asia/Shanghai local time."""
    return (ms + _OFFSET_MS) // DAY_MS


def data_time_text(ms: int) -> str:
    """HJ 212 ``DataTime``: local ``YYYYMMDDhhmmss``."""
    return from_ms(ms).strftime("%Y%m%d%H%M%S")


def qn_text(ms: int) -> str:
    """HJ 212 ``QN``: local ``YYYYMMDDhhmmsszzz``."""
    return f"{from_ms(ms - ms % 1000).strftime('%Y%m%d%H%M%S')}{ms % 1000:03d}"
