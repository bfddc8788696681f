-- Broadcasts: templates, batches and the frozen recipients of each batch.

CREATE TABLE templates (
    id                 TEXT     PRIMARY KEY NOT NULL,
    organization_id    TEXT     NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name               TEXT     NOT NULL,
    slug               TEXT,
    description        TEXT,
    subject            TEXT,
    preview_text       TEXT,
    email_type         TEXT     NOT NULL DEFAULT 'marketing' CHECK (email_type IN ('marketing', 'transactional')),
    channel            TEXT     NOT NULL DEFAULT 'email' CHECK (channel IN ('email', 'sms')),
    status             TEXT     NOT NULL DEFAULT 'DRAFT' CHECK (status IN ('DRAFT', 'PUBLISHED', 'ARCHIVED')),
    source             TEXT,
    source_hash        TEXT,
    compiled_html      TEXT,
    compiled_text      TEXT,
    variables          TEXT     NOT NULL DEFAULT '[]',
    last_edited_from   TEXT     NOT NULL DEFAULT 'api',
    ses_template_name  TEXT,
    published_connection_id TEXT REFERENCES aws_connections (id) ON DELETE SET NULL,
    published_at       BIGINT,
    created_at         BIGINT   NOT NULL,
    updated_at         BIGINT   NOT NULL
);
CREATE UNIQUE INDEX templates_org_slug_key ON templates (organization_id, slug);
CREATE INDEX templates_org_updated_idx ON templates (organization_id, updated_at, id);

CREATE TABLE batches (
    id                    TEXT     PRIMARY KEY NOT NULL,
    organization_id       TEXT     NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    aws_connection_id     TEXT     REFERENCES aws_connections (id) ON DELETE SET NULL,
    name                  TEXT     NOT NULL,
    channel               TEXT     NOT NULL,
    status                TEXT     NOT NULL CHECK (status IN ('draft', 'scheduled', 'queued', 'processing', 'completed', 'failed', 'cancelled')),
    audience_type         TEXT     NOT NULL,
    topic_id              TEXT,
    segment_id            TEXT,
    recipient_list        TEXT,
    subject               TEXT,
    preview_text          TEXT,
    from_email            TEXT,
    from_name             TEXT,
    reply_to              TEXT,
    template_id           TEXT     REFERENCES templates (id) ON DELETE SET NULL,
    html_content          TEXT,
    variable_mappings     TEXT     NOT NULL DEFAULT '[]',
    scheduled_for         BIGINT,
    total_recipients      BIGINT   NOT NULL DEFAULT 0,
    processed_recipients  BIGINT   NOT NULL DEFAULT 0,
    sent                  BIGINT   NOT NULL DEFAULT 0,
    failed                BIGINT   NOT NULL DEFAULT 0,
    unknown               BIGINT   NOT NULL DEFAULT 0,
    skipped               BIGINT   NOT NULL DEFAULT 0,
    delivered             BIGINT   NOT NULL DEFAULT 0,
    opened                BIGINT   NOT NULL DEFAULT 0,
    clicked               BIGINT   NOT NULL DEFAULT 0,
    bounced               BIGINT   NOT NULL DEFAULT 0,
    complained            BIGINT   NOT NULL DEFAULT 0,
    suppressed            BIGINT   NOT NULL DEFAULT 0,
    chunk_count           BIGINT   NOT NULL DEFAULT 0,
    fanned_out_at         BIGINT,
    paused_reason         TEXT,
    paused_at             BIGINT,
    error_message         TEXT,
    error_details         TEXT     NOT NULL DEFAULT '{}',
    last_progress_at      BIGINT,
    started_at            BIGINT,
    completed_at          BIGINT,
    created_by            TEXT,
    created_at            BIGINT   NOT NULL,
    updated_at            BIGINT   NOT NULL
);
CREATE INDEX batches_org_created_idx ON batches (organization_id, created_at, id);
CREATE INDEX batches_status_idx ON batches (status, scheduled_for);

-- One row per (batch, contact): the frozen audience. A row moves
-- pending -> claimed -> handed_off -> sent | failed | unknown, or to
-- skipped when the contact became ineligible before its send. Rows that
-- reached handed_off are never claimed again.
CREATE TABLE batch_recipients (
    batch_id         TEXT     NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
    contact_id       TEXT     NOT NULL,
    id               TEXT     NOT NULL,
    organization_id  TEXT     NOT NULL,
    email            TEXT     NOT NULL,
    chunk_index      BIGINT   NOT NULL,
    status           TEXT     NOT NULL CHECK (status IN ('pending', 'claimed', 'handed_off', 'sent', 'failed', 'unknown', 'skipped')),
    claim_token      TEXT,
    claimed_at       BIGINT,
    message_id       TEXT,
    error            TEXT,
    sent_at          BIGINT,
    created_at       BIGINT   NOT NULL,
    PRIMARY KEY (batch_id, contact_id)
);
CREATE INDEX batch_recipients_chunk_idx ON batch_recipients (batch_id, chunk_index);
CREATE INDEX batch_recipients_status_idx ON batch_recipients (batch_id, status);
