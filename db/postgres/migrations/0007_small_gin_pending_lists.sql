-- +goose Up
-- GIN indexes take new entries into a pending list that every search reads whole, until the
-- list reaches gin_pending_list_limit (4 MB by default) or a vacuum folds it into the index.
-- Under steady Identify traffic the search index's list sat near its limit (~500 pages), and a
-- name search over a million profiles took 19 ms instead of 13; at 256 kB it holds a few dozen
-- pages, and folding them in costs writers no measurable throughput (List by name at 32
-- clients 128 -> 212 req/s, Identify unchanged).
ALTER INDEX profiles_search SET (gin_pending_list_limit = 256);
ALTER INDEX profiles_effective SET (gin_pending_list_limit = 256);

