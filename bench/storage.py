"""Storage benchmark: bytes per measurement row on plain PostgreSQL and, where TimescaleDB is
installed beside the server binaries, on TimescaleDB with every chunk compressed, for the same
generated rows.

    python -m bench.storage                          # 2 enterprises (5 outlets) × 2 days
    python -m bench.storage --enterprises 20 --days 14
    python -m bench.storage --outlets 192 --days 2   # exactly 192 outlets (issue 16's count)

The rows are the simulator's traffic (``ingest.simulation``: a real-time upload every 30 s, a
minute and an hourly upload per outlet) decoded by the ingest path and written by the real
writer into a fresh database on the server of SOURCEWATCH_BENCH_DSN. Arrival times are the send
times plus a network delay of 20-900 ms with microseconds, as a worker stamps them. The same
``frames`` and ``measurement_rows`` rows (the table beneath the view ``measurements``, each exact
decimal as a mantissa and a scale: migration 0024) are then copied into a private TimescaleDB
cluster (``sourcewatch.embedded_postgres``), where the migrations make hypertables and the
``measurements_hourly`` continuous aggregate: the aggregate is refreshed, every chunk of both is
compressed, and the sizes are read. "All-in" counts the measurement_rows hypertable (heap,
indexes, TOAST, compressed chunks) and the aggregate's materialization; ``frames`` is shown
apart. Where TimescaleDB is missing, that half says so.

Where the server of SOURCEWATCH_BENCH_DSN has TimescaleDB itself (the migrations made
hypertables there), both halves are measured in that one database: first its hypertables as
loaded, uncompressed (the background jobs paused before the load), in place of plain tables,
then the same after the aggregate's refresh and every chunk's compression.
"""

from __future__ import annotations

import argparse
import os
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql

from bench.ingest import fresh_database
from ingest.outlets import load_outlets
from ingest.records import Accepted
from ingest.simulation import generate_traffic, make_enterprises
from ingest.uplink import decode_message
from ingest.writer import write_batch
from schemas.core.migrate import timescaledb_enabled
from schemas.registry.entries import EnterpriseIn, import_registry
from sourcewatch.embedded_postgres import throwaway_postgres, timescaledb_installed

START = datetime(2026, 10, 5)  # a Monday, Asia/Shanghai local time (the simulator's)
COPIED = ("frames", "measurement_rows")  # the table beneath the view measurements (0024)


@dataclass(frozen=True)
class Sizes:
    measurements: int  # bytes: heap, indexes and TOAST, or the hypertable with its chunks
    aggregate: int  # bytes of measurements_hourly's materialization (0 on plain PostgreSQL)
    frames: int
    columns: dict[str, float]  # bytes per row by column in compressed chunks (TimescaleDB)
    relations: dict[str, int] | None = None  # the raw hypertable's heap, TOAST and index bytes


@dataclass(frozen=True)
class StorageFigures:
    rows: int  # measurement rows
    frames: int
    outlets: int
    days: int
    plain: Sizes
    timescaledb: Sizes | None  # None where TimescaleDB is not installed
    plain_tables: bool = True  # False: ``plain`` is the uncompressed hypertables instead

    def per_row(self, sizes: Sizes) -> float:
        return (sizes.measurements + sizes.aggregate) / self.rows


# --- The rows ----------------------------------------------------------------------------------


def registry_of(enterprises: int, seed: int, outlets: int | None = None) -> list[dict[str, Any]]:
    """``enterprises`` simulated enterprises; or, with ``outlets``, exactly that many outlets: the
    first enterprises that hold them, the last one cut short (no count of enterprises gives
    every count of outlets: 98 have 191, 99 have 194)."""
    if outlets is None:
        return make_enterprises(enterprises, seed)
    registry: list[dict[str, Any]] = []
    left = outlets
    for enterprise in make_enterprises(outlets, seed):  # each has at least one outlet
        if left <= 0:
            break
        registry.append({**enterprise, "outlets": enterprise["outlets"][:left]})
        left -= len(registry[-1]["outlets"])
    return registry


def load(
    url: str, enterprises: int, days: int, seed: int, outlets: int | None = None
) -> tuple[int, int]:
    """Simulated traffic through the decoder and the writer; (measurement rows, frames)."""
    registry = registry_of(enterprises, seed, outlets)
    rng = random.Random(seed)
    with psycopg.connect(url, autocommit=True) as conn:
        import_registry(conn, [EnterpriseIn.model_validate(e) for e in registry])
        outlets = load_outlets(conn)
        batch: list[Accepted] = []
        traffic = generate_traffic(
            registry, seed=seed, start=START, end=START + timedelta(days=days)
        )
        for message in traffic:
            sent = message.send_time.replace(tzinfo=UTC) - timedelta(hours=8)
            received = sent + timedelta(microseconds=rng.randrange(20_000, 900_000))
            for item in decode_message(message.topic, message.payload, received, outlets.get):
                if isinstance(item, Accepted):
                    batch.append(item)
            if len(batch) >= 1000:
                write_batch(conn, batch, [])
                batch = []
        if batch:
            write_batch(conn, batch, [])
        conn.execute("VACUUM ANALYZE")
        rows = conn.execute("SELECT count(*) FROM measurements").fetchone()
        frames = conn.execute("SELECT count(*) FROM frames").fetchone()
    assert rows is not None and frames is not None
    return int(rows[0]), int(frames[0])


def copy_rows(source: str, target: str) -> None:
    """The same frames and measurement_rows rows, column for column (binary COPY)."""
    with psycopg.connect(source) as src, psycopg.connect(target) as dst:
        for table in COPIED:
            columns = [
                r[0]
                for r in src.execute(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_name = %s ORDER BY ordinal_position",
                    (table,),
                )
            ]
            names = sql.SQL(", ").join(map(sql.Identifier, columns))
            out = sql.SQL("COPY {} ({}) TO STDOUT (FORMAT binary)").format(
                sql.Identifier(table), names
            )
            into = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT binary)").format(
                sql.Identifier(table), names
            )
            with src.cursor().copy(out) as reader, dst.cursor().copy(into) as writer:
                for block in reader:
                    writer.write(block)
        dst.commit()


# --- Sizes -------------------------------------------------------------------------------------


def plain_sizes(url: str) -> Sizes:
    """The tables' sizes: heap, indexes and TOAST, the chunks' on TimescaleDB."""
    with psycopg.connect(url) as conn:
        size = "hypertable_size" if timescaledb_enabled(conn) else "pg_total_relation_size"
        row = conn.execute(
            sql.SQL("SELECT {size}('measurement_rows'), {size}('frames')").format(
                size=sql.Identifier(size)
            )
        ).fetchone()
    assert row is not None
    return Sizes(int(row[0]), 0, int(row[1]), {})


def pause_jobs(url: str) -> None:
    """Stop the background jobs (the compression policies would race compress_everything: the
    simulated days are older than their 30 days)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "SELECT alter_job(job_id, scheduled => false) FROM timescaledb_information.jobs"
            " WHERE job_id >= 1000"
        )


def compress_everything(url: str) -> None:
    """Refresh the aggregate, then compress every chunk of the raw data and of the aggregate
    (those whose compression the migrations enabled)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CALL refresh_continuous_aggregate('measurements_hourly', NULL, NULL)")
        enabled = conn.execute(
            "SELECT hypertable_name FROM timescaledb_information.hypertables"
            " WHERE compression_enabled"
            " UNION ALL SELECT view_name FROM timescaledb_information.continuous_aggregates"
            " WHERE compression_enabled"
        ).fetchall()
        for (name,) in enabled:
            conn.execute(
                "SELECT compress_chunk(c, if_not_compressed => true) FROM show_chunks(%s) c",
                (name,),
            )
        conn.execute("VACUUM ANALYZE")


def materialization(conn: psycopg.Connection[Any]) -> str:
    row = conn.execute(
        "SELECT format('%I.%I', materialization_hypertable_schema, materialization_hypertable_name)"
        " FROM timescaledb_information.continuous_aggregates"
        " WHERE view_name = 'measurements_hourly'"
    ).fetchone()
    assert row is not None
    return str(row[0])


def column_bytes(conn: psycopg.Connection[Any], hypertable: str, rows: int) -> dict[str, float]:
    """Bytes per raw row that each column takes in the compressed chunks of ``hypertable``."""
    chunks = conn.execute(
        "SELECT format('%%I.%%I', c2.schema_name, c2.table_name)"
        " FROM _timescaledb_catalog.chunk c1"
        " JOIN _timescaledb_catalog.chunk c2 ON c2.id = c1.compressed_chunk_id"
        " JOIN _timescaledb_catalog.hypertable h ON h.id = c1.hypertable_id"
        " WHERE h.table_name = %s",
        (hypertable,),
    ).fetchall()
    totals: dict[str, float] = {}
    for (chunk,) in chunks:
        schema, _, table = chunk.partition(".")
        columns = [
            r[0]
            for r in conn.execute(
                "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0"
                " AND NOT attisdropped",
                (chunk,),
            )
        ]
        sums = sql.SQL(", ").join(
            sql.SQL("coalesce(sum(pg_column_size({})), 0)").format(sql.Identifier(c))
            for c in columns
        )
        target = sql.SQL("{}.{}").format(sql.Identifier(schema.strip('"')), sql.Identifier(table))
        row = conn.execute(sql.SQL("SELECT {} FROM {}").format(sums, target)).fetchone()
        assert row is not None
        for column, size in zip(columns, row, strict=True):
            totals[column] = totals.get(column, 0.0) + float(size)
    return {c: size / rows for c, size in sorted(totals.items(), key=lambda kv: -kv[1])}


def timescaledb_sizes(url: str, rows: int) -> Sizes:
    with psycopg.connect(url) as conn:
        aggregate = materialization(conn)
        row = conn.execute(
            "SELECT hypertable_size('measurement_rows'), hypertable_size(%s::regclass),"
            " hypertable_size('frames')",
            (aggregate,),
        ).fetchone()
        assert row is not None
        columns = column_bytes(conn, "measurement_rows", rows)
        kinds = conn.execute(
            "SELECT table_bytes, toast_bytes, index_bytes"
            " FROM hypertable_detailed_size('measurement_rows')"
        ).fetchone()
    assert kinds is not None
    relations = dict(zip(("heap", "TOAST", "indexes"), map(int, kinds), strict=True))
    return Sizes(int(row[0]), int(row[1] or 0), int(row[2]), columns, relations)


# --- Running -----------------------------------------------------------------------------------


def measure(
    enterprises: int = 2, days: int = 2, seed: int = 16, outlets: int | None = None
) -> StorageFigures:
    admin = os.environ.get("SOURCEWATCH_BENCH_DSN", "postgresql://postgres@127.0.0.1:5432/test")
    with fresh_database(admin, outlets=0) as plain:
        with psycopg.connect(plain) as conn:
            hypertables = timescaledb_enabled(conn)
        if hypertables:
            pause_jobs(plain)
        rows, frames = load(plain, enterprises, days, seed, outlets)
        with psycopg.connect(plain) as conn:
            outlet_count = conn.execute("SELECT count(*) FROM outlets").fetchone()
        assert outlet_count is not None
        plain_result = plain_sizes(plain)
        timescale: Sizes | None = None
        if hypertables:
            compress_everything(plain)
            timescale = timescaledb_sizes(plain, rows)
        elif timescaledb_installed():
            with (
                throwaway_postgres("sourcewatch-bench-tsdb-") as tsdb_admin,
                fresh_database(tsdb_admin, outlets=0) as url,
            ):
                pause_jobs(url)
                copy_rows(plain, url)
                compress_everything(url)
                timescale = timescaledb_sizes(url, rows)
    return StorageFigures(
        rows, frames, int(outlet_count[0]), days, plain_result, timescale, not hypertables
    )


def report(figures: StorageFigures) -> None:
    f = figures
    print(  # noqa: T201
        f"{f.rows:,} measurement rows from {f.frames:,} frames ({f.outlets} outlets × {f.days} days"
        " of simulated traffic)"
    )
    plain = "plain PostgreSQL:" if f.plain_tables else "uncompressed hypertables:"
    print(  # noqa: T201
        f"  {plain}  {f.per_row(f.plain):7.1f} bytes per measurement row"
        f"   (frames: {f.plain.frames / f.rows:.1f} more)"
    )
    if f.timescaledb is None:
        print("  TimescaleDB: skipped, not installed beside the PostgreSQL server")  # noqa: T201
        return
    t = f.timescaledb
    print(  # noqa: T201
        f"  TimescaleDB, compressed, all-in: {f.per_row(t):7.1f} bytes per measurement row"
        f" = raw {t.measurements / f.rows:.1f} + hourly aggregate {t.aggregate / f.rows:.1f}"
        f"   (frames: {t.frames / f.rows:.1f} more); {f.per_row(f.plain) / f.per_row(t):.1f}×"
    )
    columns = ", ".join(
        f"{c} {b:.2f}" for c, b in t.columns.items() if b >= 0.05 or c == "received_at"
    )
    rest = t.measurements / f.rows - sum(t.columns.values())
    print(  # noqa: T201
        f"  compressed raw chunks, bytes per row by column: {columns};"
        f" the rest (row headers, batch metadata, TOAST, indexes, empty chunk heaps) {rest:.2f}"
    )
    if t.relations:
        kinds = ", ".join(f"{k} {b / f.rows:.2f}" for k, b in t.relations.items())
        print(f"  raw chunks by relation, bytes per row: {kinds}")  # noqa: T201


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--enterprises", type=int, default=2)
    parser.add_argument("--days", type=int, default=2)
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument(
        "--outlets",
        type=int,
        help="exactly this many outlets, from as many enterprises as it takes (not --enterprises)",
    )
    return parser


def main() -> None:
    args = parser().parse_args()
    report(measure(args.enterprises, args.days, args.seed, args.outlets))


if __name__ == "__main__":
    main()
