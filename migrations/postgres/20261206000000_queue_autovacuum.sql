-- The queue tables churn: every delivery leaves two dead row versions (leased, finished)
-- and dead entries at the front of its endpoint's range in `deliveries_ready`, which claims
-- step over until a vacuum removes them. Postgres's default trigger (20% of the table dead)
-- lets a large queue build up that much before it is vacuumed, so claims slow down as the
-- table grows. These settings vacuum the queue after about 1% of it is dead, unthrottled,
-- and vacuum `attempts` (insert-only) as it grows, so its index-only scans stay index-only.
-- They take effect when the server runs autovacuum (its default).
ALTER TABLE deliveries SET (
    autovacuum_vacuum_scale_factor = 0.01,
    autovacuum_vacuum_threshold = 5000,
    autovacuum_vacuum_insert_scale_factor = 0.01,
    autovacuum_vacuum_cost_delay = 0
);
ALTER TABLE attempts SET (
    autovacuum_vacuum_insert_scale_factor = 0.05
);
