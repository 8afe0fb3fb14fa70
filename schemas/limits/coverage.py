"""Whether an outlet is judged: no silent "not judged" (docs/regulations.md#judged-outlets).

An outlet is **judged** on a day when it has a limit in force that day (a binding to a
standard's category, or a permit limit) and every *regulated* pollutant it reported in the
:data:`MEASURED_WITHIN` before has one. A pollutant is regulated when some limit exists for it
anywhere (a row of ``limits`` or of ``outlet_limits``): flow, O₂, temperature and the like are
reported too but no standard limits them. "In force" is the validity rule of
:func:`schemas.limits.rules.limits_for_outlet` (inclusive date ranges, the binding and the
category's row both valid that day); a test checks the two agree.

:func:`judgement_columns` is the SQL (a LATERAL subquery over an outlet alias) that the API's
outlet queries and :func:`unjudged_outlets` share; :func:`gaps` turns its columns into the
bilingual reasons staff and the public see.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from schemas.codes.pollutants import load_pollutants

__all__ = [
    "MEASURED_WITHIN",
    "Gap",
    "UnjudgedOutlet",
    "gaps",
    "judgement_columns",
    "unjudged_outlets",
]

# A pollutant counts as measured when the outlet reported it this recently.
MEASURED_WITHIN = timedelta(days=30)

_JUDGEMENT = """
SELECT
    (EXISTS (SELECT 1 FROM outlet_limits ol WHERE ol.outlet_id = {outlet} AND {own_valid})
     OR EXISTS (SELECT 1 FROM outlet_limit_bindings b
                JOIN limits l ON l.standard = b.standard AND l.category = b.category
                WHERE b.outlet_id = {outlet} AND {binding_valid} AND {limit_valid})
    ) AS has_limits,
    coalesce(array_agg(r.pollutant ORDER BY r.pollutant), '{{}}') AS measured,
    coalesce(array_agg(r.pollutant ORDER BY r.pollutant) FILTER (WHERE NOT (
        EXISTS (SELECT 1 FROM outlet_limits ol WHERE ol.outlet_id = {outlet}
                AND ol.pollutant = r.pollutant AND {own_valid})
        OR EXISTS (SELECT 1 FROM outlet_limit_bindings b
                   JOIN limits l ON l.standard = b.standard AND l.category = b.category
                   WHERE b.outlet_id = {outlet} AND l.pollutant = r.pollutant
                     AND {binding_valid} AND {limit_valid})
    )), '{{}}') AS unlimited
FROM (SELECT pollutant FROM limits UNION SELECT pollutant FROM outlet_limits) r
WHERE EXISTS (SELECT 1 FROM measurements m
              WHERE m.outlet_id = {outlet} AND m.pollutant = r.pollutant
                AND m.kind = ANY('{{rtd,min,hour,day}}') AND m.ts >= {since})
"""


def judgement_columns(
    outlet: sql.Composable, on: sql.Composable, since: sql.Composable
) -> sql.Composed:
    """A subquery giving ``has_limits`` (any limit in force on ``on``), ``measured`` (the
    regulated pollutants reported since ``since``) and ``unlimited`` (those of them without a
    limit in force), for the outlet id ``outlet``; use it as ``CROSS JOIN LATERAL (…) j``."""

    def valid(alias: str) -> sql.Composed:
        return sql.SQL(
            f"({alias}.valid_from <= {{on}} AND ({alias}.valid_to IS NULL"
            f" OR {{on}} <= {alias}.valid_to))"
        ).format(on=on)

    return sql.SQL(_JUDGEMENT).format(
        outlet=outlet,
        since=since,
        own_valid=valid("ol"),
        binding_valid=valid("b"),
        limit_valid=valid("l"),
    )


@dataclass(frozen=True, slots=True)
class Gap:
    """Why an outlet is not (fully) judged: ``no_limits`` (nothing in force at all) or
    ``pollutant_without_limit`` (one measured pollutant), with the reason in both languages."""

    code: str
    pollutant: str | None
    zh: str
    en: str


def gaps(has_limits: bool, unlimited: Sequence[str], on: date) -> list[Gap]:
    """The reasons an outlet with these judgement columns is not judged; empty when it is."""
    out: list[Gap] = []
    if not has_limits:
        out.append(
            Gap(
                "no_limits",
                None,
                f"{on}没有现行排放限值：未绑定排放标准类别，也没有许可限值",
                f"no limit in force on {on}: not bound to a standard's category and no permit"
                " limits",
            )
        )
    names = load_pollutants()
    for code in unlimited:
        p = names.get(code)
        zh, en = (p.name_zh, p.name_en) if p is not None else (code, code)
        out.append(
            Gap(
                "pollutant_without_limit",
                code,
                f"{code}（{zh}）有监测数据，但{on}没有现行限值",
                f"{code} ({en}) is measured but has no limit in force on {on}",
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class UnjudgedOutlet:
    """An active outlet that is not judged, with the outlet's and enterprise's names."""

    id: int
    mn: str
    code: str | None
    name_zh: str
    name_en: str | None
    kind: str
    enterprise_id: int
    enterprise_name_zh: str
    enterprise_name_en: str | None
    enterprise_district: str | None
    emission_standard: str | None
    last_data_at: datetime | None
    measured: tuple[str, ...]
    gaps: tuple[Gap, ...]


def unjudged_outlets(
    conn: psycopg.Connection[Any], now: datetime, on: date, *, with_data_only: bool = False
) -> list[UnjudgedOutlet]:
    """Active outlets not judged on ``on`` (pollutants measured since ``now`` −
    :data:`MEASURED_WITHIN`), in id order; with ``with_data_only``, only those that reported
    data in that window."""
    query = sql.SQL(
        "SELECT o.id, o.mn, o.code, o.name_zh, o.name_en, o.kind, o.enterprise_id,"
        " e.name_zh AS enterprise_name_zh, e.name_en AS enterprise_name_en,"
        " e.district AS enterprise_district,"
        " o.emission_standard, a.last_data_at, j.has_limits, j.measured, j.unlimited"
        " FROM outlets o JOIN enterprises e ON e.id = o.enterprise_id"
        " LEFT JOIN outlet_activity a ON a.outlet_id = o.id"
        " CROSS JOIN LATERAL ({judgement}) j"
        " WHERE o.active AND (NOT j.has_limits OR cardinality(j.unlimited) > 0)"
        " AND (NOT %(with_data)s OR a.last_data_at >= %(since)s)"
        " ORDER BY o.id"
    ).format(
        judgement=judgement_columns(
            sql.SQL("o.id"), sql.Placeholder("on"), sql.Placeholder("since")
        )
    )
    params = {"on": on, "since": now - MEASURED_WITHIN, "with_data": with_data_only}
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(query, params).fetchall()
    out = []
    for r in rows:
        found = gaps(r.pop("has_limits"), r.pop("unlimited"), on)
        out.append(UnjudgedOutlet(**{**r, "measured": tuple(r["measured"])}, gaps=tuple(found)))
    return out
