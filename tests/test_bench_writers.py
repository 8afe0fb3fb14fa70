"""The ingest benchmark's writer without and with the completeness record
(``bench.ingest.bench_writers``), batch by batch in turn into two databases built alike: each
side writes every value, only the side with the record keeps it, and each pass (or round)
starts from empty tables again. On the real server; no timing asserted."""

from __future__ import annotations

import psycopg

from bench.ingest import bench_writers, decoded, fresh_database, make_frames


def _counts(url: str) -> tuple[int, ...]:
    """Values, frames, and values the completeness record counts as received."""
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT (SELECT count(*) FROM measurements), (SELECT count(*) FROM frames),"
            " (SELECT coalesce(sum(received), 0) FROM completeness)"
        )
        return tuple(map(int, cur.fetchone() or ()))


def test_both_sides_write_every_value_and_only_one_keeps_the_record(pg_admin_dsn: str) -> None:
    with fresh_database(pg_admin_dsn) as on_url, fresh_database(pg_admin_dsn) as off_url:
        frames = make_frames(120)
        accepted = decoded(on_url, frames)
        values = sum(len(a.rows) for a in accepted)
        for passes in (1, 2):
            off, on = bench_writers(off_url, on_url, accepted, 50, passes)
            assert (off.values, on.values) == (passes * values, passes * values)
            assert off.seconds > 0 and on.seconds > 0
            assert _counts(off_url) == (values, len(frames), 0)
            assert _counts(on_url) == (values, len(frames), values)
