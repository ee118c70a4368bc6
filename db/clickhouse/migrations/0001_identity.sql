-- Identity projection: the read model of the Postgres identity graph. The identity_projection
-- job writes it (WriteProjection); reads collapse it with argMax(..., version) GROUP BY key.
--
-- Every row carries the Postgres version of the change it projects. ReplacingMergeTree(version)
-- keeps the highest version per sorting key when parts merge, which happens eventually or
-- never; reads therefore collapse duplicates themselves, so a job that runs twice, or an older
-- change written after a newer one, changes nothing a read can see. Written for ClickHouse
-- 18.16 and current versions alike (no LowCardinality, DateTime64 or Map).

-- distinct_id_map: the profile each distinct id belongs to. One logical row per
-- (project_id, distinct_id); a merge re-points ids with a higher version.
CREATE TABLE IF NOT EXISTS distinct_id_map
(
    project_id  String,
    distinct_id String,
    profile_id  String,
    version     UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (project_id, distinct_id);

-- profiles: one logical row per (project_id, profile_id).
--   traits      JSON object text (18.16 has no JSON type; visitParamExtract* reads it)
--   merged_into the surviving profile once this one was merged into it, else ''
--   deleted     1 once soft-deleted; the delete bumps version, so nothing older revives it
CREATE TABLE IF NOT EXISTS profiles
(
    project_id  String,
    profile_id  String,
    external_id String,
    traits      String,
    merged_into String,
    deleted     UInt8,
    version     UInt64,
    updated_at  DateTime
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (project_id, profile_id);
