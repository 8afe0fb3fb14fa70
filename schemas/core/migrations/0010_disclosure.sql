-- The eight categories of pollution-source supervision information (环发〔2013〕74号) as
-- disclosure records, the staff roles that author them, and the audit log of staff actions.

-- Roles: admin (everything), enforcement (cases), editor (disclosure records), viewer (reads).
-- 'inspector' was the enforcement role's first name.
ALTER TABLE staff_users DROP CONSTRAINT staff_users_roles_check;
UPDATE staff_users SET roles = array_replace(roles, 'inspector', 'enforcement');
ALTER TABLE staff_users ADD CONSTRAINT staff_users_roles_check
    CHECK (roles <@ ARRAY['viewer', 'editor', 'enforcement', 'admin']::text[]);

-- Every staff action: who, what, when, the object before and after. Append-only.
CREATE TABLE staff_audit (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at              timestamptz NOT NULL DEFAULT now(),
    actor           text NOT NULL,              -- staff user name, or 'cli:<os user>'
    action          text NOT NULL,              -- e.g. disclosure.publish, case.close, token.revoke
    object_type     text NOT NULL,
    object_id       text,
    before          jsonb,
    after           jsonb
);
CREATE INDEX staff_audit_object_idx ON staff_audit (object_type, object_id, id);

CREATE FUNCTION staff_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'staff_audit is append-only';
END $$;
CREATE TRIGGER staff_audit_append_only BEFORE UPDATE OR DELETE ON staff_audit
    FOR EACH ROW EXECUTE FUNCTION staff_audit_append_only();

-- Code tables, filled from schemas/data/disclosure_*.csv by `sourcewatch migrate`.
CREATE TABLE disclosure_categories (
    code            text PRIMARY KEY,
    ordinal         integer NOT NULL UNIQUE,     -- 1..8 in the order of the notice
    name_zh         text NOT NULL,
    name_en         text NOT NULL,
    deadline_days   integer NOT NULL CHECK (deadline_days >= 0),  -- working days formed → published
    source_document text NOT NULL,
    confirmed       boolean NOT NULL,
    note            text
);

CREATE TABLE disclosure_record_types (
    code            text PRIMARY KEY,
    category        text NOT NULL REFERENCES disclosure_categories (code),
    name_zh         text NOT NULL,
    name_en         text NOT NULL,
    origin          text NOT NULL CHECK (origin IN ('staff', 'auto')),
    deadline_days   integer CHECK (deadline_days >= 0),  -- own clock; NULL: the category's
    source_document text NOT NULL,
    confirmed       boolean NOT NULL,
    note            text
);

-- One row per version of a record. A record (record_key) is published at most once at a time;
-- a correction is a new version that supersedes the published one, with a reason. Published
-- content is never edited: the publication log (0011) holds its hash.
CREATE TABLE disclosure_records (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    record_key          text NOT NULL,           -- stable across versions
    version             integer NOT NULL CHECK (version >= 1),
    record_type         text NOT NULL REFERENCES disclosure_record_types (code),
    category            text NOT NULL REFERENCES disclosure_categories (code),
    enterprise_id       bigint REFERENCES enterprises (id),
    outlet_id           bigint REFERENCES outlets (id),
    title_zh            text NOT NULL,
    title_en            text,
    content             jsonb NOT NULL,
    origin              text NOT NULL CHECK (origin IN ('staff', 'auto')),
    source_ref          text,                    -- auto records: what they were made from
    status              text NOT NULL DEFAULT 'draft'
                        CHECK (status IN ('draft', 'approved', 'published', 'superseded', 'withdrawn')),
    formed_at           timestamptz NOT NULL,    -- when the information was formed or changed
    due_on              date,                    -- legal deadline (Asia/Shanghai), NULL: none
    created_at          timestamptz NOT NULL DEFAULT now(),
    created_by          text NOT NULL,
    updated_at          timestamptz NOT NULL DEFAULT now(),
    updated_by          text NOT NULL,
    approved_at         timestamptz,
    approved_by         text,
    published_at        timestamptz,
    published_by        text,
    supersedes          bigint REFERENCES disclosure_records (id),
    correction_reason   text,
    withdrawn_at        timestamptz,
    withdrawn_by        text,
    withdrawn_reason    text,
    UNIQUE (record_key, version),
    CHECK (supersedes IS NULL OR correction_reason IS NOT NULL),
    CHECK (status <> 'withdrawn' OR withdrawn_reason IS NOT NULL),
    CHECK (status NOT IN ('published', 'superseded', 'withdrawn') OR published_at IS NOT NULL)
);
CREATE UNIQUE INDEX disclosure_records_one_published ON disclosure_records (record_key)
    WHERE status = 'published';
CREATE UNIQUE INDEX disclosure_records_one_pending ON disclosure_records (record_key)
    WHERE status IN ('draft', 'approved');
CREATE INDEX disclosure_records_category_idx ON disclosure_records (category, published_at);
CREATE INDEX disclosure_records_enterprise_idx ON disclosure_records (enterprise_id, published_at);
CREATE INDEX disclosure_records_status_idx ON disclosure_records (status, due_on);

-- Files attached to a record (e.g. the PDF of a penalty decision), with their SHA-256.
CREATE TABLE disclosure_attachments (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    record_id       bigint NOT NULL REFERENCES disclosure_records (id),
    filename        text NOT NULL,
    media_type      text NOT NULL,
    size_bytes      integer NOT NULL,
    sha256          bytea NOT NULL,
    content         bytea NOT NULL,
    uploaded_at     timestamptz NOT NULL DEFAULT now(),
    uploaded_by     text NOT NULL,
    UNIQUE (record_id, sha256)
);
