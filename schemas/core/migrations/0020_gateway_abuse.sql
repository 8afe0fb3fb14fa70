-- Issue 15, the TCP gateway and dead letters.
--
-- A dead letter keeps at most the first 4 KiB of what was rejected (ingest/writer.py,
-- DEAD_LETTER_MAX_BYTES); raw_length is the length of the whole message, as received (NULL on
-- the rows from before: their raw is whole). The digest stays the digest of the whole message,
-- so that a re-delivery is still a no-op.
--
-- Dead letters older than SOURCEWATCH_DEAD_LETTER_RETENTION_DAYS are deleted by the evaluator's
-- sweep (the alerts role: schemas/core/roles.py grants it DELETE on dead_letters).

ALTER TABLE dead_letters ADD COLUMN raw_length integer;
COMMENT ON COLUMN dead_letters.raw_length IS
    'length in bytes of the whole rejected message; raw keeps at most its first 4096 bytes';
