"""Enterprises: the filtered, sorted list (with distances from a point), one, and counts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import sql

from api.db import Statement
from api.params import BBox
from api.queries.common import limit_offset, where

__all__ = ["SORTS", "EnterpriseFilter", "count", "districts", "one", "select"]

EARTH_RADIUS_M = 6_371_008.8  # mean Earth radius (IUGG)

_COLUMNS = sql.SQL(
    "e.id, e.uscc, e.name_zh, e.name_en, e.address, e.district, e.industry, e.control_level,"
    " e.longitude, e.latitude"
)

# Great-circle distance from %(near_lon)s, %(near_lat)s (haversine), in metres.
_DISTANCE = sql.SQL(
    "(2 * {r} * asin(least(1, sqrt("
    "power(sin(radians(e.latitude - %(near_lat)s) / 2), 2)"
    " + cos(radians(%(near_lat)s)) * cos(radians(e.latitude))"
    " * power(sin(radians(e.longitude - %(near_lon)s) / 2), 2)))))"
).format(r=sql.Literal(EARTH_RADIUS_M))

# sort parameter → ORDER BY (``-`` descending); the id breaks ties so pages are stable.
SORTS: dict[str, sql.Composable] = {
    "id": sql.SQL("e.id"),
    "-id": sql.SQL("e.id DESC"),
    "name": sql.SQL("e.name_zh, e.id"),
    "-name": sql.SQL("e.name_zh DESC, e.id"),
    "district": sql.SQL("e.district NULLS LAST, e.id"),
    "-district": sql.SQL("e.district DESC NULLS LAST, e.id"),
    "distance": sql.SQL("distance_m, e.id"),
}


@dataclass(frozen=True, slots=True)
class EnterpriseFilter:
    q: str | None = None  # substring of the Chinese or English name, case-insensitive
    uscc: str | None = None
    district: str | None = None
    industry: str | None = None
    control_level: str | None = None
    bbox: BBox | None = None
    near: tuple[float, float] | None = None  # lon, lat
    radius_m: float = 10_000


def _where(f: EnterpriseFilter) -> tuple[sql.Composable, dict[str, Any]]:
    conditions: list[sql.Composable] = []
    params: dict[str, Any] = {}
    if f.q:
        conditions.append(
            sql.SQL(
                "(strpos(lower(e.name_zh), lower(%(q)s)) > 0"
                " OR strpos(lower(coalesce(e.name_en, '')), lower(%(q)s)) > 0)"
            )
        )
        params["q"] = f.q
    for column in ("uscc", "district", "industry", "control_level"):
        if (value := getattr(f, column)) is not None:
            conditions.append(
                sql.SQL("e.{c} = {p}").format(c=sql.Identifier(column), p=sql.Placeholder(column))
            )
            params[column] = value
    if f.bbox is not None:
        conditions.append(
            sql.SQL(
                "e.longitude BETWEEN %(min_lon)s AND %(max_lon)s"
                " AND e.latitude BETWEEN %(min_lat)s AND %(max_lat)s"
            )
        )
        params |= {
            "min_lon": f.bbox.min_lon,
            "max_lon": f.bbox.max_lon,
            "min_lat": f.bbox.min_lat,
            "max_lat": f.bbox.max_lat,
        }
    if f.near is not None:
        conditions.append(
            sql.SQL(
                "e.longitude IS NOT NULL AND e.latitude IS NOT NULL AND {d} <= %(radius)s"
            ).format(d=_DISTANCE)
        )
        params |= {"near_lon": f.near[0], "near_lat": f.near[1], "radius": float(f.radius_m)}
    return where(conditions), params


def select(f: EnterpriseFilter, sort: str, limit: int | None, offset: int) -> Statement:
    condition, params = _where(f)
    distance = _DISTANCE if f.near is not None else sql.SQL("NULL::double precision")
    query = sql.SQL(
        "SELECT {columns}, {distance} AS distance_m FROM enterprises e {where}"
        " ORDER BY {order} {page}"
    ).format(
        columns=_COLUMNS,
        distance=distance,
        where=condition,
        order=SORTS[sort],
        page=limit_offset(limit, offset),
    )
    return Statement(query, params)


def count(f: EnterpriseFilter) -> Statement:
    condition, params = _where(f)
    query = sql.SQL("SELECT count(*) AS found FROM enterprises e {where}").format(where=condition)
    return Statement(query, params)


def one(enterprise_id: int) -> Statement:
    query = sql.SQL(
        "SELECT {columns}, NULL::double precision AS distance_m FROM enterprises e"
        " WHERE e.id = %(id)s"
    ).format(columns=_COLUMNS)
    return Statement(query, {"id": enterprise_id})


def districts() -> Statement:
    """The districts that have an enterprise, in order (the staff console's filter)."""
    return Statement(
        sql.SQL(
            "SELECT DISTINCT district FROM enterprises WHERE district IS NOT NULL"
            " AND district <> '' ORDER BY district"
        )
    )
