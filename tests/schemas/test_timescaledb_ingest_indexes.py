"""Migration 0026: on TimescaleDB the hypertables ingest writes have the indexes of plain
PostgreSQL (BRIN on their time column, no B-tree of it alone), and frames go in weekly chunks.
Skipped on plain PostgreSQL, where 0002 and 0024 made these BRIN indexes."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest

pytestmark = pytest.mark.integration


def test_the_hypertables_index_their_time_as_plain_postgresql_does(
    db: psycopg.Connection,
) -> None:
    if not db.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'").fetchone():
        pytest.skip("TimescaleDB only")
    indexes = db.execute(
        "SELECT tablename, indexname, indexdef FROM pg_indexes"
        " WHERE schemaname = 'public' AND tablename IN ('frames', 'measurement_rows')"
        " ORDER BY 1, 2"
    ).fetchall()
    assert [(t, i) for t, i, d in indexes if " USING brin " in d] == [
        ("frames", "frames_received_brin"),
        ("measurement_rows", "measurement_rows_ts_brin"),
    ]
    assert not [i for _, i, d in indexes if d.endswith("(received_at DESC)") or "(ts DESC)" in d]
    intervals = dict(
        db.execute(
            "SELECT hypertable_name, time_interval FROM timescaledb_information.dimensions"
            " WHERE hypertable_name IN ('frames', 'measurement_rows')"
        ).fetchall()
    )
    assert intervals == {"frames": timedelta(days=7), "measurement_rows": timedelta(days=7)}
