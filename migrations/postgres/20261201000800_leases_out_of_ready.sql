-- Every delivery is inserted, leased and finished, and each of those row versions goes into
-- every index whose key or predicate covers it. This migration takes a delivered delivery
-- from eleven index entries to five (two when inserted, two when leased, one when finished):
--
-- * `deliveries_ready` holds pending deliveries only, so a lease leaves it. A lease that
--   expires (its worker died) is put back to pending by a later claim, through
--   `deliveries_sending`.
-- * `deliveries_sending` holds leased deliveries by endpoint and lease expiry: an endpoint's
--   in-flight count is a range of it, and finding expired leases is one pass over it
--   (claims make that pass once a second, since the index keeps dead entries until vacuum).
-- * `deliveries_by_state` goes: the queue depth counts pending deliveries over
--   `deliveries_ready`, leased ones over `deliveries_sending` and failed ones over the new
--   `deliveries_failed`, which is written only when a delivery fails.
-- * The `id` primary key goes. A delivery is found by its (endpoint, message) key, which
--   every writer knows, or by the row version a claim has just read; `id` stays as the
--   tiebreak of the claim order.
DROP INDEX deliveries_ready;
CREATE INDEX deliveries_ready ON deliveries (endpoint_id, due_at, id) WHERE status = 1;

DROP INDEX deliveries_sending;
CREATE INDEX deliveries_sending ON deliveries (endpoint_id, due_at) WHERE status = 3;

DROP INDEX deliveries_by_state;
CREATE INDEX deliveries_failed ON deliveries (endpoint_id) WHERE status = 2;

ALTER TABLE deliveries DROP CONSTRAINT deliveries_pkey;
