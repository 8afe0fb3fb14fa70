"""The storage benchmark (``bench.storage``) on the session's server: the plain half measures
the rows written, and the TimescaleDB half, where there is one, their compressed copy — also
where that server has TimescaleDB itself (its hypertables measured uncompressed, then
compressed). On the real server; sizes only, no timing."""

from __future__ import annotations

import psycopg
import pytest

from bench.storage import measure
from schemas.core.migrate import timescaledb_enabled
from sourcewatch.embedded_postgres import timescaledb_installed


def test_both_halves_measure_the_rows_written(
    pg_admin_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCEWATCH_BENCH_DSN", pg_admin_dsn)
    with psycopg.connect(pg_admin_dsn) as conn:  # the migrations make hypertables there
        hypertables = timescaledb_enabled(conn) or bool(
            conn.execute(
                "SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'"
                " AND current_setting('shared_preload_libraries') LIKE '%timescaledb%'"
            ).fetchone()
        )
    figures = measure(enterprises=1, days=1)
    assert figures.rows > 10_000
    # an uncompressed row holds its key, time, frame and value pairs: far more than 50 bytes
    assert figures.per_row(figures.plain) > 50
    assert figures.plain_tables is not hypertables
    if hypertables or timescaledb_installed():  # there, or a private cluster beside it
        t = figures.timescaledb
        assert t is not None
        assert 0 < figures.per_row(t) < figures.per_row(figures.plain) / 4
        assert t.columns["value_mantissa"] > 0  # the rows are in the compressed chunks
