-- +goose Up
-- Tenants and their API keys. Keys are stored as a hash of their secret part only.
CREATE TABLE projects (
    id         text PRIMARY KEY,
    name       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
    id          text PRIMARY KEY,
    project_id  text NOT NULL REFERENCES projects (id),
    kind        text NOT NULL CHECK (kind IN ('sdk', 'secret')),
    name        text NOT NULL DEFAULT '',
    secret_hash bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

CREATE INDEX api_keys_project ON api_keys (project_id);
