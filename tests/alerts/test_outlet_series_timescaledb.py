"""The evaluator's minutes' read on TimescaleDB (outlet_series, migrations 0029 and 0033): the
series of an hour are found in the chunks of that hour, as its samples are, whatever the outlet
sent before and after it, in other chunks, compressed or not. (The plain PostgreSQL side is
tests/alerts/test_evaluator.py's test_the_minutes_read_of_an_hour_does_not_walk_the_outlets_history.)"""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest

from tests.alerts.test_evaluator import (
    H0,
    MN,
    hour_samples,
    minute_rows,
    minutes_around,
    read_pages,
    store,
)
from tests.fixtures.registry import add_outlet


@pytest.fixture
def tsdb(db: psycopg.Connection) -> psycopg.Connection:
    if not db.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'").fetchone():
        pytest.skip("TimescaleDB only: on plain PostgreSQL outlet_series descends the key")
    return db


def test_the_minutes_read_of_an_hour_reads_the_chunks_of_that_hour(
    tsdb: psycopg.Connection,
) -> None:
    """One hour read with 30 days of minutes around it (5 chunks or more, those before the
    hour compressed) reads the same samples as alone and touches a few times the pages at most
    (TimescaleDB's list of chunks, read for the hour's, is longer), whatever the days' rows. With
    0029's variant, in the read's generic plan, the key of every chunk was walked: about 50 times
    the pages here, growing with the history."""
    from alerts.evaluation import _READ_HOURS

    db = tsdb
    outlet = add_outlet(db, MN)
    store(db, outlet, {0: minute_rows(0, "30")})
    hour = ([outlet], [H0], [H0 + timedelta(hours=1)])
    db.execute("SET plan_cache_mode = force_generic_plan")  # as the evaluator's batch reads

    def pages() -> int:
        db.execute(_READ_HOURS, hour, prepare=True, binary=True).fetchall()  # plans cached
        return read_pages(db, _READ_HOURS, hour)

    alone, before = pages(), hour_samples(db, outlet)
    assert set(before) == {("a21026", "min"), ("a19001", "min")}
    minutes_around(db, outlet, 15)  # 30 days of minutes of both series, and an rtd series
    chunks = db.execute(
        "SELECT count(*) FILTER (WHERE range_end <= %(h)s), count(*) FROM "
        "timescaledb_information.chunks WHERE hypertable_name = 'measurement_rows' "
        "AND range_end > %(h)s - interval '15 days'",
        {"h": H0},
    ).fetchone()
    assert chunks is not None and chunks[0] >= 2 and chunks[1] >= 5, chunks
    db.execute(
        "SELECT compress_chunk(format('%%I.%%I', chunk_schema, chunk_name)::regclass) "
        "FROM timescaledb_information.chunks WHERE hypertable_name = 'measurement_rows' "
        "AND range_end <= %s",
        (H0,),
    )
    db.execute("ANALYZE measurement_rows")
    assert hour_samples(db, outlet) == before
    assert pages() <= 4 * alone, alone
    # A superset of the hour's series (the rtd series has rows in its chunk), which the read drops.
    found = set(
        db.execute("SELECT * FROM outlet_series(%s, %s, %s)", (outlet, H0, H0 + timedelta(hours=1)))
    )
    assert set(before) <= found <= {("a21026", "min"), ("a19001", "min"), ("a21026", "rtd")}


def test_outlet_series_of_a_range_without_chunks_is_empty(tsdb: psycopg.Connection) -> None:
    db = tsdb
    outlet = add_outlet(db, MN)
    store(db, outlet, {0: minute_rows(0, "30")})
    far = H0 + timedelta(days=400)
    assert (
        db.execute("SELECT * FROM outlet_series(%s, %s, %s)", (outlet, far, far)).fetchall() == []
    )
    assert set(
        db.execute("SELECT * FROM outlet_series(%s, %s, %s)", (outlet, H0 - timedelta(days=1), far))
    ) == {("a21026", "min"), ("a19001", "min")}
