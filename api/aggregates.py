"""TimescaleDB continuous aggregates the API may read instead of the raw hypertable.

Migration 0013 creates ``measurements_hourly`` (per outlet, pollutant, data kind, flag and UTC
hour) only when TimescaleDB is present; :func:`hourly_aggregate` says, once per
:class:`~api.db.Database`, whether it exists and where TimescaleDB keeps its pending changes.
On plain PostgreSQL it is ``None`` and every query reads the tables as before.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from typing import Any

import psycopg

from api.db import Database

__all__ = ["HourlyAggregate", "detect_hourly_aggregate", "hourly_aggregate"]

_CATALOG = (
    "_timescaledb_catalog.continuous_agg",
    "_timescaledb_catalog.continuous_aggs_hypertable_invalidation_log",
    "_timescaledb_catalog.continuous_aggs_materialization_invalidation_log",
)


# Where TimescaleDB keeps the function giving a continuous aggregate's watermark (the end of
# what is materialized); the real-time view reads its hypertable from there on.
_WATERMARK = ("_timescaledb_functions.cagg_watermark", "_timescaledb_internal.cagg_watermark")


@dataclass(frozen=True, slots=True)
class HourlyAggregate:
    """``measurements_hourly`` exists: the ids of its raw and materialization hypertables,
    under which TimescaleDB logs the changes not yet materialized, and the watermark function."""

    raw_hypertable_id: int
    mat_hypertable_id: int
    watermark_function: str


def detect_hourly_aggregate(conn: psycopg.Connection[Any]) -> HourlyAggregate | None:
    names = ("measurements_hourly", *_CATALOG)
    row = conn.execute(
        "SELECT bool_and(to_regclass(n) IS NOT NULL) FROM unnest(%s::text[]) AS n", (list(names),)
    ).fetchone()
    if row is None or not row[0]:
        return None
    watermark = next(
        (
            name
            for name in _WATERMARK
            if conn.execute("SELECT to_regproc(%s) IS NOT NULL", (name,)).fetchone() == (True,)
        ),
        None,
    )
    found = conn.execute(
        "SELECT raw_hypertable_id, mat_hypertable_id FROM _timescaledb_catalog.continuous_agg"
        " WHERE format('%I.%I', user_view_schema, user_view_name)::regclass"
        " = 'measurements_hourly'::regclass"
    ).fetchone()
    if found is None or watermark is None:
        return None
    return HourlyAggregate(int(found[0]), int(found[1]), watermark)


_known: weakref.WeakKeyDictionary[Database, HourlyAggregate | None] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def hourly_aggregate(db: Database) -> HourlyAggregate | None:
    """The aggregate of this database, detected on first use."""
    with _lock:
        if db in _known:
            return _known[db]
    found = db.call(detect_hourly_aggregate)
    with _lock:
        _known[db] = found
    return found
