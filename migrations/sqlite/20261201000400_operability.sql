-- Operability: indices that keep the status API and the metrics scrape cheap on large tables.
--
-- Queue depth by state. Success rows (the vast majority) are left out; every count and
-- minimum of `Store::queue_depth` is a range scan of this index alone (it covers status and
-- due_at), so counting even a million due rows reads no table pages. Costs one more index
-- entry per claim and per recorded outcome.
CREATE INDEX deliveries_by_state ON deliveries (status, due_at) WHERE status IN (1, 2, 3);
-- Recent attempts by time and result: the throughput buckets read only the last minutes of
-- this index, never the attempt log itself.
CREATE INDEX attempts_recent ON attempts (created_at, status);
-- Breakers that are not closed on live endpoints: usually none or a handful.
CREATE INDEX endpoints_open_breakers ON endpoints (breaker_state, breaker_since)
    WHERE breaker_state <> 0 AND disabled = 0;
