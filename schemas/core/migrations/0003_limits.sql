-- Emission limits and data-validity rules: the regulation values the evaluator judges by.
-- `limits` and `validity_rules` are reference tables, filled from schemas/data/limits.csv and
-- schemas/data/validity_rules.csv by `sourcewatch migrate` (schemas/limits.py). Every row names
-- its source; a value not yet checked against the official text has confirmed = false and a
-- note saying what to verify. Outlet bindings and outlet-specific limits are data.
--
-- Date ranges are inclusive: a row applies on day d when valid_from <= d AND (valid_to IS NULL
-- OR d <= valid_to).

-- National (or policy) limits per standard and category, e.g. GB 13223-2011 coal-boiler-new.
CREATE TABLE limits (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    standard        text NOT NULL,               -- 'GB 13223-2011'
    category        text NOT NULL,               -- 'coal-boiler-new', 'class-1A', 'grade-1' …
    pollutant       text NOT NULL REFERENCES pollutants (code),
    value           numeric NOT NULL,            -- the limit (upper bound of a range)
    value_min       numeric,                     -- lower bound of a range (pH 6–9); NULL elsewhere
    unit            text NOT NULL CHECK (unit IN ('mg/m³', 'mg/L', 'dimensionless')),
    period          text NOT NULL CHECK (period IN ('hour', 'day')),   -- averaging period
    reference_o2    numeric CHECK (reference_o2 >= 0 AND reference_o2 < 21),  -- %; NULL: none
    name_zh         text NOT NULL,               -- of the category
    name_en         text NOT NULL,
    source_document text NOT NULL,
    clause          text,
    confirmed       boolean NOT NULL,            -- value checked against a cited source
    note            text,                        -- what to verify
    valid_from      date NOT NULL,
    valid_to        date,
    version         integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    UNIQUE (standard, category, pollutant, period, version),
    CHECK (value_min IS NULL OR value_min <= value),
    CHECK (valid_to IS NULL OR valid_to >= valid_from),
    CHECK (confirmed OR note IS NOT NULL)
);
CREATE INDEX limits_standard_idx ON limits (standard, category);

-- Which standard and category an outlet is judged by (from its permit or self-monitoring plan).
-- With several bindings valid on a day, the latest valid_from wins per (pollutant, period).
CREATE TABLE outlet_limit_bindings (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    outlet_id       bigint NOT NULL REFERENCES outlets (id),
    standard        text NOT NULL,
    category        text NOT NULL,
    valid_from      date NOT NULL,
    valid_to        date,
    source          text NOT NULL,               -- permit number or document that binds it
    created_at      timestamptz DEFAULT now(),
    UNIQUE (outlet_id, standard, category, valid_from),
    CHECK (valid_to IS NULL OR valid_to >= valid_from)
);

-- An outlet's own limit (permit, local standard): wins over a binding for the same pollutant
-- and period. Rows are never edited: a new value is a new version that supersedes the old one;
-- on a day, the highest version valid that day applies.
CREATE TABLE outlet_limits (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    outlet_id       bigint NOT NULL REFERENCES outlets (id),
    pollutant       text NOT NULL REFERENCES pollutants (code),
    value           numeric NOT NULL,
    value_min       numeric,
    unit            text NOT NULL CHECK (unit IN ('mg/m³', 'mg/L', 'dimensionless')),
    period          text NOT NULL CHECK (period IN ('hour', 'day')),
    reference_o2    numeric CHECK (reference_o2 >= 0 AND reference_o2 < 21),
    source_document text NOT NULL,
    clause          text,
    valid_from      date NOT NULL,
    valid_to        date,
    version         integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    supersedes      bigint REFERENCES outlet_limits (id),
    created_at      timestamptz DEFAULT now(),
    created_by      text NOT NULL DEFAULT 'import',
    UNIQUE (outlet_id, pollutant, period, version),
    CHECK (value_min IS NULL OR value_min <= value),
    CHECK (valid_to IS NULL OR valid_to >= valid_from)
);

-- Validity thresholds per medium (hour_min_valid_minutes, day_min_valid_hours, …). On a day,
-- the row with the latest valid_from <= that day applies.
CREATE TABLE validity_rules (
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
