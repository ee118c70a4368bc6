-- +goose NO TRANSACTION
-- +goose Up
-- The word index of 0012, its pairs keeping the first eight characters of the second run
-- instead of five. Five kept a full name's last name to its first syllables, which hundreds of
-- last names share ("^lie brook" of "ellie brookelard" was the entry of 280 profiles, each read
-- from the heap to check its text, for one match). Over 1,000 names sampled from a million
-- profiles (one session, warm): 250 ms with five, 42 ms with eight, the same 4,024 matches.
-- Alternating servers on one database (binary, 32 clients, two pairs): 487 / 580 -> 775 / 804
-- List/s, p99 254 / 217 -> 147 / 160 ms. The index 58 -> 61 MB; new-user Identify within noise
-- (alternating indexes: 1,786 / 1,737 -> 1,815 / 1,743 req/s). The build took 35 s at 1.27M
-- profiles. A query's last run shorter than eight is a prefix of the pairs, as a
-- run shorter than five was. The function is new, not replaced: the old index answers for the
-- old function until the new one is in place. Keep in step with words.go.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION profiles_search_lexemes(search text) RETURNS tsvector
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    runs  text[] := regexp_split_to_array(' ' || search, E'[\\x01-\\x60\\x7b-\\x7f]+');
    seps  text[] := regexp_split_to_array(' ' || search, E'[^\\x01-\\x60\\x7b-\\x7f]+');
    extra text[] := '{}';
    n     int := array_length(runs, 1);
    run   text;
    prev  text := '';
BEGIN
    IF length(search) > 254 THEN -- a run may need cutting; a loop would grow arrays quadratically
        RETURN array_to_tsvector(array_remove(
               ARRAY(SELECT left(r, 254) FROM unnest(runs) r)
            || ARRAY(SELECT '~' || left(reverse(substr(r, 2)), 254) FROM unnest(runs) r WHERE length(r) > 3)
            || ARRAY(SELECT '^' || right(runs[i], 3) || seps[i] || left(runs[i + 1], 8) FROM generate_series(2, n - 1) i
                     WHERE length(seps[i]) = 1 AND seps[i] <> E'\n' AND length(runs[i]) >= 3 AND length(runs[i + 1]) >= 3),
            ''));
    END IF;
    -- Most texts are short: a loop over their few runs costs less than a query.
    FOR i IN 2..n LOOP
        run := runs[i];
        IF length(run) > 3 THEN
            extra := extra || ('~' || reverse(substr(run, 2)));
        END IF;
        IF length(seps[i - 1]) = 1 AND seps[i - 1] <> E'\n' AND length(prev) >= 3 AND length(run) >= 3 THEN
            extra := extra || ('^' || right(prev, 3) || seps[i - 1] || left(run, 8));
        END IF;
        prev := run;
    END LOOP;
    RETURN array_to_tsvector(array_remove(runs, '') || extra);
END;
$$;
-- +goose StatementEnd

-- Built beside the old index, then given its name, as 0012 did.
CREATE INDEX CONCURRENTLY IF NOT EXISTS profiles_search_words_next ON profiles USING gin (profiles_search_lexemes(search))
    WITH (gin_pending_list_limit = 256)
    WHERE merged_into IS NULL AND deleted_at IS NULL AND search <> '';
-- No planner statistics, for 0008's reason.
ALTER INDEX profiles_search_words_next ALTER COLUMN 1 SET STATISTICS 0;
-- A process of the earlier release fails a List by words until it restarts, as after 0012.
DROP INDEX CONCURRENTLY IF EXISTS profiles_search_words;
DROP FUNCTION IF EXISTS profiles_search_terms(text);
ALTER INDEX profiles_search_words_next RENAME TO profiles_search_words;
