-- +goose Up
-- event_batches: accepted events on their way to ClickHouse. The event committer writes one row
-- per group of concurrent Track requests, together with one event_batch River job, in one
-- transaction; the client is answered after that commit, so an acknowledged event is here or
-- already in ClickHouse. The job inserts the events into ClickHouse and then deletes the row in
-- the transaction that completes it, so the table holds only what is still in flight (and the
-- rows of discarded jobs, kept for inspection: SELECT id, events, created_at FROM event_batches
-- ORDER BY id). The age of the oldest row is the ingestion lag.
--
--   format  the payload encoding (db/postgres/payload.go lists them; 1 was JSON lines)
--   events  how many events the payload holds, for operators
--   payload the events, written once and read once: bytea, so Postgres neither parses nor
--           indexes it; lz4 instead of the default pglz made group commits about 20% faster
--           here (BenchmarkEventCommitter) and still compresses the events (the
--           benchmark's repetitive batch to 4 % of its size; real events less)
CREATE TABLE event_batches (
    id         bigserial PRIMARY KEY,
    format     smallint    NOT NULL,
    events     integer     NOT NULL,
    payload    bytea       COMPRESSION lz4 NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
