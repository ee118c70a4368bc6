-- +goose NO TRANSACTION
-- +goose Up
-- The runs of the search column, for List queries of more than one word (db/postgres/words.go
-- says which runs a query pins and why that never misses a match). A run is a longest stretch
-- of ASCII letters and non-ASCII characters; every other ASCII character separates, digits
-- too. The patterns are E'' strings: the body is parsed in the session that first runs it, and
-- one with standard_conforming_strings off would read '\1' as another string. PL/pgSQL rather
-- than SQL: it splits a short text once (6 us a row against 17 for the SQL expression twice).
-- Each run is cut to 254 characters (a lexeme holds at most 2,047 bytes) and kept reversed
-- too, so that the first word of a query, which may end a longer word, is a prefix search.
-- A full name read ~300 pages of the trigram index (4-19 ms) and reads ~12 of this one.
-- The index stores what this function returned when each row was written: never replace it in
-- place (a changed function needs a new name and a new index), and keep it in step with
-- isRunRune and maxRun in words.go.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION profiles_search_runs(search text) RETURNS tsvector
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    runs text[];
BEGIN
    IF length(search) > 254 THEN -- a run may need cutting, and its reversal cutting apart
        RETURN array_to_tsvector(
               array_remove(regexp_split_to_array(
                   regexp_replace(search, E'([^\\x01-\\x60\\x7b-\\x7f]{254})[^\\x01-\\x60\\x7b-\\x7f]+', E'\\1', 'g'),
                   E'[\\x01-\\x60\\x7b-\\x7f]+'), '')
            || array_remove(regexp_split_to_array(
                   regexp_replace(reverse(search), E'([^\\x01-\\x60\\x7b-\\x7f]{254})[^\\x01-\\x60\\x7b-\\x7f]+', E'\\1', 'g'),
                   E'[\\x01-\\x60\\x7b-\\x7f]+'), ''));
    END IF;
    -- Most texts are short: split once, and reverse the runs joined by a space (never in a run).
    runs := array_remove(regexp_split_to_array(search, E'[\\x01-\\x60\\x7b-\\x7f]+'), '');
    RETURN array_to_tsvector(runs || string_to_array(reverse(array_to_string(runs, ' ')), ' '));
END;
$$;
-- +goose StatementEnd

-- CONCURRENTLY: a live deployment keeps writing while it builds (about 40 s at a million
-- profiles here).
CREATE INDEX CONCURRENTLY IF NOT EXISTS profiles_search_runs ON profiles USING gin (profiles_search_runs(search))
    WITH (gin_pending_list_limit = 256)
    WHERE merged_into IS NULL AND deleted_at IS NULL;

-- No planner statistics for it: ANALYZE would run the function over its whole sample (30,000
-- rows, a second of CPU) every 10,000 changed rows (0005), and only this index serves @@.
ALTER INDEX profiles_search_runs ALTER COLUMN 1 SET STATISTICS 0;
