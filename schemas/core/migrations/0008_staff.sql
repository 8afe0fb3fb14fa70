-- Staff accounts and their API tokens. Tokens are random (≥ 256 bits) and stored only as
-- SHA-256 digests; a token is shown once, when it is issued.
CREATE TABLE staff_users (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username        text NOT NULL UNIQUE,
    display_name    text,
    roles           text[] NOT NULL DEFAULT '{viewer}',   -- viewer | inspector | admin
    active          boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (roles <@ ARRAY['viewer', 'inspector', 'admin']::text[])
);

CREATE TABLE staff_tokens (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id         bigint NOT NULL REFERENCES staff_users (id),
    token_sha256    bytea NOT NULL UNIQUE,
    label           text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz,
    revoked_at      timestamptz,
    last_used_at    timestamptz
);
