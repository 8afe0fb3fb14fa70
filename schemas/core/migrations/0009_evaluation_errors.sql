-- Hours the evaluator could not judge (e.g. data dated before any validity rule was in force):
-- recorded here for operators instead of stopping the evaluator or retrying forever. Queueing
-- the hour again (new data, or an operator) retries it.
CREATE TABLE evaluation_errors (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    outlet_id       bigint NOT NULL,
    hours           timestamptz[] NOT NULL,
    error           text NOT NULL,
    at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX evaluation_errors_outlet_idx ON evaluation_errors (outlet_id, at);
