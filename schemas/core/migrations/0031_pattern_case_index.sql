-- The pattern screening's read of an outlet's pattern cases, bounded by the day it screens
-- instead of the outlet's case history (issue 16, bench/README.md "Eighteenth round: the
-- evaluator's server side").
--
-- _PATTERN_CASES (alerts/patterns.py) reads, per outlet and day screened, the outlet's open
-- pattern cases (cases_one_open_per_key) and its closed ones covering the day (first_at ≤ the
-- day's start ≤ last_at). No index found the closed ones: the read took cases_outlet_idx (by
-- opened_at, a wall time) or a scan of every pattern case, through every case the outlet ever
-- had, exceedances included. By last_at, a data time, the read stops at the cases that end on
-- or after the day screened.
CREATE INDEX cases_closed_pattern_last_idx ON cases (outlet_id, last_at)
    WHERE kind = 'pattern' AND state = 'closed';
