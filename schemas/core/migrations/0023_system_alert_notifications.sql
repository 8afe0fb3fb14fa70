-- System alerts are sent to staff subscribers (the same outbox, channels and dispatcher as
-- case notifications).
--
-- A subscription says what it wants: case notifications (``cases``, filtered as before) and/or
-- system alerts (``system_alerts``, of the kinds in ``system_alert_kinds``; empty: every
-- kind). The kinds are checked by schemas/system_alerts.py (one list, AlertKind), not here, so
-- that a new kind of system alert needs no change to this table. Only a subscription whose
-- subscriber is an active staff user receives system alerts (checked when stored and again
-- when each notification is queued).
ALTER TABLE subscriptions
    ADD COLUMN cases boolean NOT NULL DEFAULT true,
    ADD COLUMN system_alerts boolean NOT NULL DEFAULT false,
    ADD COLUMN system_alert_kinds text[] NOT NULL DEFAULT '{}',
    ADD CONSTRAINT subscriptions_wants_something CHECK (cases OR system_alerts);

-- One row per transition of a system alert worth telling: opened (the first occurrence of
-- (kind, subject)), reopened (a new occurrence after staff closed the last one), closed.
-- Written in the transaction that opens or closes the alert; a repeated occurrence of an open
-- alert (its count rising) writes nothing. A reminder is written by the alerts process when
-- an alert stayed open SOURCEWATCH_SYSTEM_ALERT_REMINDER_HOURS after its last event. The
-- alerts process queues one notification per matching subscription and sets
-- ``announced_at`` in one transaction.
CREATE TABLE system_alert_events (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_id        bigint NOT NULL REFERENCES system_alerts (id),
    action          text NOT NULL CHECK (action IN ('opened', 'reopened', 'closed', 'reminder')),
    at              timestamptz NOT NULL,
    announced_at    timestamptz
);
CREATE UNIQUE INDEX system_alert_events_once_idx
    ON system_alert_events (alert_id, action) WHERE action <> 'reminder';
CREATE INDEX system_alert_events_alert_idx ON system_alert_events (alert_id, at);
CREATE INDEX system_alert_events_unannounced_idx
    ON system_alert_events (id) WHERE announced_at IS NULL;

-- An outbox row carries either a case event or a system alert event, never both; one
-- notification per (system event, subscription), however often the queueing is repeated.
ALTER TABLE notification_outbox
    ALTER COLUMN event_id DROP NOT NULL,
    ADD COLUMN system_event_id bigint REFERENCES system_alert_events (id),
    ADD CONSTRAINT notification_outbox_one_event
        CHECK ((event_id IS NULL) <> (system_event_id IS NULL)),
    ADD CONSTRAINT notification_outbox_system_event_subscription_key
        UNIQUE (system_event_id, subscription_id);
