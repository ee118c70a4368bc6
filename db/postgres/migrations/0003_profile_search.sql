-- +goose Up
-- Read support for Get and List. effective holds the traits as reads show them (SDK traits with
-- overrides on top) and search the lower-cased text that free-text queries match (external id
-- and scalar trait values); the identity store writes both with every profile change.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

ALTER TABLE profiles
    ADD COLUMN effective jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN search    text  NOT NULL DEFAULT '';

-- Every list index covers live profiles only: merged-away and deleted ones never appear.
CREATE INDEX profiles_live ON profiles (project_id, id)
    WHERE merged_into IS NULL AND deleted_at IS NULL;
CREATE INDEX profiles_search ON profiles USING gin (search gin_trgm_ops)
    WHERE merged_into IS NULL AND deleted_at IS NULL;
CREATE INDEX profiles_effective ON profiles USING gin (effective)
    WHERE merged_into IS NULL AND deleted_at IS NULL;

-- Comparisons of RFC 3339 trait values in list filters: NULL instead of an error for text that
-- is not a time, so one odd value cannot fail a whole query.
-- +goose StatementBegin
CREATE FUNCTION profiles_try_timestamptz(v text) RETURNS timestamptz
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN v::timestamptz;
EXCEPTION WHEN others THEN
    RETURN NULL;
END;
$$;
-- +goose StatementEnd
