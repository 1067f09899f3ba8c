-- The rows one delivery writes, in the shape Hookline writes them, without the rest of the
-- service: a pgbench transaction posts 36 messages to the ten endpoints of seed.sql (360
-- deliveries), leases them, and records one successful attempt each, in three transactions
-- like the ingest batch, the claim and the recorder. What Postgres spends per delivery
-- here is the floor under the end-to-end bench's.
--
--   pgbench -n -r -c 1 -T 20 -f benches/pg_floor/cycle.sql DATABASE
--
-- Deliveries/s = 360 x tps. The candidate and gate reads of a real claim are left out.
WITH m AS (
    INSERT INTO messages (id, app_id, event_type, payload, created_at, expires_at)
    SELECT 'msg_floor_message_' || lpad(nextval('floor_messages')::text, 12, '0'),
           'app_floor', 'floor.event', '{"sentNs":123456789012,"warmup":false}', now(),
           now() + interval '30 days'
    FROM generate_series(1, 36)
    RETURNING id)
INSERT INTO deliveries (app_id, msg_id, endpoint_id, status, due_at, created_at, updated_at)
SELECT 'app_floor', m.id, e.id, 1, now(), now(), now() FROM m CROSS JOIN endpoints e;
WITH g AS (SELECT e.id AS endpoint_id, 36::bigint AS n FROM endpoints e),
picked AS (
    SELECT p.ctid FROM g CROSS JOIN LATERAL (
        SELECT d.ctid FROM deliveries d
        WHERE d.endpoint_id = g.endpoint_id AND d.status = 1 AND d.due_at <= now()
        ORDER BY d.due_at, d.id LIMIT g.n) p),
leased AS (
    UPDATE deliveries d
    SET status = 3, due_at = now() + interval '30 s', locked_by = 'floor', updated_at = now()
    WHERE d.ctid = ANY(ARRAY(SELECT ctid FROM picked)) AND d.status = 1
    RETURNING d.ctid)
SELECT quote_literal(array_agg(ctid)::text) AS versions FROM leased \gset
BEGIN;
WITH done AS (
    UPDATE deliveries d
    SET status = 0, due_at = NULL, attempts = d.attempts + 1, locked_by = NULL,
        updated_at = now()
    WHERE d.ctid = ANY(:versions::tid[]) AND d.status = 3
    RETURNING d.app_id, d.msg_id, d.endpoint_id)
INSERT INTO attempts (id, app_id, msg_id, endpoint_id, url, status, response_status_code,
                      response, response_duration_ms, trigger_type, created_at)
SELECT 'atmpt_' || md5(random()::text), app_id, msg_id, endpoint_id,
       'http://127.0.0.1:9/hook', 0, 200, '', 1, 0, now()
FROM done;
COMMIT;
