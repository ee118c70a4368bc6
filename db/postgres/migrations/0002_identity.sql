-- +goose Up
-- The identity graph. Every row is scoped to a project.
--
-- version comes from change_seq, taken after the rows a change touches are locked, so within any
-- one row it grows in commit order; the ClickHouse projection lets the highest version win.
CREATE SEQUENCE change_seq;

CREATE TABLE profiles (
    project_id  text NOT NULL,
    id          text NOT NULL,
    external_id text,
    traits      jsonb NOT NULL DEFAULT '{}',
    overrides   jsonb NOT NULL DEFAULT '{}',
    merged_into text,
    deleted_at  timestamptz,
    version     bigint NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, id)
);

-- Each (project, distinct id) belongs to exactly one profile at a time. A merge repoints the
-- loser's rows at the winner, so this table always names a live (or deleted) profile, never a
-- merged-away one.
CREATE TABLE distinct_ids (
    project_id  text NOT NULL,
    distinct_id text NOT NULL,
    profile_id  text NOT NULL,
    version     bigint NOT NULL,
    PRIMARY KEY (project_id, distinct_id)
);

CREATE INDEX distinct_ids_profile ON distinct_ids (project_id, profile_id);

-- Answers to writes that carried a message id, so a retry replays instead of applying twice.
CREATE TABLE idempotency_keys (
    project_id text NOT NULL,
    method     text NOT NULL,
    message_id text NOT NULL,
    response   jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, method, message_id)
);

CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
