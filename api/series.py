"""Series points: rows of :mod:`api.queries.measurements` → response models, with the limit in
force on each point's local day and, for valid means, the exceedance judgement
(:func:`schemas.limits.judgement.judge`, the one the evaluator opens cases by).
Raw values and monthly means carry no judgement (no averaging period of a limit applies).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from api.convert import flag_ref, limit_ref, number, pollutant_ref
from api.db import Row
from api.errors import InvalidParameter
from api.queries.limits import LimitCalendar
from api.queries.measurements import KEYS
from api.responses import (
    LOCAL_TZ,
    Coverage,
    DayPoint,
    Exceedance,
    HourPoint,
    MonthPoint,
    Period,
    RawPoint,
    instant,
)
from schemas.limits.judgement import judge, value_to_judge
from schemas.limits.rules import Limit

__all__ = [
    "MODELS",
    "converter",
    "day_bounds",
    "exceedance",
    "hour_documents",
    "key_of",
    "parse_key",
]

MODELS: dict[str, type[BaseModel]] = {
    "raw": RawPoint,
    "hour": HourPoint,
    "day": DayPoint,
    "month": MonthPoint,
}


def _ceil_day(moment: datetime, tz: tzinfo) -> date:
    """The first local day whose midnight is at or after ``moment``."""
    local = moment.astimezone(tz)
    return local.date() if local.time() == time(0) else local.date() + timedelta(days=1)


def _ceil_month(moment: datetime, tz: tzinfo) -> date:
    """The first local month whose first midnight is at or after ``moment``."""
    day = _ceil_day(moment, tz)
    if day.day == 1:
        return day
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def day_bounds(resolution: str, start: datetime, end: datetime, tz: tzinfo) -> tuple[date, date]:
    """Local days (month starts for monthly) whose period starts in [start, end), end exclusive."""
    ceil = _ceil_month if resolution == "month" else _ceil_day
    return ceil(start, tz), ceil(end, tz)


def exceedance(
    limit: Limit | None, valid: bool, mean: Decimal | None, converted: Decimal | None
) -> Exceedance | None:
    """The judgement of a mean, for a valid mean with a limit in force and a value to judge."""
    fields = _exceedance_fields(limit, valid, mean, converted)
    return None if fields is None else Exceedance(**fields)


def _exceedance_fields(
    limit: Limit | None, valid: bool, mean: Decimal | None, converted: Decimal | None
) -> dict[str, Any] | None:
    if limit is None or not valid:
        return None
    value = value_to_judge(limit, mean, converted)
    if value is None:
        return None  # a valid mean that cannot be converted is not judged
    verdict = judge(value, limit)
    return {
        "value": float(value),
        "exceeds": verdict.exceeds,
        "multiple": None if verdict.multiple is None else round(float(verdict.multiple), 4),
    }


# --- Cursor keys ------------------------------------------------------------------------------


def key_of(resolution: str, row: Row) -> tuple[str, ...]:
    """The sort key of a row, as cursor text."""
    return tuple(
        v.isoformat() if isinstance(v, datetime | date) else str(v)
        for v in (row[k] for k in KEYS[resolution])
    )


def parse_key(resolution: str, key: tuple[str, ...]) -> tuple[Any, ...]:
    """A cursor's key back in typed form; :class:`InvalidParameter` for anything else."""
    if len(key) != len(KEYS[resolution]):
        raise InvalidParameter("cursor", f"is not a cursor of resolution {resolution}")
    first, *rest = key
    try:
        when: date | datetime
        if resolution in ("raw", "hour"):
            when = datetime.fromisoformat(first)
            if when.tzinfo is None:
                raise ValueError(first)
        else:
            when = date.fromisoformat(first)
    except ValueError:
        raise InvalidParameter("cursor", f"is not a cursor of resolution {resolution}") from None
    return (when, *rest)


# --- Points -----------------------------------------------------------------------------------


def _period(row: Row) -> Period:
    return Period(start=instant(row["period_start"]), end=instant(row["period_end"]))


def _coverage(row: Row) -> Coverage:
    return Coverage(valid=row["valid_count"], expected=row["expected_count"])


def converter(resolution: str, calendar: LimitCalendar, tz: tzinfo) -> Callable[[Row], BaseModel]:
    """The row → point function of a resolution, bound to the outlet's limits and time zone."""

    def raw(row: Row) -> RawPoint:
        lim = calendar.find(row["pollutant"], "hour", row["ts"].astimezone(tz).date())
        return RawPoint(
            pollutant=pollutant_ref(row),
            kind=row["kind"],
            datetime=instant(row["ts"]),
            value=number(row["value"]),
            min=number(row["min"]),
            max=number(row["max"]),
            cou=number(row["cou"]),
            converted=number(row["zs_value"]),
            flag=flag_ref(row),
            valid=row["valid"],
            revision=row["revision"],
            limit=None if lim is None else limit_ref(lim),
        )

    def hour(row: Row) -> HourPoint:
        lim = calendar.find(row["pollutant"], "hour", row["period_start"].astimezone(tz).date())
        return HourPoint(
            pollutant=pollutant_ref(row),
            datetime=instant(row["period_end"]),
            period=_period(row),
            source=row["source"],
            mean=number(row["mean"]),
            converted=number(row["converted"]),
            zs_reported=number(row["zs_reported"]),
            o2=number(row["o2_mean"]),
            valid=row["valid"],
            reason=row["reason"],
            coverage=_coverage(row),
            flags=row["flags"] or {},
            limit=None if lim is None else limit_ref(lim),
            exceedance=exceedance(lim, row["valid"], row["mean"], row["converted"]),
        )

    def day(row: Row) -> DayPoint:
        lim = calendar.find(row["pollutant"], "day", row["day"])
        return DayPoint(
            pollutant=pollutant_ref(row),
            date=row["day"],
            datetime=instant(row["period_end"]),
            period=_period(row),
            source=row["source"],
            mean=number(row["mean"]),
            converted=number(row["converted"]),
            zs_reported=number(row["zs_reported"]),
            o2=number(row["o2_mean"]),
            valid=row["valid"],
            reason=row["reason"],
            coverage=_coverage(row),
            limit=None if lim is None else limit_ref(lim),
            exceedance=exceedance(lim, row["valid"], row["mean"], row["converted"]),
        )

    def month(row: Row) -> MonthPoint:
        return MonthPoint(
            pollutant=pollutant_ref(row),
            month=row["month"].strftime("%Y-%m"),
            datetime=instant(row["period_end"]),
            period=_period(row),
            mean=number(row["mean"]),
            converted=number(row["converted"]),
            zs_reported=number(row["zs_reported"]),
            coverage=_coverage(row),
            days_with_data=row["days_with_data"],
            limit=None,
        )

    functions: dict[str, Callable[[Row], BaseModel]] = {
        "raw": raw,
        "hour": hour,
        "day": day,
        "month": month,
    }
    return functions[resolution]


# --- Hourly points as plain documents ---------------------------------------------------------
# A year of hourly means is 8,760 points: building and dumping a pydantic model per point was
# most of the time of such a response (bench/README.md). These build the same documents
# (``HourPoint(...).model_dump(mode="json")``, key for key in the model's field order) from the
# rows directly; tests/api/test_series_documents.py compares the two.


def _utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _instant_doc(moment: datetime) -> dict[str, str]:
    return {"utc": _utc_text(moment), "local": moment.astimezone(LOCAL_TZ).isoformat()}


def hour_documents(calendar: LimitCalendar, tz: tzinfo) -> Callable[[Row], dict[str, Any]]:
    """The row → document function of hourly points, bound to the outlet's limits and zone."""
    pollutants: dict[str, dict[str, Any]] = {}
    limits: dict[int, dict[str, Any]] = {}  # by id() of the calendar's Limit objects

    def pollutant_doc(row: Row) -> dict[str, Any]:
        code = row["pollutant"]
        doc = pollutants.get(code)
        if doc is None:
            doc = pollutants[code] = pollutant_ref(row).model_dump(mode="json")
        return doc

    def limit_doc(lim: Limit) -> dict[str, Any]:
        doc = limits.get(id(lim))
        if doc is None:
            doc = limits[id(lim)] = limit_ref(lim).model_dump(mode="json")
        return doc

    def hour(row: Row) -> dict[str, Any]:
        start, end = row["period_start"], row["period_end"]
        lim = calendar.find(row["pollutant"], "hour", start.astimezone(tz).date())
        mean, converted = row["mean"], row["converted"]
        end_doc = _instant_doc(end)
        return {
            "pollutant": pollutant_doc(row),
            "datetime": end_doc,
            "period": {"start": _instant_doc(start), "end": end_doc},
            "mean": None if mean is None else float(mean),
            "converted": None if converted is None else float(converted),
            "zs_reported": number(row["zs_reported"]),
            "coverage": {"valid": row["valid_count"], "expected": row["expected_count"]},
            "limit": None if lim is None else limit_doc(lim),
            "source": row["source"],
            "o2": number(row["o2_mean"]),
            "valid": row["valid"],
            "reason": row["reason"],
            "flags": row["flags"] or {},
            "exceedance": _exceedance_fields(lim, row["valid"], mean, converted),
        }

    return hour
