-- TimescaleDB only (nothing happens on plain PostgreSQL).
--
-- measurements_hourly, the continuous aggregate of 0013, is compressed like the raw data. It
-- had no compression, and its materialization outgrew the compressed raw chunks (issue 16).
-- Segment by outlet, pollutant and data kind, as the raw hypertable and as the API reads it
-- (one outlet's series of one pollutant over a time range: one segment, batches skipped by
-- their hour range); order by hour, then flag. Compressed after 31 days, beside the raw chunks
-- (30 days) and frames (31 days). A late value or a revision older than that still reaches the
-- aggregate: a refresh decompresses and recompresses what it changes.
--
-- The raw hypertable keeps segmentby (outlet_id, pollutant, kind) and orderby ts: of the
-- layouts that put the rows of one frame side by side (so that their shared received_at and
-- frame_id would cost once per frame), segmentby (outlet_id, kind) / orderby (ts, pollutant)
-- and segmentby outlet_id / orderby (kind, ts, pollutant) were 37 % and 44 % larger on the same
-- rows (bench/storage.py, figures in bench/README.md): the delta-of-delta encoding of ts then packs
-- the zero steps within a frame at the width of the step between frames.

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        EXECUTE 'ALTER MATERIALIZED VIEW measurements_hourly SET (timescaledb.compress = true,
                 timescaledb.compress_segmentby = ''outlet_id, pollutant, kind'',
                 timescaledb.compress_orderby = ''hour, flag'')';
        PERFORM add_compression_policy('measurements_hourly', compress_after => interval '31 days');
    END IF;
END
$$;
