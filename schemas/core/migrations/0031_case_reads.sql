-- The evaluator's reads of an outlet's cases (issue 16, bench/README.md "Eighteenth round: the
-- evaluator's server side"): the pattern screening's bounded by the day it screens instead of the
-- outlet's case history, and the open cases' aggregates read from the periods' key alone.
--
-- _PATTERN_CASES (alerts/patterns.py) reads, per outlet and day screened, the outlet's open
-- pattern cases (cases_one_open_per_key) and its closed ones covering the day (first_at ≤ the
-- day's start ≤ last_at). No index found the closed ones: the read took cases_outlet_idx (by
-- opened_at, a wall time) or a scan of every pattern case, through every case the outlet ever
-- had, exceedances included. By last_at, a data time, the read stops at the cases that end on
-- or after the day screened.
CREATE INDEX cases_closed_pattern_last_idx ON cases (outlet_id, last_at)
    WHERE kind = 'pattern' AND state = 'closed';

-- open_exceedances (schemas/cases/transitions.py) aggregates the periods of each open exceedance
-- case at every batch (how many exceed, the highest multiple, the first and latest exceeding and
-- latest start), and _RECORD_PERIOD those of a case whose period is judged again. Those read
-- only compliant, multiple and period_start, but from the table's rows, wide with their details:
-- a heap row fetched per period. The primary key now carries the two columns, so the
-- aggregates are an index-only scan of the case's key range (the same entries, the same order,
-- the same uniqueness: the key's columns are unchanged).
CREATE UNIQUE INDEX case_periods_key_covering ON case_periods (case_id, period_start)
    INCLUDE (compliant, multiple);
ALTER TABLE case_periods DROP CONSTRAINT case_periods_pkey,
    ADD CONSTRAINT case_periods_pkey PRIMARY KEY USING INDEX case_periods_key_covering;
