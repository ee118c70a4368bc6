-- events: the tracked events, as received.
--
-- Sorting key (project_id, distinct_id, message_id), version received_at:
--   * Dedupe. ReplacingMergeTree collapses rows with equal sorting keys, so the key must be
--     exactly the identity of an event: an SDK retry resends the same message_id for the same
--     distinct id. Putting timestamp in the key would be better for time-ordered scans, but a
--     retry whose timestamp differs (clock-less clients get the server's time) would then never
--     collapse. The last copy received wins.
--   * "Events of these distinct ids, newest first": the key prefix (project_id, distinct_id)
--     lets the primary index skip every granule of other ids, so such a read touches only the
--     rows of the ids asked for; ORDER BY timestamp DESC ... LIMIT then sorts those rows (a
--     partial sort), and a timestamp range prunes whole months through the partition key.
--   * Partitions are months of the event time. Merges never cross partitions, so a duplicate
--     sent with a timestamp in another month is never merged away: reads that must be exact
--     collapse on message_id (LIMIT 1 BY message_id, or argMax ... GROUP BY) as every read of
--     this read model does.
CREATE TABLE IF NOT EXISTS events
(
    project_id  String,
    distinct_id String,
    event       String,
    message_id  String,
    properties  String,
    timestamp   DateTime,
    received_at DateTime
)
ENGINE = ReplacingMergeTree(received_at)
PARTITION BY toYYYYMM(timestamp)
ORDER BY (project_id, distinct_id, message_id);
