-- Deliveries and attempts are the queue's hot tables: every delivery is inserted, leased
-- and finished, and every attempt appended. Their foreign keys cost three lookups and three
-- row locks on the parent rows for every row written, which under load is most of the cost
-- of writing them (and their shared locks on one endpoint row turn into multixacts).
-- Instead, the writers lock each endpoint they write for once per statement (`FOR KEY
-- SHARE`), and deleting an endpoint or an application deletes its deliveries and attempts
-- itself, after taking the endpoint rows: no row is ever written for an endpoint that is gone.
ALTER TABLE deliveries DROP CONSTRAINT deliveries_app_id_fkey;
ALTER TABLE deliveries DROP CONSTRAINT deliveries_msg_id_fkey;
ALTER TABLE deliveries DROP CONSTRAINT deliveries_endpoint_id_fkey;
ALTER TABLE attempts DROP CONSTRAINT attempts_app_id_fkey;
ALTER TABLE attempts DROP CONSTRAINT attempts_msg_id_fkey;
ALTER TABLE attempts DROP CONSTRAINT attempts_endpoint_id_fkey;
