-- The series (pollutant and kind) an outlet may have measurement rows of in a time range
-- (issue 16: the evaluator's minutes' read, bench/README.md "Seventeenth round: the evaluator's
-- server-side work").
--
-- measurement_rows' primary key is (outlet_id, pollutant, kind, ts): a read of one outlet's
-- range of times that names neither pollutant nor kind is bounded by the outlet alone, and on
-- plain PostgreSQL (15 has no skip scan) walks every entry the outlet has ever sent, checking
-- each one's time, to find the hour it wants: 2.7 ms for one hour of an outlet with two months
-- of minutes, against 0.2 without them, growing with the outlet's history. Given its series,
-- the read descends the key to each one's range instead (alerts/evaluation.py, _READ_HOURS).
--
-- outlet_series gives a superset of the series with rows in [lo, hi) (the read drops those with
-- none there), each once:
-- - plain PostgreSQL: every series the outlet has, one descent of the key each (a recursive
--   "loose index scan"; the range is not used, as a bound on ts would be checked entry by entry
--   again);
-- - TimescaleDB: the series with rows in the chunks of [lo, hi) (a bound on ts is what excludes
--   the other chunks, each of which has its own index, so a search without one would descend
--   every chunk's, compressed ones included).
-- A SQL function, STABLE: it reads the table.
CREATE FUNCTION outlet_series(outlet bigint, lo timestamptz, hi timestamptz)
RETURNS TABLE (pollutant text, kind text)
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    WITH RECURSIVE s AS (
        (SELECT m.pollutant, m.kind FROM measurement_rows m
         WHERE m.outlet_id = outlet ORDER BY m.pollutant, m.kind LIMIT 1)
        UNION ALL
        SELECT n.pollutant, n.kind FROM s CROSS JOIN LATERAL (
            SELECT m.pollutant, m.kind FROM measurement_rows m
            WHERE m.outlet_id = outlet AND (m.pollutant, m.kind) > (s.pollutant, s.kind)
            ORDER BY m.pollutant, m.kind LIMIT 1
        ) n
    )
    SELECT s.pollutant, s.kind FROM s
$$;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        CREATE OR REPLACE FUNCTION outlet_series(outlet bigint, lo timestamptz, hi timestamptz)
        RETURNS TABLE (pollutant text, kind text)
        LANGUAGE sql STABLE PARALLEL SAFE
        AS $f$
            SELECT DISTINCT m.pollutant, m.kind FROM measurement_rows m
            WHERE m.outlet_id = outlet AND m.ts >= lo AND m.ts < hi
        $f$;
    END IF;
END
$$;
