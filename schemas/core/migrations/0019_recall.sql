-- Nothing silently missing (issue 14): the broker's own drop counters and the system alerts
-- they raise, and the history recall (反控补数) of gaps from the data loggers.

-- The last reading of each broker counter that ingest watches (Mosquitto's
-- $SYS/broker/publish/messages/dropped, EMQX's per-node metrics), so that an increase is seen
-- once whichever ingest worker reads it, and across restarts. ``subject`` names the broker
-- (host:port) and the topic, never credentials. Written by ingest.
CREATE TABLE broker_counters (
    subject         text PRIMARY KEY,
    value           bigint NOT NULL,
    read_at         timestamptz NOT NULL
);

-- What staff must see that is not about one outlet's emissions: the service itself losing
-- data. One open alert per (kind, subject); a new occurrence adds to it (count, last_at).
-- Written by ingest (broker-drops) and by the recall (recall-failed); staff close them (API).
CREATE TABLE system_alerts (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind            text NOT NULL CHECK (kind IN ('broker-drops', 'recall-failed')),
    subject         text NOT NULL,
    state           text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'closed')),
    first_at        timestamptz NOT NULL DEFAULT now(),
    last_at         timestamptz NOT NULL DEFAULT now(),
    count           bigint NOT NULL DEFAULT 0,   -- messages dropped, recalls failed, … since first_at
    message_zh      text NOT NULL,
    message_en      text NOT NULL,
    details         jsonb NOT NULL DEFAULT '{}',
    closed_at       timestamptz,                 -- when staff closed it (audited)
    closed_by       text
);
CREATE UNIQUE INDEX system_alerts_open_idx ON system_alerts (kind, subject) WHERE state = 'open';
CREATE INDEX system_alerts_last_idx ON system_alerts (last_at);

-- One history query per outlet, record kind (CN 2051 minute, 2061 hour, 2031 day) and
-- interval: waiting (to be sent at next_at), sent (waiting for 9011, the data and 9012), then
-- done (healed) or failed (refused, no answer, partial after the last try). Written by the
-- process that holds the logger's connection: the ingest worker (MQTT) or the TCP gateway.
CREATE TABLE recall_requests (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    outlet_id       bigint NOT NULL REFERENCES outlets (id),
    cn              text NOT NULL CHECK (cn IN ('2051', '2061', '2031')),
    begin_at        timestamptz NOT NULL,
    end_at          timestamptz NOT NULL CHECK (end_at > begin_at),
    state           text NOT NULL DEFAULT 'waiting'
                    CHECK (state IN ('waiting', 'sent', 'done', 'failed')),
    outcome         text CHECK (outcome IN ('healed', 'refused', 'no-answer', 'partial')),
    reason          text,                        -- why it failed, in words
    tries           integer NOT NULL DEFAULT 0,
    next_at         timestamptz NOT NULL DEFAULT now(),
    missing         integer NOT NULL,            -- missing records when the gap was found
    expected_per_hour integer NOT NULL,          -- records an hour the outlet sends
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX recall_requests_open_idx ON recall_requests (outlet_id, cn, begin_at)
    WHERE state IN ('waiting', 'sent');
CREATE INDEX recall_requests_next_idx ON recall_requests (next_at) WHERE state IN ('waiting', 'sent');
CREATE INDEX recall_requests_outlet_idx ON recall_requests (outlet_id, created_at);

-- Each try of a request: the QN it was sent with, the answers (9011 QnRtn, the data packets,
-- 9012 ExeRtn) and how it ended.
CREATE TABLE recall_attempts (
    request_id      bigint NOT NULL REFERENCES recall_requests (id),
    try             integer NOT NULL,
    qn              text NOT NULL,
    transport       text NOT NULL CHECK (transport IN ('mqtt', 'tcp')),
    sent_at         timestamptz NOT NULL,
    qn_rtn          integer,
    exe_rtn         integer,
    packets         integer NOT NULL DEFAULT 0,  -- data packets received for the interval
    missing_after   integer,                     -- missing records once the try ended
    outcome         text CHECK (outcome IN ('healed', 'refused', 'no-answer', 'partial')),
    finished_at     timestamptz,
    PRIMARY KEY (request_id, try)
);
