"""What an outlet is expected to send, from the registry (``outlets``: ``rtd_interval_s``,
``expects_minute`` with ``minute_interval_min``, ``expects_hour``, ``expects_day``).

Per pollutant, data kind and UTC hour:

- real-time (``rtd``, 2011): 3600 / ``rtd_interval_s`` records, when an interval is registered;
- minute (``min``, 2051): 60 / ``minute_interval_min`` records;
- hour (``hour``, 2061): 1 record;
- day (``day``, 2031): 1 record in the hour that starts the outlet's local calendar day.

Which pollutants: those the outlet has reported in an expected kind (in the completeness
record), each from the first hour it was received; the registry does not list them. So an outlet
is expected to report from its first data on, and a silent outlet that never reported expects
nothing here (``sourcewatch check`` reports it as never heard). A deactivated outlet is expected
to report until its last data (the registry does not say when it was deactivated). Hours are
counted while they are in the past: the caller cuts the period at the current hour
(:func:`completed_until`).

:data:`BASE_CTES` is the SQL of the registry's side (CTEs ``o``, ``kinds`` with the records
per hour, ``pollutants`` with the first hour of each, ``until``: the end of expectations);
:data:`HOURLY_CTES` adds this rule hour by hour (CTEs ``hours`` and ``expected (pollutant,
kind, hour_start, expected)``). Parameters ``outlet``, ``start`` and ``end``: UTC hours,
``start`` included, ``end`` excluded. :func:`per_hour` is the same rule in Python, for one hour.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

__all__ = ["BASE_CTES", "HOURLY_CTES", "KINDS", "KIND_NAMES", "completed_until", "per_hour"]

KINDS = ("rtd", "min", "hour", "day")
# The data kinds by their HJ 212 names (CN 2011, 2051, 2061, 2031): (zh, en)
KIND_NAMES = {
    "rtd": ("实时数据", "real-time data"),
    "min": ("分钟数据", "minute data"),
    "hour": ("小时数据", "hourly data"),
    "day": ("日数据", "daily data"),
}

BASE_CTES = """o AS (
    SELECT id, timezone, rtd_interval_s, expects_minute, minute_interval_min, expects_hour,
           expects_day, active
    FROM outlets WHERE id = %(outlet)s
), kinds AS (
    SELECT k.kind, k.per_hour
    FROM o CROSS JOIN LATERAL (VALUES
        ('rtd', 3600 / o.rtd_interval_s),
        ('min', CASE WHEN o.expects_minute THEN 60 / o.minute_interval_min END),
        ('hour', CASE WHEN o.expects_hour THEN 1 END),
        ('day', CASE WHEN o.expects_day THEN 1 END)
    ) AS k (kind, per_hour)
    WHERE k.per_hour IS NOT NULL
), pollutants AS (
    SELECT c.pollutant, min(c.hour_start) AS since
    FROM completeness c JOIN kinds k ON k.kind = c.kind
    WHERE c.outlet_id = %(outlet)s AND c.hour_start < %(end)s
    GROUP BY c.pollutant
), until AS (
    SELECT CASE WHEN o.active THEN 'infinity'::timestamptz
                ELSE (SELECT max(c.hour_start) + interval '1 hour' FROM completeness c
                      WHERE c.outlet_id = %(outlet)s) END AS hour_end
    FROM o
)"""

# Appended to BASE_CTES: one row per hour of [start, end), pollutant and kind with the records due.
HOURLY_CTES = """, hours AS (
    SELECT h AS hour_start
    FROM generate_series(%(start)s::timestamptz, %(end)s::timestamptz - interval '1 hour',
                         interval '1 hour') AS h
    CROSS JOIN until WHERE h < until.hour_end
), expected AS (
    SELECT p.pollutant, k.kind, h.hour_start,
           CASE WHEN k.kind <> 'day' THEN k.per_hour
                WHEN (h.hour_start AT TIME ZONE o.timezone)::time = time '00:00' THEN 1
                ELSE 0 END AS expected
    FROM o CROSS JOIN kinds k CROSS JOIN pollutants p
    JOIN hours h ON h.hour_start >= p.since
)"""


def per_hour(
    hour_start: datetime,
    *,
    timezone: str = "Asia/Shanghai",
    rtd_interval_s: int | None = None,
    expects_minute: bool = True,
    minute_interval_min: int = 1,
    expects_hour: bool = True,
    expects_day: bool = False,
) -> dict[str, int]:
    """Records of each expected kind due in the hour starting at ``hour_start`` (aware)."""
    due: dict[str, int] = {}
    if rtd_interval_s is not None:
        due["rtd"] = 3600 // rtd_interval_s
    if expects_minute:
        due["min"] = 60 // minute_interval_min
    if expects_hour:
        due["hour"] = 1
    if expects_day:
        local = hour_start.astimezone(ZoneInfo(timezone))
        due["day"] = 1 if (local.hour, local.minute) == (0, 0) else 0
    return due


def completed_until(end: datetime, now: datetime) -> datetime:
    """``end``, or the start of the current hour when that is earlier (a running hour is not
    counted yet)."""
    return min(end, now.replace(minute=0, second=0, microsecond=0))
