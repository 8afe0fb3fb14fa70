-- TimescaleDB only (nothing happens on plain PostgreSQL): outlet_series (migration 0029) reads
-- the chunks of its range only (issue 16; bench/README.md, "Eighteenth round: the suite and the
-- benchmarks on TimescaleDB").
--
-- 0029's TimescaleDB variant, a SQL function inlined into the evaluator's minutes' read
-- (alerts/evaluation.py, _READ_HOURS), bounded the time to [lo, hi) to exclude the other chunks.
-- It did not: the read is a prepared statement with a generic plan, so lo and hi are parameters
-- of a lateral join, excluded only at run time, and TimescaleDB does that in its ChunkAppend,
-- which the DISTINCT's plan does not use (a Merge Append of a SkipScan per chunk, sorted by
-- pollutant and kind). Every chunk's primary key was searched, and the bound on ts, a fourth
-- column, was checked entry by entry: one hour of an outlet with two months of minutes walked all
-- of them, some 3,000 pages and 14-19 ms of the server's CPU a call (2.3-3.2 ms with all but the
-- two newest chunks compressed), growing with the history.
--
-- Now a PL/pgSQL function that runs the DISTINCT as a statement of its own with the bounds as
-- values (EXECUTE … USING: planned with them, so the chunks outside are excluded when planning),
-- and bounded by the start and end of the chunks that hold [lo, hi) rather than by lo and hi:
-- every entry of those chunks is then within the bound, and the SkipScan takes each series'
-- first entry and skips to the next instead of walking the entries before lo. The result is a
-- superset of the series with rows in [lo, hi), as 0029 allows: those with rows elsewhere in the
-- range's chunks (the read finds none of theirs and drops them). No chunk holds the range: no
-- rows, no series. Its statements see the calling statement's snapshot (STABLE), so the chunks
-- and the rows it reads are those of one moment. About 0.4-0.5 ms of the server's CPU a call
-- whatever the history, compressed chunks included.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        CREATE OR REPLACE FUNCTION outlet_series(outlet bigint, lo timestamptz, hi timestamptz)
        RETURNS TABLE (pollutant text, kind text)
        LANGUAGE plpgsql STABLE PARALLEL SAFE
        AS $f$
        DECLARE
            first_start timestamptz;
            last_end timestamptz;
        BEGIN
            SELECT min(c.range_start), max(c.range_end) INTO first_start, last_end
            FROM timescaledb_information.chunks c
            WHERE format('%I.%I', c.hypertable_schema, c.hypertable_name)::regclass
                    = 'measurement_rows'::regclass
                AND c.range_start < hi AND c.range_end > lo;
            IF first_start IS NULL THEN
                RETURN;
            END IF;
            RETURN QUERY EXECUTE
                'SELECT DISTINCT m.pollutant, m.kind FROM measurement_rows m
                 WHERE m.outlet_id = $1 AND m.ts >= $2 AND m.ts < $3'
                USING outlet, first_start, last_end;
        END
        $f$;
    END IF;
END
$$;
