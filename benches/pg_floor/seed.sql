-- One application with ten endpoints, for cycle.sql. Run on a fresh database that
-- `hookline migrate` has set up.
INSERT INTO applications (id, name, metadata, created_at, updated_at)
VALUES ('app_floor', 'floor', '{}', now(), now());
INSERT INTO endpoints (id, app_id, url, description, metadata, headers, secret, created_at,
                       updated_at)
SELECT 'ep_floor_endpoint_0000000000' || i, 'app_floor', 'http://127.0.0.1:9/hook', '', '{}',
       '{}', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', now(), now()
FROM generate_series(0, 9) i;
INSERT INTO endpoint_claims (endpoint_id, app_id) SELECT id, app_id FROM endpoints;
CREATE SEQUENCE floor_messages;
