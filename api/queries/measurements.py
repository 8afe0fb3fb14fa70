"""An outlet's series at four resolutions, keyset-paged.

* raw — ``measurements`` rows as sent, each with its flag's names and validity
  (``data_flags.valid`` for the logger's protocol, and a value present);
* hour — ``hourly_means``; day — ``daily_means``;
* month — the mean of the valid daily means of each local calendar month, with the count of
  valid days against the days of the month.

A point belongs to the request when its period *starts* in [start, end). Points are sorted by
time then pollutant (then data kind for raw); :data:`KEYS` are the sort keys a cursor carries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from psycopg import sql

from api.aggregates import HourlyAggregate
from api.db import Statement
from api.queries.common import limit_offset
from schemas.core.periods import local_today, running_from

__all__ = [
    "HOUR_CSV_COLUMNS",
    "HOUR_JSON_COLUMNS",
    "KEYS",
    "SeriesFilter",
    "count",
    "hour_csv_rows",
    "hour_json_rows",
    "instant_cells",
    "instant_json",
    "points",
]

KEYS: dict[str, tuple[str, ...]] = {
    "raw": ("ts", "pollutant", "kind"),
    "hour": ("period_start", "pollutant"),
    "day": ("day", "pollutant"),
    "month": ("month", "pollutant"),
}

_POLLUTANT = sql.SQL(
    ", p.name_zh AS p_name_zh, p.name_en AS p_name_en, p.unit_zh AS p_unit_zh, "
    "p.unit_en AS p_unit_en"
)
_POLLUTANT_JOIN = "LEFT JOIN pollutants p ON p.code = {}.pollutant"

_RAW = sql.SQL(
    """SELECT m.pollutant{pollutant}, m.kind, m.ts, m.value, m.min, m.max, m.cou, m.zs_value,
       m.flag, f.name_zh AS flag_name_zh, f.name_en AS flag_name_en,
       (coalesce(f.valid, false) AND m.value IS NOT NULL) AS valid, m.revision
FROM measurements m
{pollutant_join}
LEFT JOIN data_flags f ON f.standard = %(flag_standard)s AND f.code = m.flag
WHERE m.outlet_id = %(outlet)s AND m.ts >= %(start)s AND m.ts < %(end)s {pollutant_is} {kind_is}"""
)

_HOUR = sql.SQL(
    """SELECT h.pollutant{pollutant}, h.hour_start AS period_start,
       h.hour_start + interval '1 hour' AS period_end, h.source, h.mean, h.converted,
       h.zs_reported, h.o2_mean, h.valid_count, h.expected_count, h.valid,
       h.hour_start > %(running_from)s AS in_progress, h.reason, h.flags
FROM hourly_means h
{pollutant_join}
WHERE h.outlet_id = %(outlet)s AND h.hour_start >= %(start)s AND h.hour_start < %(end)s
      {pollutant_is}"""
)

_DAY = sql.SQL(
    """SELECT d.pollutant{pollutant}, d.day,
       d.day::timestamp AT TIME ZONE %(tz)s AS period_start,
       (d.day + 1)::timestamp AT TIME ZONE %(tz)s AS period_end,
       d.source, d.mean, d.converted, d.zs_reported, d.o2_mean, d.valid_count,
       d.expected_count, d.valid,
       d.day >= %(today)s AS in_progress, d.reason
FROM daily_means d
{pollutant_join}
WHERE d.outlet_id = %(outlet)s AND d.day >= %(first_day)s AND d.day < %(end_day)s
      {pollutant_is}"""
)

_MONTH = sql.SQL(
    """SELECT mm.pollutant{pollutant}, mm.month,
       mm.month::timestamp AT TIME ZONE %(tz)s AS period_start,
       (mm.month + interval '1 month') AT TIME ZONE %(tz)s AS period_end,
       mm.mean, mm.converted, mm.zs_reported, mm.valid_count,
       ((mm.month + interval '1 month')::date - mm.month) AS expected_count, mm.days_with_data,
       mm.month >= date_trunc('month', %(today)s::timestamp)::date AS in_progress
FROM (
    SELECT d.pollutant, date_trunc('month', d.day::timestamp)::date AS month,
           avg(d.mean) FILTER (WHERE d.valid) AS mean,
           avg(d.converted) FILTER (WHERE d.valid) AS converted,
           avg(d.zs_reported) FILTER (WHERE d.valid) AS zs_reported,
           count(*) FILTER (WHERE d.valid) AS valid_count,
           count(*) AS days_with_data
    FROM daily_means d
    WHERE d.outlet_id = %(outlet)s AND d.day >= %(first_day)s AND d.day < %(end_day)s
          {pollutant_is}
    GROUP BY d.pollutant, month
) mm
{pollutant_join}"""
)

_SOURCES = {"raw": (_RAW, "m"), "hour": (_HOUR, "h"), "day": (_DAY, "d"), "month": (_MONTH, "d")}
_JOINED = {"raw": "m", "hour": "h", "day": "d", "month": "mm"}  # the alias the names join on


@dataclass(frozen=True, slots=True)
class SeriesFilter:
    """What to select. ``first_day``/``end_day`` are the local days (month starts for monthly)
    whose period starts in [start, end), end exclusive. ``now`` is the request's clock."""

    outlet_id: int
    start: datetime
    end: datetime
    first_day: date
    end_day: date
    timezone: str
    flag_standard: str
    pollutant: str | None = None
    kind: str | None = None  # raw only: rtd | min | hour | day
    # the server's now: a mean whose period ends after it is in progress (``in_progress``)
    now: datetime = field(default_factory=lambda: datetime.now(UTC))


def _inner(resolution: str, f: SeriesFilter, *, names: bool = True) -> Statement:
    """The rows of a resolution (unsorted); without ``names``, without the pollutant's names
    (nor the join that reads them)."""
    template, alias = _SOURCES[resolution]
    a = sql.Identifier(alias)
    pollutant_is: sql.Composable = sql.SQL("")
    kind_is: sql.Composable = sql.SQL("")
    if f.pollutant is not None:
        pollutant_is = sql.SQL("AND {a}.pollutant = %(pollutant)s").format(a=a)
    if f.kind is not None and resolution == "raw":
        kind_is = sql.SQL("AND {a}.kind = %(kind)s").format(a=a)
    query = template.format(
        pollutant=_POLLUTANT if names else sql.SQL(""),
        pollutant_join=sql.SQL(_POLLUTANT_JOIN.format(_JOINED[resolution]) if names else ""),
        pollutant_is=pollutant_is,
        kind_is=kind_is,
    )
    params = {
        "outlet": f.outlet_id,
        "start": f.start,
        "end": f.end,
        "first_day": f.first_day,
        "end_day": f.end_day,
        "tz": f.timezone,
        "flag_standard": f.flag_standard,
        "pollutant": f.pollutant,
        "kind": f.kind,
        # an hour ends after now when it starts after now − 1 h, a local day when it is today
        # or later (schemas.core.periods): compared with the stored column, with no arithmetic
        # per row
        "running_from": running_from(f.now),
        "today": local_today(f.now, ZoneInfo(f.timezone)),
    }
    return Statement(query, params)


def points(
    resolution: str,
    f: SeriesFilter,
    *,
    after: tuple[Any, ...] | None,
    limit: int | None,
    names: bool = True,
) -> Statement:
    """The points after the key ``after`` (exclusive) in key order, at most ``limit``; without
    ``names``, without the pollutant's names (see :func:`_inner`)."""
    inner = _inner(resolution, f, names=names)
    keys = sql.SQL(", ").join(sql.Identifier("s", k) for k in KEYS[resolution])
    params = dict(inner.params)
    condition: sql.Composable = sql.SQL("")
    if after is not None:
        placeholders = [f"after_{i}" for i in range(len(after))]
        condition = sql.SQL("WHERE ({keys}) > ({values})").format(
            keys=keys, values=sql.SQL(", ").join(map(sql.Placeholder, placeholders))
        )
        params |= dict(zip(placeholders, after, strict=True))
    query = sql.SQL("SELECT * FROM ({inner}) s {condition} ORDER BY {keys} {limit}").format(
        inner=inner.query, condition=condition, keys=keys, limit=limit_offset(limit)
    )
    return Statement(query, params)


# --- Hourly points as CSV text -------------------------------------------------------------------
# A year of hourly means as CSV (api.series.hour_csv_lines): PostgreSQL writes the cells that are
# numbers and instants, so that the client neither parses them (numeric → Decimal, timestamptz
# → datetime, jsonb → dict) nor formats them again. Numbers are the stored numeric's own digits
# (``numeric::text``); an instant is its two texts, UTC and Asia/Shanghai, as ISO 8601 with the
# offset (``2025-01-01T08:00:00+08:00``), microseconds only where there are some, as Python's
# ``isoformat`` writes them. Text cells (pollutant names, source, reason, flags) are left to
# Python, which checks them for formulas (schemas.core.csvcells) and quotes them.


# An instant's texts: ISO 8601 with the offset, microseconds only where there are some, as the
# models write them (``2025-01-01T00:00:00Z``, ``2025-01-01T08:00:00+08:00``). The fast path is
# PostgreSQL's JSON text of the instant (``to_json``: ISO 8601 already, in the session's
# TimeZone) and of its UTC wall time, cut out of their quotes; it holds for whole seconds and an
# offset in whole minutes, when the session's TimeZone is the published zone (a transaction of
# Database.connection(timezone=…): see hour_json_rows). Anything else (a fraction, which
# PostgreSQL trims where the models write six digits; Shanghai's mean time before 1901,
# ``+08:05:43``, which the models write ``+08:05``; another session zone) takes the slow path:
# the texts cut from PostgreSQL's own output of the UTC and local wall times and of the offset
# interval (DateStyle ISO and IntervalStyle postgres, which api.db sets in every transaction).
# Each step is fenced with an ``ORDER BY`` so that a text used twice (an hour's end is a
# point's ``datetime`` and its period's end) is computed once.


def _instant_json(moment: sql.Composable, name: str) -> sql.Composable:
    """Two columns ``{name}_ju`` and ``{name}_jl`` of a timestamptz: the JSON texts of its UTC
    wall time and of the instant in the session's TimeZone (``"2025-01-01T00:00:00"``,
    ``"2025-01-01T08:00:00+08:00"``)."""
    return sql.SQL(
        "to_json({m} AT TIME ZONE 'UTC')::text AS {ju}, to_json({m})::text AS {jl}"
    ).format(m=moment, ju=sql.Identifier(f"{name}_ju"), jl=sql.Identifier(f"{name}_jl"))


def _iso(wall: sql.Composable) -> sql.Composable:
    """A wall time's text, ``2025-01-01 00:00:00[.5]`` → ``2025-01-01T00:00:00[.500000]``."""
    return sql.SQL(
        "overlay(CASE WHEN length({w}) = 19 THEN {w} ELSE rpad({w}, 26, '0') END "
        "placing 'T' from 11)"
    ).format(w=sql.SQL("({})::text").format(wall))


def _instant_texts(moment: sql.Composable, name: str) -> sql.Composable:
    """Columns ``{name}_utc`` and ``{name}_local`` from those of :func:`_instant_json` (the
    fast path) or from ``moment`` itself (the slow path)."""
    ju, jl = sql.Identifier(f"{name}_ju"), sql.Identifier(f"{name}_jl")
    utc_wall = sql.SQL("{} AT TIME ZONE 'UTC'").format(moment)
    local_wall = sql.SQL("{} AT TIME ZONE %(local_tz)s").format(moment)
    offset = sql.SQL("(({}) - ({}))::text").format(local_wall, utc_wall)
    return sql.SQL(
        "CASE WHEN octet_length({ju}) = 21 THEN substr({ju}, 2, 19) ELSE {utc} END || 'Z' AS {utc_name}, "
        "CASE WHEN octet_length({jl}) = 27 AND (SELECT current_setting('TimeZone') = %(local_tz)s) "
        "THEN substr({jl}, 2, 25) "
        "ELSE {local} || CASE WHEN left({o}, 1) = '-' THEN '' ELSE '+' END || left({o}, -3) "
        "END AS {local_name}"
    ).format(
        ju=ju,
        jl=jl,
        utc=_iso(utc_wall),
        local=_iso(local_wall),
        o=offset,
        utc_name=sql.Identifier(f"{name}_utc"),
        local_name=sql.Identifier(f"{name}_local"),
    )


def _with_instants(
    rows: sql.Composable, moments: dict[str, sql.Composable], order: sql.Composable
) -> sql.Composable:
    """``rows`` (aliased ``s``, sorted by ``order``) with the columns ``{name}_utc`` and
    ``{name}_local`` of each moment (an expression over ``s``). Each step keeps the order
    (``ORDER BY``, which is also the fence, costs no sort on sorted rows)."""
    json = sql.SQL(", ").join(_instant_json(m, name) for name, m in moments.items())
    texts = sql.SQL(", ").join(_instant_texts(m, name) for name, m in moments.items())
    return sql.SQL(
        "SELECT s.*, {texts} FROM (SELECT s.*, {json} FROM ({rows}) s ORDER BY {order}) s "
        "ORDER BY {order}"
    ).format(texts=texts, json=json, rows=rows, order=order)


def _instant(moment: sql.Composable, text: str) -> sql.Composable:
    """One instant's texts as one expression (a scalar subquery), ``text`` formatting the
    columns ``m_utc`` and ``m_local``."""
    rows = sql.SQL("SELECT {} AS m").format(moment)
    return sql.SQL("(SELECT {text} FROM ({rows}) s)").format(
        text=sql.SQL(text), rows=_with_instants(rows, {"m": sql.SQL("s.m")}, sql.SQL("s.m"))
    )


def instant_cells(moment: sql.Composable) -> sql.Composable:
    """``utc,local`` of a timestamptz, as two CSV cells."""
    return _instant(moment, "s.m_utc || ',' || s.m_local")


def instant_json(moment: sql.Composable) -> sql.Composable:
    """``{"utc":…,"local":…}`` of a timestamptz (an Instant's JSON)."""
    return _instant(moment, """'{"utc":"' || s.m_utc || '","local":"' || s.m_local || '"}'""")


_PERIOD: dict[str, sql.Composable] = {
    "end": sql.SQL("s.period_end"),
    "start": sql.SQL("s.period_start"),
}
_JSON_INSTANT = """'{{"utc":"' || s.{name}_utc || '","local":"' || s.{name}_local || '"}}'"""


def _local_day(f: SeriesFilter, local_tz: str) -> sql.Composable:
    """A point's start day in the outlet's zone as ISO text (the day of its limit): the local
    text's date where the outlet's zone is the published one."""
    if f.timezone == local_tz:
        return sql.SQL("left(s.start_local, 10)")
    return sql.SQL("(s.period_start AT TIME ZONE %(tz)s)::date::text")


def _text(column: str) -> sql.Composable:
    return sql.SQL("coalesce(s.{}::text, '')").format(sql.Identifier(column))


def _number_text(column: str) -> sql.Composable:
    """A numeric column's digits; empty for NULL and for what is no number (NaN, ±Infinity: a
    cell starting with ``-`` would otherwise reach a spreadsheet unneutralised)."""
    c = sql.Identifier("s", column)
    return sql.SQL(
        "CASE WHEN {c} IS NULL OR {c} IN ('NaN', 'Infinity', '-Infinity') THEN '' "
        "ELSE {c}::text END"
    ).format(c=c)


_HOUR_CSV = sql.SQL(
    """SELECT s.pollutant, s.p_name_zh, s.p_name_en, s.p_unit_zh, s.p_unit_en,
       {local_day} AS local_day,
       {end_cells} || ',' || s.start_utc || ',' || s.start_local || ',' || {end_cells} || ','
       || {numbers} AS head,
       s.mean::text AS mean, s.converted::text AS converted, s.valid,
       s.in_progress::text AS in_progress, s.source, {o2} AS o2, s.reason,
       s.flags::text AS flags {key}
FROM ({rows}) s
ORDER BY {keys}"""
)

# The columns of a row of :func:`hour_csv_rows`, in order.
HOUR_CSV_COLUMNS = (
    "pollutant", "p_name_zh", "p_name_en", "p_unit_zh", "p_unit_en", "local_day", "head",
    "mean", "converted", "valid", "in_progress", "source", "o2", "reason", "flags",
    "period_start",
)  # fmt: skip


def hour_csv_rows(
    f: SeriesFilter,
    *,
    local_tz: str,
    after: tuple[Any, ...] | None,
    limit: int | None,
    keyed: bool = False,
) -> Statement:
    """The hourly points of :func:`points`, in its order, as rows of
    :data:`HOUR_CSV_COLUMNS` (without ``period_start`` unless ``keyed``, for a page's cursor):
    ``head`` is the CSV of the cells from ``datetime_utc`` to ``coverage_expected``;
    ``local_day`` the point's start day in the outlet's zone (the day of its limit);
    ``mean``, ``converted`` and ``o2`` the numerics' texts; ``in_progress`` ``true`` or
    ``false``; ``flags`` the jsonb's text."""
    page = points("hour", f, after=after, limit=limit)  # sorted and cut before formatting
    keys = sql.SQL(", ").join(sql.Identifier("s", k) for k in KEYS["hour"])
    params = dict(page.params) | {"local_tz": local_tz}
    numbers = sql.SQL(" || ',' || ").join(
        [_number_text(c) for c in ("mean", "converted", "zs_reported")]
        + [_text(c) for c in ("valid_count", "expected_count")]
    )
    query = _HOUR_CSV.format(
        numbers=numbers,
        o2=_number_text("o2_mean"),
        key=sql.SQL(", s.period_start") if keyed else sql.SQL(""),
        local_day=_local_day(f, local_tz),
        end_cells=sql.SQL("s.end_utc || ',' || s.end_local"),
        rows=_with_instants(page.query, _PERIOD, keys),
        keys=keys,
    )
    return Statement(query, params)


# --- Hourly points as JSON text ------------------------------------------------------------------
# A page of hourly means as JSON (api.series.hour_json_points), the same way: PostgreSQL writes
# each point's JSON but its pollutant, limit and exceedance, which Python adds. Numbers are the
# stored numeric's digits (a numeric that is not a JSON number, NaN or ±Infinity, is null, as
# orjson writes such a float); texts by ``to_json``; flags as the jsonb's text.


def _json_number(column: str) -> sql.Composable:
    c = sql.Identifier("s", column)
    return sql.SQL(
        "CASE WHEN {c} IS NULL OR {c} IN ('NaN', 'Infinity', '-Infinity') THEN 'null' "
        "ELSE {c}::text END"
    ).format(c=c)


_HOUR_JSON = sql.SQL(
    """SELECT s.pollutant, p.name_zh AS p_name_zh, p.name_en AS p_name_en,
       p.unit_zh AS p_unit_zh, p.unit_en AS p_unit_en,
       {local_day} AS local_day,
       '"datetime":' || {end_json} || ',"period":{{"start":' || {start_json}
       || ',"end":' || {end_json} || '}},"mean":' || {mean} || ',"converted":' || {converted}
       || ',"zs_reported":' || {zs_reported} || ',"coverage":{{"valid":'
       || coalesce(s.valid_count::text, 'null') || ',"expected":'
       || coalesce(s.expected_count::text, 'null') || '}}' AS head,
       s.mean::text AS mean, s.converted::text AS converted, s.valid,
       '"source":' || coalesce(to_json(s.source)::text, 'null') || ',"o2":' || {o2}
       || ',"valid":' || coalesce(to_json(s.valid)::text, 'null')
       || ',"in_progress":' || s.in_progress::text
       || ',"reason":' || coalesce(to_json(s.reason)::text, 'null')
       || ',"flags":' || coalesce(s.flags::text, '{{}}') AS tail,
       s.start_utc
FROM ({rows}) s
LEFT JOIN pollutants p ON p.code = s.pollutant
ORDER BY {keys}"""
)

# The columns of a row of :func:`hour_json_rows`, in order.
HOUR_JSON_COLUMNS = (
    "pollutant", "p_name_zh", "p_name_en", "p_unit_zh", "p_unit_en", "local_day", "head",
    "mean", "converted", "valid", "tail", "start_utc",
)  # fmt: skip


def hour_json_rows(
    f: SeriesFilter, *, local_tz: str, after: tuple[Any, ...] | None, limit: int | None
) -> Statement:
    """The hourly points of :func:`points`, in its order, as rows of
    :data:`HOUR_JSON_COLUMNS`: ``head`` is the JSON of a point's members from ``datetime`` to
    ``coverage``, ``tail`` from ``source`` to ``flags`` (without braces, comma-separated);
    ``start_utc`` the start's UTC text (``2025-01-01T00:00:00Z``), a page's cursor key (text,
    where a timestamptz would be parsed into a datetime for every row and read of one).
    The pollutant's names are joined to the page's rows only, not to every point of the
    period before they are sorted and cut (bench/README.md, tenth round)."""
    page = points("hour", f, after=after, limit=limit, names=False)  # sorted and cut first
    keys = sql.SQL(", ").join(sql.Identifier("s", k) for k in KEYS["hour"])
    params = dict(page.params) | {"local_tz": local_tz}
    query = _HOUR_JSON.format(
        mean=_json_number("mean"),
        converted=_json_number("converted"),
        zs_reported=_json_number("zs_reported"),
        o2=_json_number("o2_mean"),
        local_day=_local_day(f, local_tz),
        end_json=sql.SQL(_JSON_INSTANT.format(name="end")),
        start_json=sql.SQL(_JSON_INSTANT.format(name="start")),
        rows=_with_instants(page.query, _PERIOD, keys),
        keys=keys,
    )
    return Statement(query, params)


# Raw rows counted from the continuous aggregate (TimescaleDB): the whole hours of the period
# from ``measurements_hourly`` (materialized below its watermark, aggregated from
# ``measurements`` at query time above it), the partial hours at its ends from
# ``measurements``; but where TimescaleDB still logs a change not yet materialized below the
# watermark in those hours (late data, a revision, a refresh not yet run), every row is counted
# from ``measurements``, so the count is always the plain one. (The logs and the watermark hold
# times as microseconds since 1970-01-01 UTC.)
_RAW_COUNT_FROM_HOURS = sql.SQL(
    """SELECT CASE WHEN EXISTS (
    SELECT 1 FROM _timescaledb_catalog.continuous_aggs_hypertable_invalidation_log l
    WHERE l.hypertable_id = %(raw_hypertable)s
      AND l.lowest_modified_value
          < least(%(whole_end_us)s, {watermark}(%(mat_hypertable)s))
      AND l.greatest_modified_value >= %(whole_start_us)s
    UNION ALL
    SELECT 1 FROM _timescaledb_catalog.continuous_aggs_materialization_invalidation_log l
    WHERE l.materialization_id = %(mat_hypertable)s
      AND l.lowest_modified_value
          < least(%(whole_end_us)s, {watermark}(%(mat_hypertable)s))
      AND l.greatest_modified_value >= %(whole_start_us)s)
THEN (SELECT count(*) FROM measurements m
      WHERE m.outlet_id = %(outlet)s AND m.ts >= %(start)s AND m.ts < %(end)s
            {pollutant_is} {kind_is})
ELSE (SELECT coalesce(sum(a.n_rows), 0) FROM measurements_hourly a
      WHERE a.outlet_id = %(outlet)s AND a.hour >= %(whole_start)s AND a.hour < %(whole_end)s
            {hour_pollutant_is} {hour_kind_is})
   + (SELECT count(*) FROM measurements m
      WHERE m.outlet_id = %(outlet)s
        AND ((m.ts >= %(start)s AND m.ts < %(whole_start)s)
             OR (m.ts >= %(whole_end)s AND m.ts < %(end)s))
        {pollutant_is} {kind_is})
END AS found"""
)

_UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _whole_hours(start: datetime, end: datetime) -> tuple[datetime, datetime] | None:
    """The UTC hours wholly inside [start, end), as [first, end); None when there are none."""
    first = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    if first < start:
        first += timedelta(hours=1)
    last = end.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return (first, last) if first < last else None


def _microseconds(moment: datetime) -> int:
    return (moment - _UNIX_EPOCH) // timedelta(microseconds=1)


def count(
    resolution: str, f: SeriesFilter, *, aggregate: HourlyAggregate | None = None
) -> Statement:
    """How many points :func:`points` finds in all. With ``aggregate`` (TimescaleDB), raw rows
    are counted from the hourly continuous aggregate where it is up to date."""
    inner = _inner(resolution, f)
    hours = _whole_hours(f.start, f.end)
    if resolution != "raw" or aggregate is None or hours is None:
        query = sql.SQL("SELECT count(*) AS found FROM ({inner}) s").format(inner=inner.query)
        return Statement(query, inner.params)
    m, a = sql.Identifier("m"), sql.Identifier("a")
    filters: dict[str, sql.Composable] = {}
    for name, alias in (("", m), ("hour_", a)):
        filters[f"{name}pollutant_is"] = sql.SQL("")
        filters[f"{name}kind_is"] = sql.SQL("")
        if f.pollutant is not None:
            filters[f"{name}pollutant_is"] = sql.SQL("AND {a}.pollutant = %(pollutant)s").format(
                a=alias
            )
        if f.kind is not None:
            filters[f"{name}kind_is"] = sql.SQL("AND {a}.kind = %(kind)s").format(a=alias)
    watermark = sql.Identifier(*aggregate.watermark_function.split("."))
    query = _RAW_COUNT_FROM_HOURS.format(watermark=watermark, **filters)
    params = dict(inner.params) | {
        "raw_hypertable": aggregate.raw_hypertable_id,
        "mat_hypertable": aggregate.mat_hypertable_id,
        "whole_start": hours[0],
        "whole_end": hours[1],
        "whole_start_us": _microseconds(hours[0]),
        "whole_end_us": _microseconds(hours[1]),
    }
    return Statement(query, params)
