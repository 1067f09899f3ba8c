-- Hookline's embedded schema.
--
-- Timestamps are INTEGER unix milliseconds. JSON-shaped fields (metadata, headers, filters,
-- channels, retired secrets, schemas) are TEXT holding JSON. Every tenant-owned table carries
-- app_id and cascades from applications, so deleting an application removes everything it owns.

CREATE TABLE api_tokens (
    hash       TEXT PRIMARY KEY NOT NULL, -- hex SHA-256 of the token; the token is never stored
    created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE applications (
    id            TEXT PRIMARY KEY NOT NULL,
    uid           TEXT UNIQUE,
    name          TEXT NOT NULL,
    throttle_rate INTEGER,
    metadata      TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
) STRICT;

CREATE TABLE endpoints (
    id              TEXT PRIMARY KEY NOT NULL,
    app_id          TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    uid             TEXT,
    url             TEXT NOT NULL,
    description     TEXT NOT NULL,
    disabled        INTEGER NOT NULL DEFAULT 0,
    event_types     TEXT,             -- JSON array of names; NULL = every type
    channels        TEXT,             -- JSON array of channels; NULL = every channel
    throttle_rate   INTEGER,
    metadata        TEXT NOT NULL,
    headers         TEXT NOT NULL,
    secret          TEXT NOT NULL,    -- whsec_… (encryption at rest is a later change)
    retired_secrets TEXT NOT NULL DEFAULT '[]', -- JSON [{secret, expires_at}]
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    UNIQUE (app_id, uid)
) STRICT;

CREATE INDEX endpoints_by_app ON endpoints (app_id, id);

CREATE TABLE event_types (
    name         TEXT PRIMARY KEY NOT NULL,
    description  TEXT NOT NULL,
    archived     INTEGER NOT NULL DEFAULT 0,
    deprecated   INTEGER NOT NULL DEFAULT 0,
    feature_flag TEXT,
    schemas      TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
) STRICT;

CREATE TABLE messages (
    id         TEXT PRIMARY KEY NOT NULL,
    app_id     TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    event_type TEXT NOT NULL,
    event_id   TEXT,
    channels   TEXT,                  -- JSON array or NULL
    payload    TEXT,                  -- exactly as received; NULL once expunged
    created_at INTEGER NOT NULL,
    expires_at INTEGER,               -- payload retention, for a later clean-up task
    UNIQUE (app_id, event_id)
) STRICT;

CREATE INDEX messages_by_app ON messages (app_id, id);

-- One row per (message, endpoint). status: 0 success, 1 pending, 2 fail, 3 sending.
-- due_at is the next attempt time while pending and the lease expiry while sending, so a
-- delivery is claimable exactly when `status IN (1, 3) AND due_at <= now`; NULL otherwise.
CREATE TABLE deliveries (
    id           INTEGER PRIMARY KEY,
    app_id       TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    msg_id       TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    endpoint_id  TEXT NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
    status       INTEGER NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0, -- scheduled attempts made so far
    trigger_type INTEGER NOT NULL DEFAULT 0, -- of the next attempt: 0 scheduled, 1 manual
    due_at       INTEGER,
    locked_by    TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    UNIQUE (msg_id, endpoint_id)
) STRICT;

CREATE INDEX deliveries_due ON deliveries (due_at) WHERE status IN (1, 3);
CREATE INDEX deliveries_by_endpoint ON deliveries (endpoint_id, msg_id);

CREATE TABLE attempts (
    id                   TEXT PRIMARY KEY NOT NULL,
    app_id               TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    msg_id               TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    endpoint_id          TEXT NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
    url                  TEXT NOT NULL,
    status               INTEGER NOT NULL,
    response_status_code INTEGER NOT NULL,
    response             TEXT NOT NULL,
    response_duration_ms INTEGER NOT NULL,
    trigger_type         INTEGER NOT NULL,
    error_class          TEXT,
    created_at           INTEGER NOT NULL
) STRICT;

CREATE INDEX attempts_by_message ON attempts (msg_id, id);
CREATE INDEX attempts_by_endpoint ON attempts (endpoint_id, id);

CREATE TABLE idempotency_keys (
    key         TEXT PRIMARY KEY NOT NULL,
    fingerprint TEXT NOT NULL,
    status      INTEGER,              -- NULL while the owning request runs
    body        BLOB,
    created_at  INTEGER NOT NULL
) STRICT;
