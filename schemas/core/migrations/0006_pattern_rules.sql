-- Screening heuristics for instrument faults and data patterns (regulations.md §A.11): the
-- thresholds behind fault and pattern cases. A reference table, filled from
-- schemas/data/pattern_rules.csv by `sourcewatch migrate` (schemas/pattern_rules.py). These are
-- indicators for enforcement staff, never legal thresholds: every row names where the idea
-- comes from, and a value that is our own choice has confirmed = false and a note.
--
-- On a day, per rule, the row with the latest valid_from <= that day applies.
CREATE TABLE pattern_rules (
    name            text NOT NULL,               -- flat_min_hours, bunching_band …
    value           text NOT NULL,               -- a number, or a comma-separated list (fault_flags)
    unit            text NOT NULL,
    description_zh  text NOT NULL,
    description_en  text NOT NULL,
    source_document text NOT NULL,
    confirmed       boolean NOT NULL,            -- value checked against a cited source
    note            text,                        -- what to verify, or why the value is ours
    valid_from      date NOT NULL,
    PRIMARY KEY (name, valid_from),
    CHECK (confirmed OR note IS NOT NULL)
);
