-- Initial schema (SQLite). Ids are UUID text, timestamps are milliseconds
-- since the Unix epoch (UTC), JSON is text and booleans are 0/1 integers,
-- because sqlx's Any driver cannot decode columns declared BOOLEAN on SQLite.
-- Keep this file in step with ../postgres/20250101000000_initial.sql.

CREATE TABLE organizations (
    id          TEXT    PRIMARY KEY NOT NULL,
    name        TEXT    NOT NULL,
    plan        TEXT    NOT NULL DEFAULT 'free',
    created_at  BIGINT  NOT NULL
);

CREATE TABLE api_keys (
    id               TEXT    PRIMARY KEY NOT NULL,
    organization_id  TEXT    NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name             TEXT    NOT NULL,
    key_hash         TEXT    NOT NULL,
    prefix           TEXT    NOT NULL,
    key_type         TEXT    NOT NULL CHECK (key_type IN ('live', 'test', 'restricted')),
    permissions      TEXT    NOT NULL DEFAULT '[]',
    last_used_at     BIGINT,
    expires_at       BIGINT,
    revoked_at       BIGINT,
    created_by       TEXT,
    created_at       BIGINT  NOT NULL
);
CREATE UNIQUE INDEX api_keys_key_hash_key ON api_keys (key_hash);
CREATE INDEX api_keys_org_created_idx ON api_keys (organization_id, created_at);

CREATE TABLE contacts (
    id                     TEXT    PRIMARY KEY NOT NULL,
    organization_id        TEXT    NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    external_id            TEXT,
    email                  TEXT,
    email_hash             TEXT,
    phone                  TEXT,
    phone_hash             TEXT,
    first_name             TEXT,
    last_name              TEXT,
    company                TEXT,
    job_title              TEXT,
    email_status           TEXT    CHECK (email_status IN ('active', 'unsubscribed', 'bounced', 'complained', 'suppressed')),
    sms_status             TEXT    CHECK (sms_status IN ('pending_consent', 'opted_in', 'opted_out', 'invalid')),
    preferred_channel      TEXT    CHECK (preferred_channel IN ('email', 'sms')),
    properties             TEXT    NOT NULL DEFAULT '{}',
    emails_sent            BIGINT  NOT NULL DEFAULT 0,
    emails_opened          BIGINT  NOT NULL DEFAULT 0,
    emails_clicked         BIGINT  NOT NULL DEFAULT 0,
    sms_sent               BIGINT  NOT NULL DEFAULT 0,
    sms_clicked            BIGINT  NOT NULL DEFAULT 0,
    last_email_sent_at     BIGINT,
    last_email_opened_at   BIGINT,
    last_email_clicked_at  BIGINT,
    last_sms_sent_at       BIGINT,
    last_sms_clicked_at    BIGINT,
    last_activity_at       BIGINT,
    email_verified_at      BIGINT,
    email_unsubscribed_at  BIGINT,
    email_bounced_at       BIGINT,
    email_complained_at    BIGINT,
    email_suppressed_at    BIGINT,
    sms_consented_at       BIGINT,
    sms_opted_out_at       BIGINT,
    sms_invalid_at         BIGINT,
    created_at             BIGINT  NOT NULL,
    updated_at             BIGINT  NOT NULL
);
-- NULLs are distinct in unique indexes, so each identity is unique only when
-- present. The store maps violations to 409s by the column names in these
-- index definitions.
CREATE UNIQUE INDEX contacts_org_external_id_key ON contacts (organization_id, external_id);
CREATE UNIQUE INDEX contacts_org_email_hash_key ON contacts (organization_id, email_hash);
CREATE UNIQUE INDEX contacts_org_phone_hash_key ON contacts (organization_id, phone_hash);
CREATE INDEX contacts_org_created_idx ON contacts (organization_id, created_at, id);
CREATE INDEX contacts_org_id_idx ON contacts (organization_id, id);
CREATE INDEX contacts_org_email_idx ON contacts (organization_id, email);

CREATE TABLE topics (
    id               TEXT     PRIMARY KEY NOT NULL,
    organization_id  TEXT     NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name             TEXT     NOT NULL,
    slug             TEXT     NOT NULL,
    description      TEXT,
    double_opt_in    INTEGER  NOT NULL DEFAULT 0,
    public           INTEGER  NOT NULL DEFAULT 0,
    created_at       BIGINT   NOT NULL,
    updated_at       BIGINT   NOT NULL
);
CREATE UNIQUE INDEX topics_org_slug_key ON topics (organization_id, slug);

CREATE TABLE contact_topics (
    contact_id       TEXT    NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    topic_id         TEXT    NOT NULL REFERENCES topics (id) ON DELETE CASCADE,
    organization_id  TEXT    NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    status           TEXT    NOT NULL CHECK (status IN ('pending', 'subscribed', 'unsubscribed')),
    subscribed_at    BIGINT,
    unsubscribed_at  BIGINT,
    confirmed_at     BIGINT,
    created_at       BIGINT  NOT NULL,
    PRIMARY KEY (contact_id, topic_id)
);
CREATE INDEX contact_topics_topic_status_idx ON contact_topics (topic_id, status, contact_id);

CREATE TABLE aws_connections (
    id                      TEXT     PRIMARY KEY NOT NULL,
    organization_id         TEXT     NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    account_id              TEXT     NOT NULL,
    region                  TEXT     NOT NULL,
    name                    TEXT     NOT NULL,
    role_arn                TEXT     NOT NULL,
    external_id             TEXT     NOT NULL,
    webhook_secret          TEXT,
    features                TEXT     NOT NULL DEFAULT '{}',
    email_enabled           INTEGER  NOT NULL DEFAULT 0,
    sms_enabled             INTEGER  NOT NULL DEFAULT 0,
    is_verified             INTEGER  NOT NULL DEFAULT 0,
    last_verified_at        BIGINT,
    last_event_received_at  BIGINT,
    daily_quota_reserve     BIGINT   NOT NULL DEFAULT 0,
    created_by              TEXT,
    created_at              BIGINT   NOT NULL,
    updated_at              BIGINT   NOT NULL
);
-- One AWS account may be connected by several organisations, once each.
CREATE UNIQUE INDEX aws_connections_org_account_key ON aws_connections (organization_id, account_id);
CREATE UNIQUE INDEX aws_connections_external_id_key ON aws_connections (external_id);
CREATE INDEX aws_connections_account_idx ON aws_connections (account_id);

CREATE TABLE idempotency_keys (
    organization_id  TEXT    NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    idempotency_key  TEXT    NOT NULL,
    request_hash     TEXT    NOT NULL,
    state            TEXT    NOT NULL CHECK (state IN ('in_flight', 'completed')),
    status_code      BIGINT,
    response_body    BLOB,
    created_at       BIGINT  NOT NULL,
    expires_at       BIGINT  NOT NULL,
    PRIMARY KEY (organization_id, idempotency_key)
);
CREATE INDEX idempotency_keys_expires_idx ON idempotency_keys (expires_at);
