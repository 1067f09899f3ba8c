-- Receiver isolation: per-endpoint breaker and rate state shared by every worker, and
-- indices that let a claim go endpoint by endpoint instead of oldest-first across all.

ALTER TABLE endpoints ADD COLUMN concurrency_limit INTEGER;
ALTER TABLE endpoints ADD COLUMN disabled_reason TEXT;
ALTER TABLE endpoints ADD COLUMN breaker_state INTEGER NOT NULL DEFAULT 0; -- 0 closed, 1 open, 2 half-open
ALTER TABLE endpoints ADD COLUMN breaker_since INTEGER;
ALTER TABLE endpoints ADD COLUMN open_until INTEGER;
ALTER TABLE endpoints ADD COLUMN breaker_trips INTEGER NOT NULL DEFAULT 0;
ALTER TABLE endpoints ADD COLUMN consecutive_failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE endpoints ADD COLUMN window_start INTEGER;
ALTER TABLE endpoints ADD COLUMN window_total INTEGER NOT NULL DEFAULT 0;
ALTER TABLE endpoints ADD COLUMN window_failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE endpoints ADD COLUMN failing_since INTEGER;
ALTER TABLE endpoints ADD COLUMN rate_tat INTEGER;
ALTER TABLE endpoints ADD COLUMN last_served_at INTEGER; -- when a claim last granted it deliveries
ALTER TABLE applications ADD COLUMN rate_tat INTEGER;

DROP INDEX deliveries_due;
-- Per endpoint, its waiting deliveries by due time: the head of each endpoint's queue.
CREATE INDEX deliveries_ready ON deliveries (endpoint_id, due_at) WHERE status IN (1, 3);
-- In-flight deliveries per endpoint, for the bulkhead.
CREATE INDEX deliveries_sending ON deliveries (endpoint_id) WHERE status = 3;
