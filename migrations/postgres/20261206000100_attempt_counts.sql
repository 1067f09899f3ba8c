-- Attempts counted per 10-second bucket as they are recorded, one row per bucket and
-- recording worker (so workers never wait on each other's counts). The status view reads
-- the last five minutes from here: a few hundred rows, where counting the attempts
-- themselves read every attempt of those five minutes (millions at full speed) on every
-- refresh. Rows older than an hour are swept.
CREATE TABLE attempt_counts (
    bucket    timestamptz NOT NULL,
    writer    text COLLATE "C" NOT NULL,
    delivered bigint NOT NULL,
    failed    bigint NOT NULL,
    PRIMARY KEY (bucket, writer)
);
INSERT INTO attempt_counts (bucket, writer, delivered, failed)
SELECT to_timestamp(floor(extract(epoch FROM created_at) / 10) * 10), '',
       count(*) FILTER (WHERE status = 0), count(*) FILTER (WHERE status <> 0)
FROM attempts WHERE created_at >= now() - interval '1 hour'
GROUP BY 1;
-- Nothing else reads attempts by time, and every attempt paid for an entry here.
DROP INDEX attempts_recent;
