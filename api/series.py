"""Series points: rows of :mod:`api.queries.measurements` → response models, with the limit in
force on each point's local day and, for valid means, the exceedance judgement
(:func:`schemas.limits.judgement.judge`, the one the evaluator opens cases by).
Raw values and monthly means carry no judgement (no averaging period of a limit applies).
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from api.convert import flag_ref, limit_ref, number, pollutant_ref
from api.db import Row
from api.errors import InvalidParameter
from api.queries.limits import LimitCalendar
from api.queries.measurements import HOUR_CSV_COLUMNS, HOUR_JSON_COLUMNS, KEYS
from api.render import csv_cell, csv_columns
from api.responses import (
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
from schemas.limits.judgement import Judgement, judge, value_to_judge
from schemas.limits.rules import Limit

__all__ = [
    "MODELS",
    "converter",
    "day_bounds",
    "exceedance",
    "hour_csv_lines",
    "hour_json_points",
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


@dataclass(frozen=True, slots=True)
class _Verdict:
    judgement: Judgement
    value_is_converted: bool  # else the measured mean (value_to_judge)


def _judged(
    limit: Limit | None, valid: bool | None, mean: Decimal | None, converted: Decimal | None
) -> _Verdict | None:
    """The judgement of a valid mean with a limit in force and a value to judge."""
    if limit is None or not valid:
        return None
    value = value_to_judge(limit, mean, converted)
    if value is None:
        return None  # a valid mean that cannot be converted is not judged
    return _Verdict(judge(value, limit), value is converted and value is not mean)


def _exceedance_fields(
    limit: Limit | None, valid: bool, mean: Decimal | None, converted: Decimal | None
) -> dict[str, Any] | None:
    verdict = _judged(limit, valid, mean, converted)
    if verdict is None:
        return None
    judgement = verdict.judgement
    return {
        "value": float(judgement.value),
        "exceeds": judgement.exceeds,
        "multiple": None if judgement.multiple is None else round(float(judgement.multiple), 4),
    }


# --- Cursor keys ------------------------------------------------------------------------------


def _key_text(value: Any) -> str:
    if isinstance(value, datetime):  # in UTC, whatever the zone the transaction read it in
        return value.astimezone(UTC).isoformat()
    return value.isoformat() if isinstance(value, date) else str(value)


def key_of(resolution: str, row: Row) -> tuple[str, ...]:
    """The sort key of a row, as cursor text."""
    return tuple(_key_text(row[k]) for k in KEYS[resolution])


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
            in_progress=row["in_progress"],
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
            in_progress=row["in_progress"],
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
            in_progress=row["in_progress"],
            limit=None,
        )

    functions: dict[str, Callable[[Row], BaseModel]] = {
        "raw": raw,
        "hour": hour,
        "day": day,
        "month": month,
    }
    return functions[resolution]


# --- Hourly points as JSON --------------------------------------------------------------------
# A year of hourly means is 8,760 points: building and dumping a pydantic model per point was
# most of the time of such a response (bench/README.md), and then building a dict per point.
# PostgreSQL now writes each point's JSON (api.queries.measurements.hour_json_rows) but for the
# members that need Python: the pollutant (once per pollutant), the limit in force (once per
# limit) and the exceedance judgement (schemas.limits.judgement.judge).
# tests/api/test_series_documents.py compares the result with the models' JSON.


class _HourLimits:
    """The hourly limit in force at a point's start (:meth:`LimitCalendar.find` on its local
    day in the outlet's zone, which the query gives), looked up once per pollutant and day."""

    def __init__(self, calendar: LimitCalendar) -> None:
        self._calendar = calendar
        self._known: dict[tuple[str, str], Limit | None] = {}

    def on_text(self, pollutant: str, day: str) -> Limit | None:
        """The limit on a local day given as ISO text (``2025-01-01``)."""
        key = (pollutant, day)
        try:
            return self._known[key]
        except KeyError:
            if len(self._known) >= 256:
                self._known.clear()
            lim = self._calendar.find(pollutant, "hour", date.fromisoformat(day))
            self._known[key] = lim
            return lim


def hour_json_points(calendar: LimitCalendar, rows: Iterable[tuple[Any, ...]]) -> Iterator[bytes]:
    """Each point's JSON (an ``HourPoint``'s members, in its order), UTF-8, from rows of
    :func:`api.queries.measurements.hour_json_rows`. The pieces with names (the pollutant's,
    the limit's with its source document) are encoded once per pollutant and limit, and found
    once per pollutant and local day (:class:`_HourPieces`); what is written per point (the
    query's texts, the judgement) is ASCII unless a text holds more, so encoding it is a copy,
    where a point composed as one text with a Chinese name in it would be encoded two bytes a
    character (bench/README.md, ninth round)."""
    pieces = _HourPieces(calendar)
    known = pieces.known
    for row in rows:
        key = (row[0], row[5])  # the pollutant, the local day
        found = known.get(key)
        if found is None:
            found = pieces.find(row)
        pollutant, limit, lim, judges_converted = found
        exceedance = b"null}"
        if lim is not None and row[9]:  # a valid mean, with a limit in force
            text = row[8] if judges_converted else row[7]
            if text is not None:  # (a valid mean that cannot be converted is not judged)
                exceedance = _exceedance_json(text, lim)
        yield b"".join(
            (pollutant, row[6].encode(), limit, row[10].encode(), b',"exceedance":', exceedance)
        )


class _HourPieces:
    """Per pollutant and local day of hourly points: the pollutant's JSON, the JSON of the
    hourly limit in force (:meth:`LimitCalendar.find` on the point's local day in the outlet's
    zone, which the query gives), the limit, and whether it judges the converted mean; each
    JSON encoded once."""

    def __init__(self, calendar: LimitCalendar) -> None:
        self._calendar = calendar
        self.known: dict[tuple[str, str], tuple[bytes, bytes, Limit | None, bool]] = {}
        self._pollutants: dict[str, bytes] = {}  # by code: b'{"pollutant":…,'
        self._limits: dict[int, tuple[bytes, bool]] = {}  # by limit: b',"limit":…,'

    def find(self, row: tuple[Any, ...]) -> tuple[bytes, bytes, Limit | None, bool]:
        code, day = row[0], row[5]
        pollutant = self._pollutants.get(code)
        if pollutant is None:
            names = dict(zip(HOUR_JSON_COLUMNS[:5], row[:5], strict=True))
            ref = pollutant_ref(names).model_dump_json()
            pollutant = self._pollutants[code] = f'{{"pollutant":{ref},'.encode()
        lim = self._calendar.find(code, "hour", date.fromisoformat(day))
        limit, judges_converted = _NULL_LIMIT, False
        if lim is not None:
            known_limit = self._limits.get(id(lim))
            if known_limit is None:
                text = f',"limit":{limit_ref(lim).model_dump_json()},'.encode()
                known_limit = self._limits[id(lim)] = (text, _judges_converted(lim))
            limit, judges_converted = known_limit
        if len(self.known) >= 1024:
            self.known.clear()
        found = self.known[(code, day)] = (pollutant, limit, lim, judges_converted)
        return found


def _exceedance_json(text: str, lim: Limit) -> bytes:
    """The exceedance member's JSON (and the point's closing brace) of a valid mean whose
    judged value's text (the stored digits) is ``text``: the multiple rounded to 4 places,
    as published."""
    judgement = judge(Decimal(text), lim)
    multiple = judgement.multiple
    return (
        f'{{"value":{text},"exceeds":{_BOOL[judgement.exceeds]},"multiple":'
        f"{'null' if multiple is None else repr(round(float(multiple), 4))}}}}}"
    ).encode()


_NULL_LIMIT = b',"limit":null,'


# value_to_judge returns one of its arguments: which one, for a limit, asked once with these
_MEASURED, _CONVERTED = Decimal(0), Decimal(1)


def _judges_converted(lim: Limit) -> bool:
    """Whether ``lim`` judges a mean's converted value (else the measured one)."""
    return value_to_judge(lim, _MEASURED, _CONVERTED) is _CONVERTED


def _row_verdict(
    lim: Limit,
    judges_converted: bool,
    valid: bool | None,
    mean: str | None,
    converted: str | None,
) -> tuple[str, str, float | None] | None:
    """The judgement of a point given by its numerics' texts (as :func:`_judged`, parsing only
    the value judged): the judged value's text (the stored digits), ``true``/``false``, and the
    multiple rounded to 4 places (as published)."""
    if not valid:
        return None
    text = converted if judges_converted else mean
    if text is None:
        return None  # a valid mean that cannot be converted is not judged
    judgement = judge(Decimal(text), lim)
    multiple = judgement.multiple
    return (
        text,
        _BOOL[judgement.exceeds],
        None if multiple is None else round(float(multiple), 4),
    )


# --- Hourly points as CSV ---------------------------------------------------------------------
# The generic writer (api.render.csv_lines) walks every column path of every document and checks
# every cell for a formula. This one writes the same columns from rows of
# api.queries.measurements.hour_csv_rows, in which PostgreSQL has already written the numbers
# and instants: Python only adds the pollutant's and the limit's cells (formatted once per
# pollutant and limit), the text cells (checked and quoted once per distinct text by
# schemas.core.csvcells.text_cell), the flags' JSON (once per distinct flags) and the
# exceedance judgement. Numbers are the stored numeric's digits (``50.00``), where the generic
# writer writes the float's (``50.0``); tests/api/test_series_documents.py compares the two.

_HOUR_COLUMNS = csv_columns(HourPoint)
_POLLUTANT_COLUMNS = [c for c in _HOUR_COLUMNS if c[0] == "pollutant"]
_LIMIT_COLUMNS = [c for c in _HOUR_COLUMNS if c[0] == "limit"]
_NO_LIMIT = "," * (len(_LIMIT_COLUMNS) - 1)
# The order the rows below are written in; an import error if the model's columns change.
assert [c[0] for c in _HOUR_COLUMNS] == (
    ["pollutant"] * len(_POLLUTANT_COLUMNS)
    + ["datetime"] * 2
    + ["period"] * 4
    + ["mean", "converted", "zs_reported", "coverage", "coverage"]
    + ["limit"] * len(_LIMIT_COLUMNS)
    + ["source", "o2", "valid", "in_progress", "reason", "flags"]
    + ["exceedance"] * 3
), _HOUR_COLUMNS
assert HOUR_CSV_COLUMNS[:16] == (
    "pollutant", "p_name_zh", "p_name_en", "p_unit_zh", "p_unit_en", "local_day", "head",
    "mean", "converted", "valid", "in_progress", "source", "o2", "reason", "flags",
    "period_start",
)  # fmt: skip

_BOOL = {None: "", True: "true", False: "false"}


def _cells(document: dict[str, Any], columns: list[tuple[str, ...]]) -> str:
    return ",".join(csvcells.text_cell(csv_cell(document, path)) for path in columns)


def _number_cell(value: Any) -> str:
    if value is None:
        return ""
    text = str(float(value))
    return safe_cell(text) if text.startswith(TRIGGERS) else text


class _Texts:
    """Text → its CSV cell, kept for the texts seen last (a series repeats its sources, reasons
    and flags)."""

    def __init__(self, cell: Callable[[str], str]) -> None:
        self._cell = cell
        self._known: dict[str | None, str] = {None: ""}

    def __call__(self, text: str | None) -> str:
        try:
            return self._known[text]
        except KeyError:
            if len(self._known) >= 1024:
                self._known = {None: ""}
            cell = self._known[text] = self._cell(text)  # type: ignore[arg-type]
            return cell


def _flags_cell(text: str) -> str:
    """The flags' jsonb text as the JSON cell of :func:`api.render.csv_cell` (compact)."""
    return csvcells.text_cell(csv_cell(json.loads(text) or {}, ()))


def hour_csv_lines(
    calendar: LimitCalendar, rows: Iterable[tuple[Any, ...]], batch: int = 1000
) -> Iterator[bytes]:
    """The CSV of hourly points (the columns of :func:`api.render.csv_lines` of ``HourPoint``)
    from rows of :func:`api.queries.measurements.hour_csv_rows`: the header line, then
    ``batch`` lines at a time, UTF-8."""
    pollutants: dict[str, str] = {}
    limits: dict[int, str] = {}
    converts: dict[int, bool] = {}  # by limit: judges the converted value
    limit_on = _HourLimits(calendar).on_text
    text = _Texts(csvcells.text_cell)
    flags_cell = _Texts(_flags_cell)
    buffer = io.StringIO()
    csvcells.writer(buffer).writerow("_".join(path) for path in _HOUR_COLUMNS)
    lines: list[str] = []
    for row in rows:
        code, day, head, mean, converted, valid = row[0], row[5], row[6], row[7], row[8], row[9]
        pollutant = pollutants.get(code)
        if pollutant is None:
            names = dict(zip(HOUR_CSV_COLUMNS[:5], row[:5], strict=True))
            document = {"pollutant": pollutant_ref(names).model_dump(mode="json")}
            pollutant = pollutants[code] = _cells(document, _POLLUTANT_COLUMNS)
        lim = limit_on(code, day)
        exceedance = ",,"
        if lim is None:
            limit = _NO_LIMIT
        else:
            limit = limits.get(id(lim))  # type: ignore[assignment]
            if limit is None:
                document = {"limit": limit_ref(lim).model_dump(mode="json")}
                limit = limits[id(lim)] = _cells(document, _LIMIT_COLUMNS)
                converts[id(lim)] = _judges_converted(lim)
            verdict = _row_verdict(lim, converts[id(lim)], valid, mean, converted)
            if verdict is not None:
                value, exceeds, multiple = verdict
                exceedance = (
                    f"{value},{exceeds},{'' if multiple is None else _number_cell(multiple)}"
                )
        lines.append(
            f"{pollutant},{head},{limit},{text(row[11])},{row[12]},{_BOOL[valid]},{row[10]},"
            f"{text(row[13])},{flags_cell(row[14] or '{}')},{exceedance}\r\n"
        )
        if len(lines) >= batch:
            buffer.write("".join(lines))
            lines.clear()
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    buffer.write("".join(lines))
    yield buffer.getvalue().encode()
