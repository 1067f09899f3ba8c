-- Every index of the queue tables is written on every delivery (inserted, leased and
-- finished) and every attempt, so each one the reads can do without is dropped.
--
-- A delivery is unique per (endpoint, message) in that column order, which also serves the
-- listing of an endpoint's messages; a message's endpoints are found through its
-- application's endpoints, one probe each.
DROP INDEX deliveries_by_endpoint;
ALTER TABLE deliveries DROP CONSTRAINT deliveries_msg_id_endpoint_id_key;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_endpoint_id_msg_id_key
    UNIQUE (endpoint_id, msg_id);

-- An attempt is always looked up with its message, so the key leads with it and the
-- by-message index goes.
ALTER TABLE attempts DROP CONSTRAINT attempts_pkey;
DROP INDEX attempts_by_message;
ALTER TABLE attempts ADD PRIMARY KEY (msg_id, id);
