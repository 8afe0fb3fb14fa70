-- The staff console (issue 13): staff log in with a password (argon2id hash, never the
-- password), hold a server-side session, and repeated failed logins are throttled per user
-- name and per client address across every API process.
ALTER TABLE staff_users
    ADD COLUMN password_hash   text,          -- argon2id PHC string; NULL: no password login
    ADD COLUMN password_set_at timestamptz;

-- A session is a random cookie value stored only as its SHA-256 digest, with the CSRF token
-- the console's forms must echo (synchronizer token). Ended by logout or expiry.
CREATE TABLE staff_sessions (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id         bigint NOT NULL REFERENCES staff_users (id),
    session_sha256  bytea NOT NULL UNIQUE,
    csrf_token      text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    last_seen_at    timestamptz NOT NULL DEFAULT now(),
    ended_at        timestamptz,
    client_ip       text,
    user_agent      text,
    CHECK (expires_at > created_at)
);
CREATE INDEX staff_sessions_user ON staff_sessions (user_id) WHERE ended_at IS NULL;

-- One row per failed login, under the user name tried and under the client address; counted
-- over a sliding window; rows older than the window are pruned at each login attempt. A
-- successful login clears its user name's rows.
CREATE TABLE staff_login_failures (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    scope           text NOT NULL CHECK (scope IN ('user', 'ip')),
    key             text NOT NULL,
    at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX staff_login_failures_key ON staff_login_failures (scope, key, at);
CREATE INDEX staff_login_failures_at ON staff_login_failures (at);  -- pruning past the window
