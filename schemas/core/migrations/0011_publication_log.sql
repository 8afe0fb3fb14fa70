-- The publication log: every publication and withdrawal of a disclosure record version, in a
-- hash chain (schemas/disclosure/ledger.py documents the byte layouts), with daily roots signed
-- with Ed25519 and the public keys that verify them. Append-only: UPDATE and DELETE raise
-- (TRUNCATE stays possible, for tests). `sourcewatch verify` recomputes all of it.

CREATE TABLE publication_log (
    seq             bigint PRIMARY KEY CHECK (seq >= 1),   -- gapless, assigned under a lock
    logged_at       timestamptz NOT NULL,    -- the record's published_at / withdrawn_at
    record_id       bigint NOT NULL REFERENCES disclosure_records (id),
    record_key      text NOT NULL,
    version         integer NOT NULL,
    action          text NOT NULL CHECK (action IN ('publish', 'withdraw')),
    canonical       text NOT NULL,           -- the exact RFC 8785 JSON that was hashed
    content_sha256  bytea NOT NULL CHECK (length(content_sha256) = 32),
    prev_hash       bytea NOT NULL CHECK (length(prev_hash) = 32),  -- 32 zero bytes for seq 1
    entry_hash      bytea NOT NULL UNIQUE CHECK (length(entry_hash) = 32),
    UNIQUE (record_id, action)
);
CREATE INDEX publication_log_logged_at_idx ON publication_log (logged_at);
-- (record_key, seq DESC): a record's latest entry up to a time (`?as_of=`), in index order.
CREATE INDEX publication_log_record_key_idx ON publication_log (record_key, seq DESC);

-- One root per Asia/Shanghai calendar day with entries: the entry_hash of the day's last
-- entry (which commits to every earlier entry through the chain), signed.
CREATE TABLE publication_roots (
    day             date PRIMARY KEY,
    last_seq        bigint NOT NULL REFERENCES publication_log (seq),
    root_hash       bytea NOT NULL CHECK (length(root_hash) = 32),
    entry_count     integer NOT NULL CHECK (entry_count >= 1),
    key_id          text NOT NULL,
    signature       bytea NOT NULL CHECK (length(signature) = 64),
    signed_at       timestamptz NOT NULL DEFAULT now()
);

-- Public halves of the signing keys (raw 32-byte Ed25519 keys). A retired key signs nothing
-- new but still verifies the roots it signed.
CREATE TABLE signing_keys (
    key_id          text PRIMARY KEY,        -- first 16 hex digits of SHA-256(public_key)
    public_key      bytea NOT NULL UNIQUE CHECK (length(public_key) = 32),
    algorithm       text NOT NULL DEFAULT 'ed25519' CHECK (algorithm = 'ed25519'),
    created_at      timestamptz NOT NULL DEFAULT now(),
    retired_at      timestamptz
);

CREATE FUNCTION publication_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END $$;
CREATE TRIGGER publication_log_append_only BEFORE UPDATE OR DELETE ON publication_log
    FOR EACH ROW EXECUTE FUNCTION publication_append_only();
CREATE TRIGGER publication_roots_append_only BEFORE UPDATE OR DELETE ON publication_roots
    FOR EACH ROW EXECUTE FUNCTION publication_append_only();

-- A key may be retired (once), never changed or removed.
CREATE FUNCTION signing_keys_retire_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' OR NEW.key_id <> OLD.key_id OR NEW.public_key <> OLD.public_key
       OR NEW.algorithm <> OLD.algorithm OR NEW.created_at <> OLD.created_at
       OR OLD.retired_at IS NOT NULL THEN
        RAISE EXCEPTION 'signing_keys: a key can only be retired';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER signing_keys_retire_only BEFORE UPDATE OR DELETE ON signing_keys
    FOR EACH ROW EXECUTE FUNCTION signing_keys_retire_only();
