-- Disclosure on request (依申请公开, 《中华人民共和国政府信息公开条例》 2019, chapter 4): requests,
-- their statutory clock, answers with attachments, and the reconsiderations and lawsuits about
-- them. Code tables filled from schemas/codes/data/disclosure_request_*.csv by `sourcewatch
-- migrate`. Writers (schemas/core/roles.py): the API's staff and public routes.

CREATE TABLE disclosure_request_clocks (
    code            text PRIMARY KEY,           -- answer | extension | supplement_notice
    working_days    integer NOT NULL CHECK (working_days >= 0),
    name_zh         text NOT NULL,
    name_en         text NOT NULL,
    clause          text,
    source_document text NOT NULL,
    confirmed       boolean NOT NULL,
    note            text
);

CREATE TABLE disclosure_request_outcomes (
    code            text PRIMARY KEY,
    kind            text NOT NULL CHECK (kind IN ('answer', 'challenge')),
    ordinal         integer NOT NULL UNIQUE,
    clause          text,
    name_zh         text NOT NULL,
    name_en         text NOT NULL,
    source_document text NOT NULL,
    confirmed       boolean NOT NULL,
    note            text
);

-- One row per request. The requester's secret tracking token is kept as its SHA-256 only.
-- due_on: the answer_days-th working day after clock_start (the day of receipt, or the day a
-- requested supplement arrived), plus extension_days working days once extended.
CREATE TABLE disclosure_requests (
    id                      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    reference               text NOT NULL UNIQUE,
    token_sha256            bytea NOT NULL,
    channel                 text NOT NULL
                            CHECK (channel IN ('online', 'post', 'in_person', 'email', 'fax')),
    requester_kind          text NOT NULL CHECK (requester_kind IN ('person', 'organisation')),
    requester_name          text NOT NULL,
    contact                 text NOT NULL,
    description             text NOT NULL,
    preferred_form          text NOT NULL
                            CHECK (preferred_form IN ('electronic', 'paper', 'inspection')),
    status                  text NOT NULL DEFAULT 'received'
                            CHECK (status IN ('received', 'supplement_requested', 'answered')),
    received_on             date NOT NULL,      -- Asia/Shanghai day of receipt
    clock_start             date NOT NULL,
    answer_days             integer NOT NULL CHECK (answer_days >= 0),
    due_on                  date NOT NULL,
    assigned_to             text,
    supplement_requested_on date,
    supplement_note         text,
    supplement_received_on  date,
    extension_days          integer NOT NULL DEFAULT 0 CHECK (extension_days >= 0),
    extension_reason        text,
    extended_by             text,
    extended_at             timestamptz,
    outcome                 text REFERENCES disclosure_request_outcomes (code),
    answer_text             text,
    referred_to             text,
    answered_on             date,
    answered_at             timestamptz,
    answered_by             text,
    created_at              timestamptz NOT NULL DEFAULT now(),
    created_by              text NOT NULL,      -- 'public' for the portal and API form
    updated_at              timestamptz NOT NULL DEFAULT now(),
    CHECK (status <> 'answered'
           OR (outcome IS NOT NULL AND answered_on IS NOT NULL AND answered_by IS NOT NULL)),
    CHECK (extension_days = 0 OR extension_reason IS NOT NULL)
);
CREATE INDEX disclosure_requests_open_idx ON disclosure_requests (status, due_on);
CREATE INDEX disclosure_requests_received_idx ON disclosure_requests (received_on);

-- Files sent with an answer (the answer letter, the information itself), with their SHA-256.
CREATE TABLE disclosure_request_attachments (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id      bigint NOT NULL REFERENCES disclosure_requests (id),
    filename        text NOT NULL,
    media_type      text NOT NULL,
    size_bytes      integer NOT NULL,
    sha256          bytea NOT NULL,
    content         bytea NOT NULL,
    uploaded_at     timestamptz NOT NULL DEFAULT now(),
    uploaded_by     text NOT NULL,
    UNIQUE (request_id, sha256)
);

-- Administrative reconsiderations (行政复议) and lawsuits (行政诉讼) about requests, as staff
-- record them, with their outcome (a 'challenge' code of disclosure_request_outcomes).
CREATE TABLE disclosure_request_challenges (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id      bigint NOT NULL REFERENCES disclosure_requests (id),
    kind            text NOT NULL CHECK (kind IN ('reconsideration', 'lawsuit')),
    filed_on        date NOT NULL,
    outcome         text NOT NULL REFERENCES disclosure_request_outcomes (code),
    decided_on      date,
    note            text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    created_by      text NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    updated_by      text NOT NULL
);
CREATE INDEX disclosure_request_challenges_filed_idx ON disclosure_request_challenges (filed_on);
