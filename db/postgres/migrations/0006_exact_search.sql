-- +goose NO TRANSACTION
-- +goose Up
-- A List query that is a whole email address looks it up exactly (case-insensitive) in the email
-- trait and the external id rather than as a substring: the trigrams of an address
-- ("com", "@ex", "mai", ...) are shared by most profiles, so the trigram index read ~2,700
-- pages for one address (75 ms) at a million profiles; these indexes read a few.
-- CONCURRENTLY: a live deployment keeps writing while they build.
CREATE INDEX CONCURRENTLY IF NOT EXISTS profiles_email ON profiles (project_id, lower(effective->>'email'))
    WHERE merged_into IS NULL AND deleted_at IS NULL;
CREATE INDEX CONCURRENTLY IF NOT EXISTS profiles_external_id ON profiles (project_id, lower(external_id))
    WHERE merged_into IS NULL AND deleted_at IS NULL;

