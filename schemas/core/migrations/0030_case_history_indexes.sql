-- The evaluator's reads of an outlet's cases, bounded by the hours it judges instead of the
-- outlet's case history (issue 16, bench/README.md "Seventeenth round: the evaluator's reads of
-- an outlet's case history").
--
-- read_no_periods (alerts/evaluation.py) asks, per outlet and hour judged, whether any of the
-- outlet's exceedance cases has a period at that hour. case_periods is keyed by case, so the
-- read joined every exceedance case the outlet ever had and probed the key once per case: its
-- cost grew with the number of cases, closed ones included. By start, the periods at an hour are
-- those of the cases that judged that hour (at most one per case key and hour, across all
-- outlets), whatever came before or after.
CREATE INDEX case_periods_start_idx ON case_periods (period_start, case_id);

-- read_open_cases reads an outlet's open cases (cases_one_open_per_key) and its closed
-- exceedance cases whose latest exceeding period is at or after the earliest period it judges.
-- cases_outlet_idx is by opened_at, a wall time, so the closed ones were found by reading every
-- case of the outlet. By last_at, a data time, the read stops at the cases of the window judged.
CREATE INDEX cases_closed_exceedance_last_idx ON cases (outlet_id, last_at)
    WHERE kind = 'exceedance' AND state = 'closed';
