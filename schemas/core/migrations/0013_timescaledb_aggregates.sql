-- TimescaleDB only (nothing happens on plain PostgreSQL, whose queries read the tables as before).
--
-- 1. frames: compressed after 31 days instead of 7. The writer's re-delivery check looks frames
--    up by digest over the last 30 days; compressed chunks have no index on digest (and it is
--    no segmentby column), so each batch decompressed every frame of days 7–30.
-- 2. measurements_hourly: a continuous aggregate of the raw hypertable per outlet, pollutant,
--    data kind, HJ 212 flag and UTC hour (n_rows; n_values, the rows with a value; sum, min,
--    max), real-time (rows not yet materialized are aggregated from measurements at query
--    time), refreshed every 15 minutes over everything that changed (late data and revisions
--    included). The API counts raw series from it (api/aggregates.py) where no change is
--    waiting to be materialized, so the answers are those of plain PostgreSQL.

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        PERFORM remove_compression_policy('frames', if_exists => true);
        PERFORM add_compression_policy('frames', interval '31 days');

        EXECUTE $view$
            CREATE MATERIALIZED VIEW measurements_hourly
            WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
            SELECT outlet_id, pollutant, kind, flag,
                   time_bucket(interval '1 hour', ts) AS hour,
                   count(*) AS n_rows,
                   count(value) AS n_values,
                   sum(value) AS sum,
                   min(value) AS min,
                   max(value) AS max
            FROM measurements
            GROUP BY outlet_id, pollutant, kind, flag, time_bucket(interval '1 hour', ts)
            WITH NO DATA
        $view$;
        PERFORM add_continuous_aggregate_policy('measurements_hourly',
            start_offset => NULL,
            end_offset => interval '1 hour',
            schedule_interval => interval '15 minutes');
    END IF;
END
$$;
