-- Receiver isolation: per-endpoint breaker and rate state shared by every worker, and
-- indices that let a claim go endpoint by endpoint instead of oldest-first across all.

ALTER TABLE endpoints ADD COLUMN concurrency_limit integer;
ALTER TABLE endpoints ADD COLUMN disabled_reason text;
ALTER TABLE endpoints ADD COLUMN breaker_state smallint NOT NULL DEFAULT 0; -- 0 closed, 1 open, 2 half-open
ALTER TABLE endpoints ADD COLUMN breaker_since timestamptz;
ALTER TABLE endpoints ADD COLUMN open_until timestamptz;
ALTER TABLE endpoints ADD COLUMN breaker_trips integer NOT NULL DEFAULT 0;
ALTER TABLE endpoints ADD COLUMN consecutive_failures integer NOT NULL DEFAULT 0;
ALTER TABLE endpoints ADD COLUMN window_start timestamptz;
ALTER TABLE endpoints ADD COLUMN window_total integer NOT NULL DEFAULT 0;
ALTER TABLE endpoints ADD COLUMN window_failures integer NOT NULL DEFAULT 0;
ALTER TABLE endpoints ADD COLUMN failing_since timestamptz;
ALTER TABLE applications ADD COLUMN rate_tat timestamptz;

DROP INDEX deliveries_due;
-- Per endpoint, its waiting deliveries by due time: the head of each endpoint's queue.
CREATE INDEX deliveries_ready ON deliveries (endpoint_id, due_at) WHERE status IN (1, 3);
-- In-flight deliveries per endpoint, for the bulkhead.
CREATE INDEX deliveries_sending ON deliveries (endpoint_id) WHERE status = 3;

-- What claims read and advance, in its own row per endpoint: claims lock these rows
-- (`FOR NO KEY UPDATE SKIP LOCKED`), recorders lock the endpoint rows to update breakers,
-- so the two never wait for each other.
CREATE TABLE endpoint_claims (
    endpoint_id    text COLLATE "C" PRIMARY KEY REFERENCES endpoints (id) ON DELETE CASCADE,
    app_id         text COLLATE "C" NOT NULL,
    rate_tat       timestamptz,  -- GCRA time of the next send slot
    last_served_at timestamptz   -- when a claim last granted it deliveries
);
INSERT INTO endpoint_claims (endpoint_id, app_id) SELECT id, app_id FROM endpoints;
