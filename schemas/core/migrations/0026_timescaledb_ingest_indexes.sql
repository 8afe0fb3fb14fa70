-- TimescaleDB only (nothing happens on plain PostgreSQL): what ingest writes and looks up on
-- the hypertables, as on plain PostgreSQL (issue 16; bench/README.md, "Tenth round:
-- TimescaleDB's ingest and background jobs").
--
-- 1. The time indexes. create_hypertable() gave measurement_rows and frames a B-tree on their
--    time column (measurement_rows_ts_idx on ts DESC, frames_received_at_idx on received_at
--    DESC), which plain PostgreSQL has as BRIN (0002, 0024): one more B-tree insertion for
--    every value and every frame written, about a fifth of the backends' extra CPU on
--    TimescaleDB in the writer's benchmark. No query needs it: the readers look up one outlet
--    (measurement_rows' primary key, frames_outlet_idx), the continuous aggregate's refresh and
--    the compression read time ranges of chunks, which a BRIN serves as it does on plain
--    PostgreSQL (rows arrive in about the order of their time).
-- 2. frames in chunks of 7 days instead of 1 (new chunks; those made stay as they are). The
--    writer looks each frame of a batch up by digest in the 30 days before it
--    (ingest/writer.py, _FRAME_IDS): one index probe per chunk of those days, 30 with daily
--    chunks (14 ms a batch of 500 against 1.2 on plain PostgreSQL), 5 or 6 with weekly ones
--    (6 ms). The compression policy (after 31 days, 0013) compresses a chunk once all of it is
--    that old, so the newest frames compressed are now 31 to 38 days old instead of 31 to 32.

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        DROP INDEX IF EXISTS measurement_rows_ts_idx;
        DROP INDEX IF EXISTS frames_received_at_idx;
        CREATE INDEX IF NOT EXISTS measurement_rows_ts_brin ON measurement_rows USING brin (ts);
        CREATE INDEX IF NOT EXISTS frames_received_brin ON frames USING brin (received_at);
        PERFORM set_chunk_time_interval('frames', interval '7 days');
    END IF;
END
$$;
