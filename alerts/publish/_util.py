"""Small helpers shared by the publishers: rounding, local time, pollutant names."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

__all__ = ["local_midnight", "month_bounds", "pollutant_names", "q"]


def q(value: Decimal | float | None, places: str = "0.001") -> Decimal | None:
    """``value`` rounded half up to ``places`` (the published, hashed form), or None."""
    if value is None:
        return None
    return Decimal(str(value)).quantize(Decimal(places), rounding=ROUND_HALF_UP)


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """The start of a local day, in UTC."""
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def month_bounds(month: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """Start and end (exclusive) of the local month holding ``month``, in UTC."""
    first = month.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return local_midnight(first, tz), local_midnight(following, tz)


def pollutant_names(conn: psycopg.Connection[Any]) -> dict[str, tuple[str, str, str | None]]:
    """name_zh, name_en and concentration unit per pollutant code."""
    rows = conn.execute("SELECT code, name_zh, name_en, unit_en FROM pollutants").fetchall()
    return {code: (zh, en, unit) for code, zh, en, unit in rows}
