-- Delivery feedback from SES events.

-- First-seen time of each fact per recipient, in Unix milliseconds, from
-- the event's own timestamp. A fact is recorded once, so batch counters
-- move once per recipient and fact whatever order or how often SES events
-- arrive.
ALTER TABLE batch_recipients ADD COLUMN delivered_at BIGINT;
ALTER TABLE batch_recipients ADD COLUMN opened_at BIGINT;
ALTER TABLE batch_recipients ADD COLUMN clicked_at BIGINT;
ALTER TABLE batch_recipients ADD COLUMN bounced_at BIGINT;
ALTER TABLE batch_recipients ADD COLUMN bounce_type TEXT;
ALTER TABLE batch_recipients ADD COLUMN complained_at BIGINT;
ALTER TABLE batch_recipients ADD COLUMN suppressed_at BIGINT;
CREATE INDEX batch_recipients_message_idx ON batch_recipients (message_id) WHERE message_id IS NOT NULL;

-- SNS topics whose subscription this connection confirmed, as a JSON array
-- of ARNs. Notifications from any other topic are refused.
ALTER TABLE aws_connections ADD COLUMN sns_topic_arns TEXT NOT NULL DEFAULT '[]';

-- Deliveries already processed, by EventBridge event id or SNS MessageId,
-- so that a retried delivery changes nothing. Pruned after a week.
CREATE TABLE ses_event_deliveries (
    organization_id  TEXT    NOT NULL,
    delivery_key     TEXT    NOT NULL,
    received_at      BIGINT  NOT NULL,
    PRIMARY KEY (organization_id, delivery_key)
);
CREATE INDEX ses_event_deliveries_received_idx ON ses_event_deliveries (received_at);

-- Messages that SES reported but wrapsd did not send (sent with the
-- customer's own SDK through the same configuration set), created from the
-- first lifecycle event that arrives.
CREATE TABLE external_messages (
    organization_id  TEXT    NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    message_id       TEXT    NOT NULL,
    email_type       TEXT    NOT NULL DEFAULT 'transactional',
    recipient        TEXT,
    sender           TEXT,
    subject          TEXT,
    status           TEXT    NOT NULL CHECK (status IN ('sent', 'delivered', 'bounced', 'complained', 'suppressed')),
    sent_at          BIGINT,
    delivered_at     BIGINT,
    bounced_at       BIGINT,
    bounce_type      TEXT,
    bounce_sub_type  TEXT,
    complained_at    BIGINT,
    suppressed_at    BIGINT,
    created_at       BIGINT  NOT NULL,
    PRIMARY KEY (organization_id, message_id)
);
