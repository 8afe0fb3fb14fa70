"""What a bulk dump holds: its constants, the columns of each table with types and units, the
queries that read a day, and how a value becomes a CSV or Parquet cell."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pyarrow as pa
from psycopg import sql

from api.db import Statement
from api.queries.outlets import flag_standard
from schemas.core import arrival
from schemas.core.localtime import LOCAL_TZ, LOCAL_TZ_NAME
from schemas.core.periods import running_from

FORMAT = "sourcewatch-dump/1"
BATCH_ROWS = 10_000  # rows per cursor fetch and per Parquet row group
MANIFEST = "manifest.json"
CHECKSUMS = "SHA256SUMS"
LICENCE = (
    "Public environmental information on key monitored enterprises, published under the "
    "Environmental Protection Law of the PRC (art. 55) and the Measures for the Disclosure of "
    "Environmental Information by Enterprises (企业环境信息依法披露管理办法). Values are as "
    "reported by the enterprises' automatic monitoring equipment (HJ 212), with their data "
    "flags; validity and means are sourcewatch's evaluation, not an official determination. "
    "Free to copy, redistribute and reuse, including commercially, with attribution: "
    "'Source: sourcewatch bulk dump <day>'. Check the SHA-256 of each file in SHA256SUMS."
)
DAY_NAME = re.compile(r"\d{4}-\d{2}-\d{2}")


# --- Schemas ------------------------------------------------------------------------------------

# logical type → (Parquet type, description of the CSV form)
_TYPES: dict[str, tuple[pa.DataType, str]] = {
    "integer": (pa.int64(), "integer"),
    "text": (pa.string(), "UTF-8 text"),
    "decimal": (pa.float64(), "decimal as stored (exact in CSV, float64 in Parquet)"),
    "boolean": (pa.bool_(), "true or false"),
    "timestamp_utc": (pa.timestamp("us", tz="UTC"), "ISO 8601, UTC (Z)"),
    "timestamp_local": (pa.timestamp("us", tz=LOCAL_TZ_NAME), "ISO 8601, +08:00"),
    "json": (pa.string(), "compact JSON"),
}


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a dumped table: ``source`` is the SQL output column it comes from (a
    local-time column shares its UTC column's source)."""

    name: str
    type: str
    description: str
    unit: str | None = None
    source: str | None = None

    @property
    def arrow_type(self) -> pa.DataType:
        return _TYPES[self.type][0]

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "csv": _TYPES[self.type][1],
            "parquet_type": str(self.arrow_type),
            "unit": self.unit,
            "description": self.description,
        }


def _c(name: str, type_: str, description: str, unit: str | None = None) -> Column:
    return Column(name, type_, description, unit, name)


def _times(name: str, what: str) -> list[Column]:
    return [
        Column(f"{name}_utc", "timestamp_utc", f"{what}, UTC", None, name),
        Column(f"{name}_local", "timestamp_local", f"{what}, Asia/Shanghai", None, name),
    ]


_CONCENTRATION = "the pollutant's unit (column `unit`)"

_ENTERPRISE = [
    _c("enterprise_id", "integer", "sourcewatch enterprise id"),
    _c("enterprise_uscc", "text", "unified social credit code (统一社会信用代码)"),
    _c("enterprise_name_zh", "text", "enterprise name, Chinese"),
    _c("enterprise_name_en", "text", "enterprise name, English"),
    _c("outlet_id", "integer", "sourcewatch outlet id"),
    _c("outlet_code", "text", "outlet number in the permit (e.g. DA001)"),
    _c("outlet_name_zh", "text", "outlet name, Chinese"),
    _c("outlet_name_en", "text", "outlet name, English"),
    _c("outlet_kind", "text", "gas or water"),
    _c("pollutant", "text", "HJ 212-2017 factor code"),
    _c("pollutant_name_zh", "text", "pollutant name, Chinese"),
    _c("pollutant_name_en", "text", "pollutant name, English"),
    _c("unit", "text", "unit of the concentrations in this row"),
]

HOURLY: tuple[Column, ...] = (
    *_ENTERPRISE,
    *_times("hour_start", "start of the hour (the mean covers [start, end))"),
    *_times("hour_end", "end of the hour (means are period-ending)"),
    _c("source", "text", "data the mean was computed from: min, rtd or hour (as sent)"),
    _c("mean", "decimal", "measured concentration, valid data only", _CONCENTRATION),
    _c("converted", "decimal", "concentration at the limit's reference O2", _CONCENTRATION),
    _c("zs_reported", "decimal", "mean of the logger's own converted (Zs) values", _CONCENTRATION),
    _c("o2_mean", "decimal", "mean oxygen content", "%"),
    _c("valid_count", "integer", "valid minutes (or samples) in the hour", "count"),
    _c("expected_count", "integer", "minutes (or samples) expected in the hour", "count"),
    _c("coverage", "decimal", "valid_count / expected_count, 4 decimals", "ratio"),
    _c("valid", "boolean", "enough valid data for a regulatory mean"),
    _c("reason", "text", "why the mean is not valid"),
    _c("flags", "json", 'samples per HJ 212 data flag, e.g. {"N":58,"D":2}', "count"),
    *_times("computed_at", "when sourcewatch computed the mean as stored (kept if judged again)"),
)

RAW: tuple[Column, ...] = (
    *_ENTERPRISE,
    _c("kind", "text", "data kind as sent: rtd (real time), min, hour or day"),
    *_times("ts", "DataTime: sampling instant (rtd) or interval start"),
    _c("value", "decimal", "Rtd (rtd) or Avg (min/hour/day)", _CONCENTRATION),
    _c("min", "decimal", "Min as sent", _CONCENTRATION),
    _c("max", "decimal", "Max as sent", _CONCENTRATION),
    _c("cou", "decimal", "Cou (emission amount) as sent", "column `cou_unit`"),
    _c("cou_unit", "text", "unit of `cou`"),
    _c("zs_value", "decimal", "converted (折算, Zs) value as sent", _CONCENTRATION),
    _c("zs_min", "decimal", "converted minimum as sent", _CONCENTRATION),
    _c("zs_max", "decimal", "converted maximum as sent", _CONCENTRATION),
    _c("flag", "text", "HJ 212 data flag as sent (N valid; F, M, S, D, C, T, B …)"),
    _c("flag_valid", "boolean", "the flag counts as valid data and a value is present"),
    _c("eflag", "text", "equipment flag (EFlag) as sent"),
    *_times("sample_time", "SampleTime as sent"),
    _c("extra", "json", "other field suffixes as sent, verbatim"),
    _c("revision", "integer", "0 as first received; bumped by every changed re-send"),
    _c("frame_id", "integer", "the frame that carried the value (evidence bundles cite it)"),
    *_times("received_at", "when sourcewatch received the value"),
)

COMPLETENESS: tuple[Column, ...] = (
    *_ENTERPRISE[:9],
    _c("pollutant", "text", "HJ 212-2017 factor code; empty: all of the outlet's pollutants"),
    _c("pollutant_name_zh", "text", "pollutant name, Chinese"),
    _c("pollutant_name_en", "text", "pollutant name, English"),
    _c("data_kind", "text", "records counted: rtd (real time), min, hour or day data"),
    _c("headline", "boolean", "the outlet's rate as the regulator states it (hourly data)"),
    _c("expected", "integer", "records the registry expects in the day", "count"),
    _c("received", "integer", "of those, received (at most the expected per hour)", "count"),
    _c("valid", "integer", "of those received, valid", "count"),
    _c("transmission_rate", "decimal", "传输率: received / expected, 4 decimals", "ratio"),
    _c("validity_rate", "decimal", "有效率: valid / received, 4 decimals", "ratio"),
    _c(
        "transmission_validity_rate",
        "decimal",
        "传输有效率: transmission rate × validity rate, 4 decimals",
        "ratio",
    ),
    _c("target", "decimal", "target of the transmission-validity rate", "ratio"),
    _c("meets_target", "boolean", "transmission_validity_rate ≥ target"),
    _c(
        "rules_confirmed", "boolean", "target and counting rule confirmed against the official text"
    ),
)

TABLES: dict[str, tuple[Column, ...]] = {
    "hourly": HOURLY,
    "raw": RAW,
    "completeness": COMPLETENESS,
}

# --- Queries ------------------------------------------------------------------------------------

_PARTY = sql.SQL(
    """e.id AS enterprise_id, e.uscc AS enterprise_uscc, e.name_zh AS enterprise_name_zh,
       e.name_en AS enterprise_name_en, o.id AS outlet_id, o.code AS outlet_code,
       o.name_zh AS outlet_name_zh, o.name_en AS outlet_name_en, o.kind AS outlet_kind,
       {a}.pollutant, p.name_zh AS pollutant_name_zh, p.name_en AS pollutant_name_en,
       p.unit_en AS unit"""
)

_HOURLY = sql.SQL(
    """SELECT {party}, h.hour_start, h.hour_start + interval '1 hour' AS hour_end, h.source,
       h.mean, h.converted, h.zs_reported, h.o2_mean, h.valid_count, h.expected_count,
       round(h.valid_count::numeric / nullif(h.expected_count, 0), 4) AS coverage, h.valid,
       h.reason, h.flags, h.computed_at
FROM hourly_means h
JOIN outlets o ON o.id = h.outlet_id
JOIN enterprises e ON e.id = o.enterprise_id
LEFT JOIN pollutants p ON p.code = h.pollutant
WHERE o.enterprise_id = %(enterprise)s AND h.hour_start >= %(start)s AND h.hour_start < %(end)s
  AND h.hour_start <= %(running_from)s
ORDER BY o.id, h.pollutant, h.hour_start"""
)

# A value's arrival time is its frame's (schemas/core/arrival.py).
_RAW = sql.SQL(
    """SELECT {party}, m.kind, m.ts, m.value, m.min, m.max, m.cou, p.cou_unit_en AS cou_unit,
       m.zs_value, m.zs_min, m.zs_max, m.flag,
       (coalesce(f.valid, false) AND m.value IS NOT NULL) AS flag_valid, m.eflag,
       m.sample_time, m.extra, m.revision, m.frame_id, """
    + arrival.ARRIVAL
    + """ AS received_at
FROM measurements m
"""
    + arrival.JOIN
    + """
JOIN outlets o ON o.id = m.outlet_id
JOIN enterprises e ON e.id = o.enterprise_id
LEFT JOIN pollutants p ON p.code = m.pollutant
LEFT JOIN data_flags f ON f.code = m.flag AND f.standard =
     CASE WHEN o.protocol_profile = 'hj212-2005' THEN %(standard_2005)s ELSE %(standard)s END
WHERE o.enterprise_id = %(enterprise)s AND m.ts >= %(start)s AND m.ts < %(end)s
ORDER BY o.id, m.ts, m.pollutant, m.kind"""
)

# The outlets of an enterprise, for the completeness table (one rates query per outlet).
OUTLETS = sql.SQL(
    """SELECT e.id AS enterprise_id, e.uscc AS enterprise_uscc, e.name_zh AS enterprise_name_zh,
       e.name_en AS enterprise_name_en, o.id AS outlet_id, o.code AS outlet_code,
       o.name_zh AS outlet_name_zh, o.name_en AS outlet_name_en, o.kind AS outlet_kind
FROM outlets o JOIN enterprises e ON e.id = o.enterprise_id
WHERE o.enterprise_id = %(enterprise)s ORDER BY o.id"""
)
POLLUTANT_NAMES = sql.SQL("SELECT code, name_zh, name_en FROM pollutants")

ENTERPRISES = sql.SQL(
    """SELECT o.enterprise_id FROM outlets o
WHERE EXISTS (SELECT 1 FROM hourly_means h WHERE h.outlet_id = o.id
                AND h.hour_start >= %(start)s AND h.hour_start < %(end)s)
   OR EXISTS (SELECT 1 FROM measurements m WHERE m.outlet_id = o.id
                AND m.ts >= %(start)s AND m.ts < %(end)s)
GROUP BY o.enterprise_id ORDER BY o.enterprise_id"""
)


def table_query(
    table: str, enterprise_id: int, start: datetime, end: datetime, now: datetime | None = None
) -> Statement:
    """The rows of ``table`` in [start, end). Hourly: only the hours that have ended at ``now``
    (default: the clock; :mod:`schemas.core.periods`): a dump is a published snapshot, and the
    running hour's mean and validity are only those of its data so far. Raw: every value
    received."""
    template, alias = (_HOURLY, "h") if table == "hourly" else (_RAW, "m")
    query = template.format(party=_PARTY.format(a=sql.Identifier(alias)))
    params = {
        "enterprise": enterprise_id,
        "start": start,
        "end": end,
        "standard": flag_standard("hj212-2017"),
        "standard_2005": flag_standard("hj212-2005"),
        "running_from": running_from(now or datetime.now(UTC)),
        **arrival.window(start, end),
    }
    return Statement(query, params)


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """[start, end) of the local calendar day, in UTC."""
    start = datetime.combine(day, time(), LOCAL_TZ)
    end = datetime.combine(day + timedelta(days=1), time(), LOCAL_TZ)
    return start.astimezone(UTC), end.astimezone(UTC)


# --- Cells --------------------------------------------------------------------------------------


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def csv_cell(column: Column, value: Any) -> str:
    if value is None:
        return ""
    if column.type == "boolean":
        return "true" if value else "false"
    if column.type == "timestamp_utc":
        return str(value.astimezone(UTC).isoformat()).replace("+00:00", "Z")
    if column.type == "timestamp_local":
        return str(value.astimezone(LOCAL_TZ).isoformat())
    if column.type == "json":
        return _json_text(value)
    return str(value)


def arrow_value(column: Column, value: Any) -> Any:
    if value is None:
        return None
    if column.type == "decimal":
        return float(value) if isinstance(value, Decimal) else value
    if column.type == "json":
        return _json_text(value)
    return value
