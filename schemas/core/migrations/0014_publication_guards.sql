-- Tamper evidence (issue 15): the publication log, its signed roots, the signing keys and the
-- staff audit log cannot be emptied. 0008/0011 refuse UPDATE and DELETE row by row; TRUNCATE
-- fires no row trigger, so `TRUNCATE publication_roots, publication_log` (or a TRUNCATE …
-- CASCADE of disclosure_records) was the first step of wiping the log and re-signing it.
-- A statement-level BEFORE TRUNCATE trigger refuses it, for the tables' owner too. Only a
-- superuser can still switch triggers off (session_replication_role, ALTER TABLE … DISABLE
-- TRIGGER): what verification against saved roots catches (README, "Threat model").

CREATE FUNCTION sourcewatch_refuse_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: TRUNCATE is refused', TG_TABLE_NAME;
END $$;

CREATE TRIGGER publication_log_no_truncate BEFORE TRUNCATE ON publication_log
    FOR EACH STATEMENT EXECUTE FUNCTION sourcewatch_refuse_truncate();
CREATE TRIGGER publication_roots_no_truncate BEFORE TRUNCATE ON publication_roots
    FOR EACH STATEMENT EXECUTE FUNCTION sourcewatch_refuse_truncate();
CREATE TRIGGER signing_keys_no_truncate BEFORE TRUNCATE ON signing_keys
    FOR EACH STATEMENT EXECUTE FUNCTION sourcewatch_refuse_truncate();
CREATE TRIGGER staff_audit_no_truncate BEFORE TRUNCATE ON staff_audit
    FOR EACH STATEMENT EXECUTE FUNCTION sourcewatch_refuse_truncate();
