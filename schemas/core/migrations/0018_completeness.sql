-- Completeness (issue 14): what each outlet is expected to send, and what it sent.
--
-- The registry says which records an outlet's data logger is expected to upload
-- (schemas/registry/entries.py, docs/completeness.md):
--   rtd_interval_s       real-time (2011) every so many seconds; NULL: real-time not counted
--   expects_minute       minute data (2051), one every minute_interval_min minutes
--   expects_hour         hour data (2061), one per hour
--   expects_day          day data (2031), one per local calendar day
ALTER TABLE outlets
    ADD COLUMN rtd_interval_s      integer CHECK (rtd_interval_s BETWEEN 1 AND 3600),
    ADD COLUMN expects_minute      boolean NOT NULL DEFAULT true,
    ADD COLUMN minute_interval_min integer NOT NULL DEFAULT 1
        CHECK (minute_interval_min BETWEEN 1 AND 60 AND 60 % minute_interval_min = 0),
    ADD COLUMN expects_hour        boolean NOT NULL DEFAULT true,
    ADD COLUMN expects_day         boolean NOT NULL DEFAULT false;

-- The completeness record: records received, and of those valid, per outlet, pollutant, data
-- kind and UTC hour (the hour the record's DataTime falls in). Written by ingest in the same
-- statement as the merge into measurements (ingest/writer.py, schemas/completeness/record.py):
-- a new key adds 1 to received, a revision moves valid by the change of its validity, an
-- identical re-send changes nothing. What was expected is derived from the registry when read
-- (schemas/completeness/expected.py), so hours with nothing received need no row.
CREATE TABLE completeness (
    outlet_id       bigint NOT NULL,
    pollutant       text NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('rtd', 'min', 'hour', 'day')),
    hour_start      timestamptz NOT NULL,
    received        integer NOT NULL CHECK (received >= 0),
    valid           integer NOT NULL CHECK (valid >= 0 AND valid <= received),
    PRIMARY KEY (outlet_id, pollutant, kind, hour_start)
);
CREATE INDEX completeness_outlet_hour_idx ON completeness (outlet_id, hour_start);

-- The transmission and validity rates' rule values (schemas/codes/data/completeness_rules.csv,
-- loaded by `sourcewatch migrate`), each with its source, like validity_rules.
CREATE TABLE completeness_rules (
    name            text NOT NULL,
    medium          text NOT NULL CHECK (medium IN ('gas', 'water')),
    value           numeric NOT NULL,
    unit            text,
    description_zh  text,
    description_en  text,
    source_document text NOT NULL,
    clause          text,
    confirmed       boolean NOT NULL,
    note            text,
    valid_from      date NOT NULL,
    PRIMARY KEY (name, medium, valid_from),
    CHECK (confirmed OR note IS NOT NULL)
);

-- The record of the data already stored, counted once here (ingest keeps it from now on).
-- A value is valid when its flag is valid for the logger's protocol (data_flags) and it has
-- a value, as everywhere else (api/queries/measurements.py).
INSERT INTO completeness (outlet_id, pollutant, kind, hour_start, received, valid)
SELECT m.outlet_id, m.pollutant, m.kind, date_trunc('hour', m.ts, 'UTC'), count(*),
       count(*) FILTER (WHERE coalesce(f.valid, false) AND m.value IS NOT NULL)
FROM measurements m
JOIN outlets o ON o.id = m.outlet_id
LEFT JOIN data_flags f ON f.code = m.flag AND f.standard =
     CASE WHEN o.protocol_profile = 'hj212-2005' THEN 'HJ/T 212-2005' ELSE 'HJ 212-2017' END
GROUP BY 1, 2, 3, 4;
