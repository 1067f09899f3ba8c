-- Operability: indices that keep the status API and the metrics scrape cheap on large tables.
--
-- Queue depth by state. Success rows (the vast majority) are left out; every count and
-- minimum of `Store::queue_depth` is a range scan of this index (it covers status and
-- due_at). The scan is index-only where the visibility map allows; deliveries are updated
-- on every claim and outcome, so pages of a busy queue may still need heap visits. Costs
-- one more index entry per claim and per recorded outcome.
CREATE INDEX deliveries_by_state ON deliveries (status, due_at) WHERE status IN (1, 2, 3);
-- Recent attempts by time and result: the throughput buckets read only the last minutes of
-- this index (attempts are insert-only, so index-only scans stay index-only).
CREATE INDEX attempts_recent ON attempts (created_at, status);
-- Breakers that are not closed on live endpoints: usually none or a handful.
CREATE INDEX endpoints_open_breakers ON endpoints (breaker_state, breaker_since)
    WHERE breaker_state <> 0 AND NOT disabled;
