-- Hookline's Postgres schema: the same tables, columns and indices as the SQLite schema, in
-- native types.
--
-- * Timestamps are timestamptz, written at millisecond resolution (the SQLite store's), so
--   both stores return and compare the same instants.
-- * Metadata, headers, schemas and retired secrets are jsonb; event-type and channel filters
--   are text[] (NULL = every type / channel). The payload is text, never jsonb: receivers get
--   and signatures cover the exact bytes the platform sent, which jsonb would reformat.
-- * Ids, uids, names and keys are COLLATE "C", so ordering and cursor comparisons are
--   bytewise like SQLite's whatever the database's locale, and their indices serve them.
-- * Every tenant-owned table carries app_id and cascades from applications, so deleting an
--   application removes everything it owns and the schema can be distributed by app_id.

CREATE TABLE api_tokens (
    hash       text COLLATE "C" PRIMARY KEY, -- hex SHA-256 of the token; never the token
    created_at timestamptz NOT NULL
);

CREATE TABLE applications (
    id            text COLLATE "C" PRIMARY KEY,
    uid           text COLLATE "C" UNIQUE,
    name          text NOT NULL,
    throttle_rate integer,
    metadata      jsonb NOT NULL,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL
);

CREATE TABLE endpoints (
    id              text COLLATE "C" PRIMARY KEY,
    app_id          text COLLATE "C" NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    uid             text COLLATE "C",
    url             text NOT NULL,
    description     text NOT NULL,
    disabled        boolean NOT NULL DEFAULT false,
    event_types     text[],            -- NULL = every type
    channels        text[],            -- NULL = every channel
    throttle_rate   integer,
    metadata        jsonb NOT NULL,
    headers         jsonb NOT NULL,
    secret          text NOT NULL,     -- whsec_… (encryption at rest is a later change)
    retired_secrets jsonb NOT NULL DEFAULT '[]', -- [{secret, expires_at (unix ms)}]
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    UNIQUE (app_id, uid)
);

CREATE INDEX endpoints_by_app ON endpoints (app_id, id);

CREATE TABLE event_types (
    name         text COLLATE "C" PRIMARY KEY,
    description  text NOT NULL,
    archived     boolean NOT NULL DEFAULT false,
    deprecated   boolean NOT NULL DEFAULT false,
    feature_flag text,
    schemas      jsonb,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL
);

CREATE TABLE messages (
    id         text COLLATE "C" PRIMARY KEY,
    app_id     text COLLATE "C" NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    event_type text COLLATE "C" NOT NULL,
    event_id   text COLLATE "C",
    channels   text[],
    payload    text,                   -- exactly as received; NULL once expunged
    created_at timestamptz NOT NULL,
    expires_at timestamptz,            -- payload retention, for a later clean-up task
    UNIQUE (app_id, event_id)
);

CREATE INDEX messages_by_app ON messages (app_id, id);

-- One row per (message, endpoint). status: 0 success, 1 pending, 2 fail, 3 sending.
-- due_at is the next attempt time while pending and the lease expiry while sending, so a
-- delivery is claimable exactly when `status IN (1, 3) AND due_at <= now()`; NULL otherwise.
CREATE TABLE deliveries (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    app_id       text COLLATE "C" NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    msg_id       text COLLATE "C" NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    endpoint_id  text COLLATE "C" NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
    status       smallint NOT NULL,
    attempts     integer NOT NULL DEFAULT 0,  -- scheduled attempts made so far
    trigger_type smallint NOT NULL DEFAULT 0, -- of the next attempt: 0 scheduled, 1 manual
    due_at       timestamptz,
    locked_by    text,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    UNIQUE (msg_id, endpoint_id)
);

CREATE INDEX deliveries_due ON deliveries (due_at) WHERE status IN (1, 3);
CREATE INDEX deliveries_by_endpoint ON deliveries (endpoint_id, msg_id);

CREATE TABLE attempts (
    id                   text COLLATE "C" PRIMARY KEY,
    app_id               text COLLATE "C" NOT NULL
                         REFERENCES applications (id) ON DELETE CASCADE,
    msg_id               text COLLATE "C" NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    endpoint_id          text COLLATE "C" NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
    url                  text NOT NULL,
    status               smallint NOT NULL,
    response_status_code smallint NOT NULL,
    response             text NOT NULL,
    response_duration_ms bigint NOT NULL,
    trigger_type         smallint NOT NULL,
    error_class          text,
    created_at           timestamptz NOT NULL
);

CREATE INDEX attempts_by_message ON attempts (msg_id, id);
CREATE INDEX attempts_by_endpoint ON attempts (endpoint_id, id);

CREATE TABLE idempotency_keys (
    key         text COLLATE "C" PRIMARY KEY,
    fingerprint text NOT NULL,
    status      integer,               -- NULL while the owning request runs
    body        bytea,
    created_at  timestamptz NOT NULL
);
