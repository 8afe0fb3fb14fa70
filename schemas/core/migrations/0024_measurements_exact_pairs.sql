-- The seven exact-decimal columns of measurements kept as an integer mantissa and a scale
-- each (issue 16: at most 8 bytes per measurement row on TimescaleDB, the aggregate included).
--
-- As `numeric`, TimescaleDB compresses value, min, max, cou, zs_value, zs_min and zs_max as
-- arrays of the values' bytes (about 5.9 bytes per row for the seven); as a bigint mantissa
-- and a smallint scale (integers: delta-of-delta and run lengths) they take about 2.9 and the
-- raw chunks fall from 8.2 to about 4.9 bytes per row (bench/README.md, "Storage on
-- TimescaleDB"). The scale is kept per value, so every published digit stays: 10.00 is stored
-- as (1000, 2) and read back as 10.00, not 10.
--
-- ONE home for the representation, here:
--   exact_mantissa(numeric) bigint, exact_scale(numeric) smallint: the split (NULL stays NULL);
--   exact_wide(numeric) numeric: a value that is no such pair (more than 18 significant digits
--   or 18 decimal places, NaN, ±Infinity: possible as sent, though no real instrument's) is
--   kept as it is in <column>_wide instead, neither refused nor rounded (exact_fits says which);
--   exact_decimal(bigint, smallint, numeric) numeric: the join, the same value with the same
--   scale (the mantissa times the power of ten of that scale, e.g. 1000 * 0.01 = 10.00), or
--   the wide value.
-- The SQL functions are inlined by the planner (no call per row). An all-NULL <column>_wide
-- costs next to nothing: a bit of the null bitmap, a few bytes per compressed batch.
--
-- The table beneath is now measurement_rows (<column>_mantissa, <column>_scale, <column>_wide);
-- `measurements` is a view over it with exactly the columns and types of before, which every
-- reader keeps reading. Writers: ingest (ingest/writer.py) writes measurement_rows directly
-- through the split functions (COPY and INSERT … ON CONFLICT cannot target a view); anything
-- else that INSERTs or UPDATEs `measurements` (tests, hand corrections) goes through the
-- view's INSTEAD OF triggers, which split the same way; DELETE on the view deletes the rows
-- (an automatically updatable view).
--
-- Existing rows are rewritten into measurement_rows (nothing refused), on plain PostgreSQL and on TimescaleDB
-- alike. On TimescaleDB measurement_rows is a hypertable as measurements was (7-day chunks;
-- compression by outlet_id, pollutant, kind / ts after 30 days: chunks already past that are
-- compressed here), and measurements_hourly (0013) is created again over it with the same
-- columns and answers (sums, minima and maxima of the joined values), compressed as in 0016.

-- Whether v is kept as a pair: at most 18 decimal places (the limit array has 19 entries: a
-- larger scale finds none) and 18 significant digits (|v| < 10^(18 - scale)); NULL for NULL,
-- NaN and ±Infinity, which have no scale. A comparison, not a multiplication: the split runs
-- for every value written.
CREATE FUNCTION exact_fits(v numeric) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN abs(v) < ('{1000000000000000000,100000000000000000,10000000000000000,1000000000000000,100000000000000,10000000000000,1000000000000,100000000000,10000000000,1000000000,100000000,10000000,1000000,100000,10000,1000,100,10,1}'::numeric[])[scale(v) + 1];

CREATE FUNCTION exact_mantissa(v numeric) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN exact_fits(v)
            THEN (v * ('{1,10,100,1000,10000,100000,1000000,10000000,100000000,1000000000,10000000000,100000000000,1000000000000,10000000000000,100000000000000,1000000000000000,10000000000000000,100000000000000000,1000000000000000000}'::numeric[])[scale(v) + 1])::bigint END;

CREATE FUNCTION exact_scale(v numeric) RETURNS smallint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN exact_fits(v) THEN scale(v)::smallint END;

CREATE FUNCTION exact_wide(v numeric) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN exact_fits(v) THEN NULL ELSE v END;

CREATE FUNCTION exact_decimal(mantissa bigint, scale smallint, wide numeric) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN coalesce(mantissa::numeric * ('{1,0.1,0.01,0.001,0.0001,0.00001,0.000001,0.0000001,0.00000001,0.000000001,0.0000000001,0.00000000001,0.000000000001,0.0000000000001,0.00000000000001,0.000000000000001,0.0000000000000001,0.00000000000000001,0.000000000000000001}'::numeric[])[scale + 1], wide);

CREATE TABLE measurement_rows (
    outlet_id           bigint NOT NULL,
    pollutant           text NOT NULL,
    kind                text NOT NULL CHECK (kind IN ('rtd', 'min', 'hour', 'day')),
    ts                  timestamptz NOT NULL,
    -- the 8-byte columns, then the 2-byte scales: no alignment padding between pairs
    value_mantissa      bigint,
    min_mantissa        bigint,
    max_mantissa        bigint,
    cou_mantissa        bigint,
    zs_value_mantissa   bigint,
    zs_min_mantissa     bigint,
    zs_max_mantissa     bigint,
    frame_id            bigint,
    received_at         timestamptz,
    sample_time         timestamptz,
    revision            integer NOT NULL DEFAULT 0,
    value_scale         smallint CHECK (value_scale BETWEEN 0 AND 18),
    min_scale           smallint CHECK (min_scale BETWEEN 0 AND 18),
    max_scale           smallint CHECK (max_scale BETWEEN 0 AND 18),
    cou_scale           smallint CHECK (cou_scale BETWEEN 0 AND 18),
    zs_value_scale      smallint CHECK (zs_value_scale BETWEEN 0 AND 18),
    zs_min_scale        smallint CHECK (zs_min_scale BETWEEN 0 AND 18),
    zs_max_scale        smallint CHECK (zs_max_scale BETWEEN 0 AND 18),
    flag                text,
    eflag               text,
    extra               jsonb,
    -- a value that is no pair (over 18 digits or decimal places, NaN, ±Infinity), as sent
    value_wide          numeric,
    min_wide            numeric,
    max_wide            numeric,
    cou_wide            numeric,
    zs_value_wide       numeric,
    zs_min_wide         numeric,
    zs_max_wide         numeric,
    CHECK ((value_mantissa IS NULL) = (value_scale IS NULL)),
    CHECK ((min_mantissa IS NULL) = (min_scale IS NULL)),
    CHECK ((max_mantissa IS NULL) = (max_scale IS NULL)),
    CHECK ((cou_mantissa IS NULL) = (cou_scale IS NULL)),
    CHECK ((zs_value_mantissa IS NULL) = (zs_value_scale IS NULL)),
    CHECK ((zs_min_mantissa IS NULL) = (zs_min_scale IS NULL)),
    CHECK ((zs_max_mantissa IS NULL) = (zs_max_scale IS NULL)),
    CHECK (value_mantissa IS NULL OR value_wide IS NULL),
    CHECK (min_mantissa IS NULL OR min_wide IS NULL),
    CHECK (max_mantissa IS NULL OR max_wide IS NULL),
    CHECK (cou_mantissa IS NULL OR cou_wide IS NULL),
    CHECK (zs_value_mantissa IS NULL OR zs_value_wide IS NULL),
    CHECK (zs_min_mantissa IS NULL OR zs_min_wide IS NULL),
    CHECK (zs_max_mantissa IS NULL OR zs_max_wide IS NULL)
);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        PERFORM create_hypertable('measurement_rows', 'ts', chunk_time_interval => interval '7 days');
    END IF;
END
$$;

INSERT INTO measurement_rows (outlet_id, pollutant, kind, ts, value_mantissa, value_scale, value_wide, min_mantissa, min_scale, min_wide, max_mantissa, max_scale, max_wide, cou_mantissa, cou_scale, cou_wide, zs_value_mantissa, zs_value_scale, zs_value_wide, zs_min_mantissa, zs_min_scale, zs_min_wide, zs_max_mantissa, zs_max_scale, zs_max_wide,
                              flag, eflag, sample_time, extra, frame_id, received_at, revision)
SELECT outlet_id, pollutant, kind, ts,
       exact_mantissa(value), exact_scale(value), exact_wide(value),
       exact_mantissa(min), exact_scale(min), exact_wide(min),
       exact_mantissa(max), exact_scale(max), exact_wide(max),
       exact_mantissa(cou), exact_scale(cou), exact_wide(cou),
       exact_mantissa(zs_value), exact_scale(zs_value), exact_wide(zs_value),
       exact_mantissa(zs_min), exact_scale(zs_min), exact_wide(zs_min),
       exact_mantissa(zs_max), exact_scale(zs_max), exact_wide(zs_max),
       flag, eflag, sample_time, extra, frame_id, received_at, revision
FROM measurements;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        DROP MATERIALIZED VIEW IF EXISTS measurements_hourly;
    END IF;
END
$$;
DROP TABLE measurements;

ALTER TABLE measurement_rows ADD CONSTRAINT measurement_rows_pkey
    PRIMARY KEY (outlet_id, pollutant, kind, ts);

CREATE VIEW measurements AS
SELECT outlet_id, pollutant, kind, ts,
       exact_decimal(value_mantissa, value_scale, value_wide) AS value,
       exact_decimal(min_mantissa, min_scale, min_wide) AS min,
       exact_decimal(max_mantissa, max_scale, max_wide) AS max,
       exact_decimal(cou_mantissa, cou_scale, cou_wide) AS cou,
       exact_decimal(zs_value_mantissa, zs_value_scale, zs_value_wide) AS zs_value,
       exact_decimal(zs_min_mantissa, zs_min_scale, zs_min_wide) AS zs_min,
       exact_decimal(zs_max_mantissa, zs_max_scale, zs_max_wide) AS zs_max,
       flag, eflag, sample_time, extra, frame_id, received_at, revision
FROM measurement_rows;
ALTER VIEW measurements ALTER COLUMN revision SET DEFAULT 0;

CREATE FUNCTION measurements_write() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO measurement_rows (outlet_id, pollutant, kind, ts, value_mantissa, value_scale, value_wide, min_mantissa, min_scale, min_wide, max_mantissa, max_scale, max_wide, cou_mantissa, cou_scale, cou_wide, zs_value_mantissa, zs_value_scale, zs_value_wide, zs_min_mantissa, zs_min_scale, zs_min_wide, zs_max_mantissa, zs_max_scale, zs_max_wide,
                                      flag, eflag, sample_time, extra, frame_id, received_at, revision)
        VALUES (NEW.outlet_id, NEW.pollutant, NEW.kind, NEW.ts,
            exact_mantissa(NEW.value), exact_scale(NEW.value), exact_wide(NEW.value),
            exact_mantissa(NEW.min), exact_scale(NEW.min), exact_wide(NEW.min),
            exact_mantissa(NEW.max), exact_scale(NEW.max), exact_wide(NEW.max),
            exact_mantissa(NEW.cou), exact_scale(NEW.cou), exact_wide(NEW.cou),
            exact_mantissa(NEW.zs_value), exact_scale(NEW.zs_value), exact_wide(NEW.zs_value),
            exact_mantissa(NEW.zs_min), exact_scale(NEW.zs_min), exact_wide(NEW.zs_min),
            exact_mantissa(NEW.zs_max), exact_scale(NEW.zs_max), exact_wide(NEW.zs_max),
            NEW.flag, NEW.eflag, NEW.sample_time, NEW.extra, NEW.frame_id, NEW.received_at,
            NEW.revision);
    ELSE
        UPDATE measurement_rows SET
        outlet_id = NEW.outlet_id, pollutant = NEW.pollutant, kind = NEW.kind, ts = NEW.ts,
        value_mantissa = exact_mantissa(NEW.value), value_scale = exact_scale(NEW.value),
        value_wide = exact_wide(NEW.value),
        min_mantissa = exact_mantissa(NEW.min), min_scale = exact_scale(NEW.min),
        min_wide = exact_wide(NEW.min),
        max_mantissa = exact_mantissa(NEW.max), max_scale = exact_scale(NEW.max),
        max_wide = exact_wide(NEW.max),
        cou_mantissa = exact_mantissa(NEW.cou), cou_scale = exact_scale(NEW.cou),
        cou_wide = exact_wide(NEW.cou),
        zs_value_mantissa = exact_mantissa(NEW.zs_value), zs_value_scale = exact_scale(NEW.zs_value),
        zs_value_wide = exact_wide(NEW.zs_value),
        zs_min_mantissa = exact_mantissa(NEW.zs_min), zs_min_scale = exact_scale(NEW.zs_min),
        zs_min_wide = exact_wide(NEW.zs_min),
        zs_max_mantissa = exact_mantissa(NEW.zs_max), zs_max_scale = exact_scale(NEW.zs_max),
        zs_max_wide = exact_wide(NEW.zs_max),
        flag = NEW.flag, eflag = NEW.eflag, sample_time = NEW.sample_time, extra = NEW.extra,
        frame_id = NEW.frame_id, received_at = NEW.received_at, revision = NEW.revision
        WHERE (outlet_id, pollutant, kind, ts) = (OLD.outlet_id, OLD.pollutant, OLD.kind, OLD.ts);
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER measurements_write INSTEAD OF INSERT OR UPDATE ON measurements
    FOR EACH ROW EXECUTE FUNCTION measurements_write();

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        EXECUTE 'ALTER TABLE measurement_rows SET (timescaledb.compress,
                 timescaledb.compress_segmentby = ''outlet_id, pollutant, kind'',
                 timescaledb.compress_orderby = ''ts'')';
        PERFORM add_compression_policy('measurement_rows', interval '30 days');
        PERFORM compress_chunk(c, if_not_compressed => true)
        FROM show_chunks('measurement_rows', older_than => interval '30 days') AS c;

        EXECUTE $view$
            CREATE MATERIALIZED VIEW measurements_hourly
            WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
            SELECT outlet_id, pollutant, kind, flag,
                   time_bucket(interval '1 hour', ts) AS hour,
                   count(*) AS n_rows,
                   count(exact_decimal(value_mantissa, value_scale, value_wide)) AS n_values,
                   sum(exact_decimal(value_mantissa, value_scale, value_wide)) AS sum,
                   min(exact_decimal(value_mantissa, value_scale, value_wide)) AS min,
                   max(exact_decimal(value_mantissa, value_scale, value_wide)) AS max
            FROM measurement_rows
            GROUP BY outlet_id, pollutant, kind, flag, time_bucket(interval '1 hour', ts)
            WITH NO DATA
        $view$;
        PERFORM add_continuous_aggregate_policy('measurements_hourly',
            start_offset => NULL,
            end_offset => interval '1 hour',
            schedule_interval => interval '15 minutes');
        EXECUTE 'ALTER MATERIALIZED VIEW measurements_hourly SET (timescaledb.compress = true,
                 timescaledb.compress_segmentby = ''outlet_id, pollutant, kind'',
                 timescaledb.compress_orderby = ''hour, flag'')';
        PERFORM add_compression_policy('measurements_hourly', compress_after => interval '31 days');
    ELSE
        CREATE INDEX measurement_rows_ts_brin ON measurement_rows USING brin (ts);
    END IF;
END
$$;
