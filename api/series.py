"""Series points: rows of :mod:`api.queries.measurements` → response models, with the limit in
force on each point's local day and, for valid means, the exceedance judgement
(:func:`schemas.limits.judgement.judge`, the one the evaluator opens cases by).
Raw values and monthly means carry no judgement (no averaging period of a limit applies).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from api.convert import flag_ref, limit_ref, number, pollutant_ref
from api.db import Row
from api.errors import InvalidParameter
from api.queries.limits import LimitCalendar
from api.queries.measurements import KEYS
from api.render import csv_cell, csv_columns
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
from schemas.core import csvcells
from schemas.core.csvcells import TRIGGERS, safe_cell
from schemas.limits.judgement import judge, value_to_judge
from schemas.limits.rules import Limit

__all__ = [
    "MODELS",
    "converter",
    "day_bounds",
    "exceedance",
    "hour_csv_lines",
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


class _Instants:
    """An instant's two texts (UTC, local), computed once: an hour's end is the next hour's
    start, and every pollutant of an hour has the same period. Keeps the last few only."""

    def __init__(self) -> None:
        self._known: dict[datetime, dict[str, str]] = {}

    def __call__(self, moment: datetime) -> dict[str, str]:
        doc = self._known.get(moment)
        if doc is None:
            if len(self._known) >= 64:
                self._known.clear()
            doc = self._known[moment] = {
                "utc": _utc_text(moment),
                "local": moment.astimezone(LOCAL_TZ).isoformat(),
            }
        return doc


class _HourLimits:
    """The hourly limit in force at a point's start (:meth:`LimitCalendar.find` on its local
    day), looked up once per pollutant and day."""

    def __init__(self, calendar: LimitCalendar, tz: tzinfo) -> None:
        self._calendar = calendar
        self._tz = tz
        self._known: dict[tuple[str, date], Limit | None] = {}

    def __call__(self, pollutant: str, start: datetime) -> Limit | None:
        key = (pollutant, start.astimezone(self._tz).date())
        try:
            return self._known[key]
        except KeyError:
            if len(self._known) >= 256:
                self._known.clear()
            lim = self._known[key] = self._calendar.find(pollutant, "hour", key[1])
            return lim


def hour_documents(calendar: LimitCalendar, tz: tzinfo) -> Callable[[Row], dict[str, Any]]:
    """The row → document function of hourly points, bound to the outlet's limits and zone."""
    pollutants: dict[str, dict[str, Any]] = {}
    limits: dict[int, dict[str, Any]] = {}  # by id() of the calendar's Limit objects
    instant_doc = _Instants()
    limit_at = _HourLimits(calendar, tz)

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
        start = row["period_start"]
        lim = limit_at(row["pollutant"], start)
        mean, converted, zs_reported, o2 = (
            row["mean"],
            row["converted"],
            row["zs_reported"],
            row["o2_mean"],
        )
        end_doc = instant_doc(row["period_end"])
        return {
            "pollutant": pollutant_doc(row),
            "datetime": end_doc,
            "period": {"start": instant_doc(start), "end": end_doc},
            "mean": None if mean is None else float(mean),
            "converted": None if converted is None else float(converted),
            "zs_reported": None if zs_reported is None else float(zs_reported),
            "coverage": {"valid": row["valid_count"], "expected": row["expected_count"]},
            "limit": None if lim is None else limit_doc(lim),
            "source": row["source"],
            "o2": None if o2 is None else float(o2),
            "valid": row["valid"],
            "reason": row["reason"],
            "flags": row["flags"] or {},
            "exceedance": _exceedance_fields(lim, row["valid"], mean, converted),
        }

    return hour


# --- Hourly points as CSV ---------------------------------------------------------------------
# The generic writer (api.render.csv_lines) walks every column path of every document and checks
# every cell for a formula. This one writes the same CSV, byte for byte, from the rows: the
# pollutant's and the limit's cells formatted once, the instants' texts once, and only cells
# that can hold text checked (schemas.core.csvcells.safe_cell). tests/api/test_series_documents.py
# compares the two.

_HOUR_COLUMNS = csv_columns(HourPoint)
_POLLUTANT_COLUMNS = [c for c in _HOUR_COLUMNS if c[0] == "pollutant"]
_LIMIT_COLUMNS = [c for c in _HOUR_COLUMNS if c[0] == "limit"]
_NO_LIMIT = ("",) * len(_LIMIT_COLUMNS)
# The order the rows below are written in; an import error if the model's columns change.
assert [c[0] for c in _HOUR_COLUMNS] == (
    ["pollutant"] * len(_POLLUTANT_COLUMNS)
    + ["datetime"] * 2
    + ["period"] * 4
    + ["mean", "converted", "zs_reported", "coverage", "coverage"]
    + ["limit"] * len(_LIMIT_COLUMNS)
    + ["source", "o2", "valid", "reason", "flags"]
    + ["exceedance"] * 3
), _HOUR_COLUMNS


def _cells(document: dict[str, Any], columns: list[tuple[str, ...]]) -> tuple[str, ...]:
    return tuple(safe_cell(csv_cell(document, path)) for path in columns)


def _number_cell(value: Any) -> str:
    if value is None:
        return ""
    text = str(float(value))
    return safe_cell(text) if text.startswith(TRIGGERS) else text


def hour_csv_lines(
    calendar: LimitCalendar, tz: tzinfo, rows: Iterable[Row], batch: int = 500
) -> Iterator[bytes]:
    """The CSV of hourly points (:func:`api.render.csv_lines` of ``HourPoint``) from their rows:
    the header line, then ``batch`` lines at a time, UTF-8."""
    pollutants: dict[str, tuple[str, ...]] = {}
    limits: dict[int, tuple[str, ...]] = {}
    instant_doc = _Instants()
    limit_at = _HourLimits(calendar, tz)
    buffer = io.StringIO()
    csvcells.writer(buffer).writerow("_".join(path) for path in _HOUR_COLUMNS)
    write = csvcells.checked_writer(buffer).writerow  # text cells checked below

    for count, row in enumerate(rows, 1):
        code = row["pollutant"]
        pollutant = pollutants.get(code)
        if pollutant is None:
            document = {"pollutant": pollutant_ref(row).model_dump(mode="json")}
            pollutant = pollutants[code] = _cells(document, _POLLUTANT_COLUMNS)
        start = row["period_start"]
        lim = limit_at(code, start)
        if lim is None:
            limit = _NO_LIMIT
        else:
            limit = limits.get(id(lim))  # type: ignore[assignment]
            if limit is None:
                document = {"limit": limit_ref(lim).model_dump(mode="json")}
                limit = limits[id(lim)] = _cells(document, _LIMIT_COLUMNS)
        valid, mean, converted = row["valid"], row["mean"], row["converted"]
        judged = _exceedance_fields(lim, valid, mean, converted)
        if judged is None:
            exceedance: tuple[str, ...] = ("", "", "")
        else:
            multiple = judged["multiple"]
            exceedance = (
                _number_cell(judged["value"]),
                "true" if judged["exceeds"] else "false",
                "" if multiple is None else _number_cell(multiple),
            )
        source, reason = row["source"], row["reason"]
        end, begin = instant_doc(row["period_end"]), instant_doc(start)
        write(
            (
                *pollutant,
                end["utc"],
                end["local"],
                begin["utc"],
                begin["local"],
                end["utc"],
                end["local"],
                _number_cell(mean),
                _number_cell(converted),
                _number_cell(row["zs_reported"]),
                "" if row["valid_count"] is None else str(row["valid_count"]),
                "" if row["expected_count"] is None else str(row["expected_count"]),
                *limit,
                "" if source is None else safe_cell(source),
                _number_cell(row["o2_mean"]),
                "" if valid is None else ("true" if valid else "false"),
                "" if reason is None else safe_cell(reason),
                safe_cell(csv_cell(row["flags"] or {}, ())),
                *exceedance,
            )
        )
        if count % batch == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()
