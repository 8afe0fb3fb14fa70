-- TimescaleDB only (nothing happens on plain PostgreSQL).
--
-- measurements_hourly, compressed since 0016 with segmentby (outlet_id, pollutant, kind) and
-- orderby (hour, flag), is segmented by outlet and pollutant only, ordered by data kind, hour
-- and flag (issue 16: storage). A (outlet, pollutant) segment then holds the hours of every
-- kind (real-time, minute, hourly, daily data) in one batch sequence, so its batches are up to
-- four times fuller and their fixed cost is shared: 0.58 -> 0.45 bytes per raw row on the rows
-- of bench/storage.py (figures in bench/README.md). The API's read of one outlet's pollutant
-- series stays one segment; a kind within it is skipped batch by batch by the batch's kind
-- range (orderby columns keep their min and max per batch), as hours are by their range.
--
-- TimescaleDB applies the new layout to the chunks it compresses from now on; a chunk compressed
-- before keeps its own (kept per chunk) until it is recompressed. Both answer the same queries.

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        EXECUTE 'ALTER MATERIALIZED VIEW measurements_hourly SET (
                 timescaledb.compress_segmentby = ''outlet_id, pollutant'',
                 timescaledb.compress_orderby = ''kind, hour, flag'')';
    END IF;
END
$$;
