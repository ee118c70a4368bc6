-- +goose NO TRANSACTION
-- +goose Up
-- The word index again (0008), with the ends of words kept apart from whole words. 0008 kept
-- every run reversed, so that the first word of a query, which may end a longer word, was a
-- prefix search: "harper linfield" asked for 'reprah':*, and GIN gathers every profile of a
-- prefix into a bitmap before it intersects anything, 5,800 profiles for a common first name
-- (1.9 ms of the 2.7 ms that Postgres spent on a List by a full name). This index keeps each
-- run whole, as before, and each run of four or more characters less its first character,
-- reversed and marked with '~' (never in a run): the tail "~reprah" of "charper". A first word
-- is then ('harper' | '~reprah':*): the whole word is an exact entry, which GIN skips through
-- beside the rarer last name, and the prefix gathers only longer words that end in it.
-- The same rules as 0008 otherwise (E'' patterns, PL/pgSQL, the 254-character cut; keep in
-- step with words.go). STRICT: a NULL text has no words.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION profiles_search_words(search text) RETURNS tsvector
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    runs  text[] := array_remove(regexp_split_to_array(search, E'[\\x01-\\x60\\x7b-\\x7f]+'), '');
    tails text[] := '{}';
    run   text;
BEGIN
    IF length(search) > 254 THEN -- a run may need cutting; a loop would grow tails quadratically
        RETURN array_to_tsvector(
               ARRAY(SELECT left(r, 254) FROM unnest(runs) r)
            || ARRAY(SELECT '~' || left(reverse(substr(r, 2)), 254) FROM unnest(runs) r WHERE length(r) > 3));
    END IF;
    -- Most texts are short: a loop over their few runs costs less than a query.
    FOREACH run IN ARRAY runs LOOP
        IF length(run) > 3 THEN
            tails := tails || ('~' || reverse(substr(run, 2)));
        END IF;
    END LOOP;
    RETURN array_to_tsvector(runs || tails);
END;
$$;
-- +goose StatementEnd

-- CONCURRENTLY: a live deployment keeps writing while it builds (20 s at a million profiles).
-- Profiles without text (anonymous visitors, most of a real project) are left out, as 0011
-- leaves them out of the other search indexes: queries say search <> ''.
CREATE INDEX CONCURRENTLY IF NOT EXISTS profiles_search_words ON profiles USING gin (profiles_search_words(search))
    WITH (gin_pending_list_limit = 256)
    WHERE merged_into IS NULL AND deleted_at IS NULL AND search <> '';

-- No planner statistics, for 0008's reason.
ALTER INDEX profiles_search_words ALTER COLUMN 1 SET STATISTICS 0;

-- A process of the earlier release fails a List by words until it restarts, rather than scan
-- every profile through the old function (README, Operations).
DROP INDEX CONCURRENTLY IF EXISTS profiles_search_runs;
DROP FUNCTION IF EXISTS profiles_search_runs(text);
