"""TimescaleDB's hourly continuous aggregate gives the answers of plain PostgreSQL.

Runs only where migration 0013 created ``measurements_hourly`` (a TimescaleDB server:
``SOURCEWATCH_TEST_DSN`` or testcontainers, see tests/fixtures/services.py); on plain
PostgreSQL the same queries are covered by tests/api/test_measurements.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.aggregates import HourlyAggregate, detect_hourly_aggregate
from api.db import fetch_rows
from api.queries import measurements as queries
from api.queries.measurements import _microseconds
from schemas.core.migrate import hold_jobs, release_jobs
from tests.api.conftest import World, utc

pytestmark = pytest.mark.integration


@pytest.fixture
def aggregate(db: psycopg.Connection) -> Iterator[HourlyAggregate]:
    """The aggregate, its refresh policy held meanwhile: a policy's refresh beside the tests' own
    (due at once after the migrations) leaves changes of their days pending or materialized."""
    found = detect_hourly_aggregate(db)
    if found is None:
        pytest.skip("no TimescaleDB continuous aggregate here (plain PostgreSQL)")
    hold_jobs(db)
    try:
        yield found
    finally:
        release_jobs(db)


def _add(db: psycopg.Connection, outlet: int, start: datetime, minutes: int) -> None:
    """Minute and real-time SO₂ and O₂ values every minute from ``start``; some without value."""
    rows = []
    for i in range(minutes):
        ts = start + timedelta(minutes=i)
        value = None if i % 17 == 0 else Decimal(50 + i % 23)
        flag = "D" if i % 11 == 0 else "N"
        rows += [(outlet, "a21026", "min", ts, value, flag), (outlet, "a19001", "rtd", ts, 9, "N")]
    # keys already stored are left as they are (ON CONFLICT cannot target the view)
    db.cursor().executemany(
        "INSERT INTO measurements (outlet_id, pollutant, kind, ts, value, flag, received_at)"
        " SELECT k.*, now() FROM (VALUES (%s::bigint, %s, %s, %s::timestamptz, %s::numeric, %s))"
        " AS k(outlet_id, pollutant, kind, ts, value, flag)"
        " WHERE NOT EXISTS (SELECT FROM measurements m WHERE (m.outlet_id, m.pollutant, m.kind,"
        " m.ts) = (k.outlet_id, k.pollutant, k.kind, k.ts))",
        rows,
    )


def _refresh(db: psycopg.Connection) -> None:
    db.execute("CALL refresh_continuous_aggregate('measurements_hourly', NULL, NULL)")


def _pending(db: psycopg.Connection, agg: HourlyAggregate) -> int:
    """Changes of the test's days (2026-11-20 to 11-28) logged and not yet materialized."""
    days = (_microseconds(utc(0, day=20)), _microseconds(utc(0, day=28)))
    row = db.execute(
        "SELECT (SELECT count(*) FROM _timescaledb_catalog.continuous_aggs_hypertable_invalidation_log"
        "        WHERE hypertable_id = %s AND lowest_modified_value < %s"
        "          AND greatest_modified_value >= %s)"
        " + (SELECT count(*) FROM _timescaledb_catalog.continuous_aggs_materialization_invalidation_log"
        "    WHERE materialization_id = %s AND lowest_modified_value < %s"
        "      AND greatest_modified_value >= %s)",
        (agg.raw_hypertable_id, days[1], days[0], agg.mat_hypertable_id, days[1], days[0]),
    ).fetchone()
    assert row is not None
    return int(row[0])


PERIODS = [
    (utc(0), utc(0, day=28), None, None),  # whole hours only
    (utc(0, 20, day=26), utc(13, 45), None, None),  # partial hours at both ends
    (utc(0, 20, day=26), utc(13, 45), "a21026", None),
    (utc(0, 20, day=26), utc(13, 45), None, "rtd"),
    (utc(5, 59, day=26), utc(6, 1, day=26), "a21026", "min"),  # no whole hour
    (utc(3, day=20), utc(3, day=27), None, None),  # the API's longest raw period, 7 days
]


def _filter(world: World, start: datetime, end: datetime, p: str | None, k: str | None):  # type: ignore[no-untyped-def]
    return queries.SeriesFilter(
        outlet_id=world.gas,
        start=start,
        end=end,
        first_day=start.date(),
        end_day=end.date(),
        timezone="Asia/Shanghai",
        flag_standard="HJ 212-2017",
        pollutant=p,
        kind=k,
    )


def _counts(db: psycopg.Connection, world: World, agg: HourlyAggregate) -> list[tuple[int, int]]:
    out = []
    for start, end, pollutant, kind in PERIODS:
        f = _filter(world, start, end, pollutant, kind)
        plain = fetch_rows(db, queries.count("raw", f))[0]["found"]
        fast = fetch_rows(db, queries.count("raw", f, aggregate=agg))[0]["found"]
        out.append((int(plain), int(fast)))
    return out


def test_raw_counts_from_the_aggregate_equal_plain_counts(
    db: psycopg.Connection, world: World, aggregate: HourlyAggregate, client: TestClient
) -> None:
    _add(db, world.gas, utc(5, 30, day=26), 60 * 30)
    # nothing materialized yet: the count falls back to measurements
    first = _counts(db, world, aggregate)
    assert all(plain == fast for plain, fast in first), (first, _pending(db, aggregate))
    _refresh(db)
    assert _pending(db, aggregate) == 0  # the aggregate itself answers now
    after_refresh = _counts(db, world, aggregate)
    assert all(plain == fast for plain, fast in after_refresh)
    assert all(plain > 0 for plain, _ in after_refresh[:-1])
    # late data into materialized hours: exact until and after the next refresh
    _add(db, world.gas, utc(5, 10, day=26), 15)
    db.execute("DELETE FROM measurements WHERE outlet_id = %s AND ts = %s", (world.gas, utc(7)))
    late = _counts(db, world, aggregate)
    assert all(plain == fast for plain, fast in late) and late != after_refresh
    _refresh(db)
    assert _counts(db, world, aggregate) == late
    # and through the API
    for start, end, pollutant, kind in PERIODS:
        query = f"resolution=raw&start={start.isoformat()}&end={end.isoformat()}&limit=1"
        query = query.replace("+", "%2B")
        query += f"&pollutant={pollutant}" if pollutant else ""
        query += f"&kind={kind}" if kind else ""
        if end - start > timedelta(days=7):
            continue
        body = client.get(f"/v1/outlets/{world.gas}/measurements?{query}").json()
        f = _filter(world, start, end, pollutant, kind)
        assert body["meta"]["found"] == fetch_rows(db, queries.count("raw", f))[0]["found"]


def test_the_aggregate_equals_an_hourly_group_by(
    db: psycopg.Connection, world: World, aggregate: HourlyAggregate
) -> None:
    _add(db, world.gas, utc(22, 30, day=25), 60 * 10)
    direct = """SELECT outlet_id, pollutant, kind, flag, date_trunc('hour', ts, 'UTC') AS hour,
                       count(*), count(value), sum(value), min(value), max(value)
                FROM measurements GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5"""
    view = """SELECT outlet_id, pollutant, kind, flag, hour, n_rows, n_values, sum, min, max
              FROM measurements_hourly ORDER BY 1, 2, 3, 4, 5"""
    expected = db.execute(direct).fetchall()
    assert db.execute(view).fetchall() == expected  # real-time: nothing materialized yet
    _refresh(db)
    assert db.execute(view).fetchall() == expected  # materialized


def test_the_compressed_aggregate_answers_as_plain_postgresql(
    db: psycopg.Connection, world: World, aggregate: HourlyAggregate
) -> None:
    """The compressed aggregate (migration 0016: one segment per outlet, pollutant and data
    kind, as the API reads it, ordered by hour and flag) gives the same counts and rows as plain
    PostgreSQL, for one kind or several."""
    _add(db, world.gas, utc(22, 30, day=25), 60 * 30)
    _refresh(db)
    compressed = db.execute(
        "SELECT compress_chunk(c) FROM show_chunks('measurements_hourly') c"
    ).fetchall()
    assert compressed
    layouts = db.execute(
        "SELECT DISTINCT s.segmentby, s.orderby FROM _timescaledb_catalog.compression_settings s"
        " JOIN _timescaledb_catalog.chunk c"
        "   ON s.relid = format('%%I.%%I', c.schema_name, c.table_name)::regclass"
        " WHERE c.hypertable_id = %s AND c.compressed_chunk_id IS NOT NULL",
        (aggregate.mat_hypertable_id,),
    ).fetchall()
    assert layouts == [(["outlet_id", "pollutant", "kind"], ["hour", "flag"])]
    counts = _counts(db, world, aggregate)
    assert all(plain == fast for plain, fast in counts) and counts[0][0] > 0
    direct = """SELECT outlet_id, pollutant, kind, flag, date_trunc('hour', ts, 'UTC') AS hour,
                       count(*), count(value), sum(value), min(value), max(value)
                FROM measurements WHERE ts < %(end)s GROUP BY 1, 2, 3, 4, 5
                ORDER BY 1, 2, 3, 4, 5"""
    view = """SELECT outlet_id, pollutant, kind, flag, hour, n_rows, n_values, sum, min, max
              FROM measurements_hourly WHERE hour < %(end)s AND kind = ANY(%(kinds)s)
              ORDER BY 1, 2, 3, 4, 5"""
    end = utc(4, day=27)
    for kinds in (["min"], ["rtd"], ["min", "rtd"]):
        expected = [r for r in db.execute(direct, {"end": end}).fetchall() if r[2] in kinds]
        assert db.execute(view, {"end": end, "kinds": kinds}).fetchall() == expected
        assert expected
