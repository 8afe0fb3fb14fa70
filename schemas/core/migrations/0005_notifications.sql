-- Notifications: who wants to hear about which case transitions, the outbox the evaluator
-- fills in the same transaction as the transition, and a log of every delivery attempt.
--
-- One case_events row (a transition: opened, escalated, closed, reopened, unack-escalated)
-- is one notification; UNIQUE (event_id, subscription_id) makes a replay of the transition
-- enqueue nothing new, so a subscriber hears about each transition once (no alarm storms).

CREATE TABLE subscriptions (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subscriber      text NOT NULL CHECK (subscriber <> ''),  -- staff user name or e-mail
    channel         text NOT NULL CHECK (channel IN ('webhook', 'email', 'mqtt', 'wecom', 'dingtalk')),
    target          text NOT NULL CHECK (target <> ''),      -- URL, e-mail address or MQTT topic
    secret          text,                                    -- webhook HMAC key; robot sign secret
    -- Filters: an empty array matches everything.
    enterprise_ids  bigint[] NOT NULL DEFAULT '{}',
    districts       text[] NOT NULL DEFAULT '{}',
    pollutants      text[] NOT NULL DEFAULT '{}',           -- cases without a pollutant match any
    kinds           text[] NOT NULL DEFAULT '{}'
                    CHECK (kinds <@ ARRAY['exceedance', 'outage', 'fault', 'pattern']),
    min_severity    text NOT NULL DEFAULT 'info'
                    CHECK (min_severity IN ('info', 'warning', 'major', 'critical')),
    max_per_hour    integer NOT NULL DEFAULT 30 CHECK (max_per_hour > 0),  -- messages per hour
    digest_after    integer CHECK (digest_after > 0),       -- more due at once → one digest
    active          boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now(),
    deactivated_at  timestamptz
);
CREATE INDEX subscriptions_subscriber_idx ON subscriptions (subscriber);

CREATE TABLE notification_outbox (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id        bigint NOT NULL REFERENCES case_events (id),
    subscription_id bigint NOT NULL REFERENCES subscriptions (id),
    payload         jsonb NOT NULL,                          -- Notification.to_json()
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sent', 'failed', 'digested')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz,                             -- NULL: due now
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    UNIQUE (event_id, subscription_id)
);
CREATE INDEX notification_outbox_pending_idx
    ON notification_outbox (subscription_id, id) WHERE status = 'pending';

-- Every attempt, successful or not. A digest is one attempt covering several outbox rows.
CREATE TABLE delivery_log (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    outbox_id       bigint NOT NULL REFERENCES notification_outbox (id),  -- first row carried
    digest_of       bigint[],                                -- all rows of a digest, else NULL
    subscription_id bigint NOT NULL REFERENCES subscriptions (id),
    at              timestamptz NOT NULL,
    channel         text NOT NULL,
    target          text NOT NULL,                           -- secrets in URLs masked
    ok              boolean NOT NULL,
    status_code     integer,                                 -- HTTP or SMTP status
    response        text,                                    -- start of the response
    error           text,
    duration_ms     integer NOT NULL
);
CREATE INDEX delivery_log_outbox_idx ON delivery_log (outbox_id);
-- The rate limit counts the messages a subscription received in the last hour.
CREATE INDEX delivery_log_sent_idx ON delivery_log (subscription_id, at) WHERE ok;
