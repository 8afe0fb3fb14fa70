-- Evaluation: the regulator's view of the data. Hourly and daily means with their coverage,
-- cases (exceedance, outage, fault, suspicious pattern) with an append-only event log, and
-- the queue of windows whose data changed.

-- Written by ingest in the same transaction as the values: hours whose data changed.
-- The evaluator drains it (SELECT … FOR UPDATE SKIP LOCKED), so two evaluators never take
-- the same hour, and a crash before commit leaves the hour queued.
CREATE TABLE evaluation_queue (
    outlet_id       bigint NOT NULL,
    hour_start      timestamptz NOT NULL,
    queued_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (outlet_id, hour_start)
);

-- Written by ingest with every batch: when each outlet last sent a frame (outage detection
-- without scanning the frames archive).
CREATE TABLE outlet_activity (
    outlet_id       bigint PRIMARY KEY,
    last_frame_at   timestamptz NOT NULL,        -- received_at of the latest frame
    last_data_at    timestamptz                  -- latest DataTime carrying values
);

CREATE TABLE hourly_means (
    outlet_id       bigint NOT NULL REFERENCES outlets (id),
    pollutant       text NOT NULL,
    hour_start      timestamptz NOT NULL,
    source          text NOT NULL CHECK (source IN ('min', 'rtd', 'hour')),  -- computed from
    mean            numeric,                 -- measured concentration, valid data only
    zs_reported     numeric,                 -- mean of the logger's own Zs values
    converted       numeric,                 -- recomputed at the limit's reference O2
    o2_mean         numeric,
    valid_count     integer NOT NULL,        -- valid minutes (or samples)
    expected_count  integer NOT NULL,
    valid           boolean NOT NULL,        -- enough valid data for a regulatory mean
    reason          text,                    -- why not valid
    flags           jsonb NOT NULL DEFAULT '{}',  -- samples per flag
    computed_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (outlet_id, pollutant, hour_start)
);

CREATE TABLE daily_means (
    outlet_id       bigint NOT NULL REFERENCES outlets (id),
    pollutant       text NOT NULL,
    day             date NOT NULL,           -- local (outlet time zone) calendar day
    source          text NOT NULL CHECK (source IN ('hour', 'day')),
    mean            numeric,
    zs_reported     numeric,
    converted       numeric,
    o2_mean         numeric,
    valid_count     integer NOT NULL,        -- valid hours
    expected_count  integer NOT NULL,
    valid           boolean NOT NULL,
    reason          text,
    computed_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (outlet_id, pollutant, day)
);

CREATE TABLE cases (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind            text NOT NULL CHECK (kind IN ('exceedance', 'outage', 'fault', 'pattern')),
    outlet_id       bigint NOT NULL REFERENCES outlets (id),
    pollutant       text NOT NULL DEFAULT '',   -- '' when the case is about the outlet
    period          text NOT NULL DEFAULT '',   -- hour | day for exceedances
    limit_id        bigint NOT NULL DEFAULT 0,  -- the limit version an exceedance is judged by
    subject         text NOT NULL DEFAULT '',   -- pattern or fault name (flat-line, flag-D …)
    state           text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'closed')),
    severity        text NOT NULL CHECK (severity IN ('info', 'warning', 'major', 'critical')),
    opened_at       timestamptz NOT NULL DEFAULT now(),
    first_at        timestamptz NOT NULL,       -- start of the first period in the case
    last_at         timestamptz NOT NULL,       -- start of the latest period in the case
    closed_at       timestamptz,
    close_reason    text,
    compliant_run   integer NOT NULL DEFAULT 0, -- consecutive compliant means since the last bad one
    max_multiple    numeric,                    -- highest (value − limit) / limit
    acknowledged_at timestamptz,
    acknowledged_by text,
    assigned_to     text,
    escalated_at    timestamptz,
    details         jsonb NOT NULL DEFAULT '{}'
);
-- One open case per key: two evaluators can never open two cases for the same thing.
CREATE UNIQUE INDEX cases_one_open_per_key
    ON cases (kind, outlet_id, pollutant, period, limit_id, subject) WHERE state = 'open';
CREATE INDEX cases_outlet_idx ON cases (outlet_id, opened_at);

-- The means (or windows) that make up a case, with the limit they were judged against.
CREATE TABLE case_periods (
    case_id         bigint NOT NULL REFERENCES cases (id),
    period_start    timestamptz NOT NULL,
    value           numeric,
    limit_value     numeric,
    multiple        numeric,
    compliant       boolean NOT NULL,
    details         jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (case_id, period_start)
);

-- Append-only history of every case: transitions by the evaluator and actions by people.
CREATE TABLE case_events (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_id         bigint NOT NULL REFERENCES cases (id),
    at              timestamptz NOT NULL DEFAULT now(),
    actor           text NOT NULL,              -- 'evaluator' or a staff user
    action          text NOT NULL,              -- opened escalated closed reopened acknowledged assigned commented replied
    severity        text,
    detail          jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX case_events_case_idx ON case_events (case_id, id);
