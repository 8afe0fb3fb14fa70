"""The storage benchmark (``bench.storage``) on the session's server: the plain half measures
the rows written, and the TimescaleDB half, where there is one, their compressed copy — also
where that server has TimescaleDB itself (its hypertables measured uncompressed, then
compressed). On the real server; sizes only, no timing. And the sizes it is asked for: exactly
the outlets of issue 16, and the summary's."""

from __future__ import annotations

import inspect
from typing import Any

import psycopg
import pytest

from bench import storage
from bench.storage import Sizes, StorageFigures, measure, parser, registry_of
from bench.summary import RUNS, storage_rows
from ingest.simulation import make_enterprises
from schemas.core.migrate import timescaledb_enabled
from schemas.registry.entries import EnterpriseIn
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


def test_exactly_the_outlets_asked_for() -> None:
    # issue 16's size is 192 outlets, which no count of enterprises gives (98: 191, 99: 194)
    registry = registry_of(0, 16, outlets=192)
    outlets = [o for e in registry for o in e["outlets"]]
    assert len(outlets) == 192
    whole = [o for e in make_enterprises(99, 16) for o in e["outlets"]]
    assert outlets == whole[:192]  # the enterprises' own outlets, the last enterprise cut short
    for enterprise in registry:
        EnterpriseIn.model_validate(enterprise)
    assert parser().parse_args(["--outlets", "192"]).outlets == 192
    assert registry_of(2, 16) == make_enterprises(2, 16)  # without it: the enterprises


def test_the_summary_measures_storage_at_the_benchmarks_own_size_quick_or_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # at 2 outlets × 1 day the fixed size of each chunk's relations made a third of the figure
    defaults = parser().parse_args([])
    real = inspect.signature(storage.measure)
    asked: list[tuple[int, int]] = []

    def measure(*args: Any, **kwargs: Any) -> None:
        bound = real.bind(*args, **kwargs)
        bound.apply_defaults()
        asked.append((bound.arguments["enterprises"], bound.arguments["days"]))

    monkeypatch.setattr(storage, "measure", measure)
    for quick in (True, False):
        RUNS["storage"][0](quick)
    assert asked == [(defaults.enterprises, defaults.days)] * 2


def test_the_summary_row_names_the_size_measured() -> None:
    sizes = Sizes(1_000_000, 0, 0, {})
    figures = StorageFigures(10_000, 1_000, 5, 2, sizes, None)
    (row,) = storage_rows(figures)
    assert "5 outlets × 2 d" in row.path
