-- +goose Up
-- The planner leaves the statistics of partial indexes unused, so it guessed that one email (or
-- external id) matched 0.5% of the profiles, and under List's LIMIT a sequential scan looked
-- about as cheap as these indexes (0006). Past two million profiles it chose the scan: 1 s for
-- a List by email, 10 s each under 32 clients. Statistics on the expressions themselves tell it
-- that an address matches about one profile.
-- Both statements take SHARE UPDATE EXCLUSIVE, which reads and writes pass; a vacuum of
-- profiles holds it too, and one against wraparound is not cancelled: fail and let migrate
-- be retried rather than hold a deploy for as long as that takes.
SET LOCAL lock_timeout = '60s';
CREATE STATISTICS IF NOT EXISTS profiles_email_stats ON (lower(effective->>'email')) FROM profiles;
CREATE STATISTICS IF NOT EXISTS profiles_external_id_stats ON (lower(external_id)) FROM profiles;
ANALYZE profiles;
