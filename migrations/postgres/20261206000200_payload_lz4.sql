-- Payloads of more than about 2 KB are compressed when stored. LZ4 compresses and
-- decompresses JSON several times faster than Postgres's default (pglz) for about the same
-- size, and a payload is compressed once when its message is accepted and decompressed
-- once per claim that sends it (and per API read). Servers without LZ4 (built without it,
-- or older than PostgreSQL 14) keep pglz. Only payloads written from now on are affected.
DO $$
BEGIN
    EXECUTE 'ALTER TABLE messages ALTER COLUMN payload SET COMPRESSION lz4';
EXCEPTION WHEN feature_not_supported OR syntax_error THEN
    RAISE NOTICE 'LZ4 is not available here; message payloads stay compressed with pglz';
END
$$;
