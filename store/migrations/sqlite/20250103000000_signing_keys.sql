-- Versioned secrets that sign tokens in links (one-click unsubscribe). Every
-- process reads them from here, so API replicas and dispatchers agree.
CREATE TABLE signing_keys (
    purpose     TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    secret      TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    PRIMARY KEY (purpose, version)
);
