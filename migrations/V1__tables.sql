-- Current-state tables: one row per object the API knows, keyed as the API keys it.
-- Every table ends with the same bookkeeping columns (see PRODUCT.md "Target"):
--   extra         fields of the object that no column models (scrubbed of secrets)
--   content_hash  hash of the versioned content; a new hash means a new history version
--   row_hash      hash of the whole row, including token times, which move without a version
--   first_seen_at, changed_at, deleted_at, sync_run_id

CREATE SCHEMA IF NOT EXISTS ampersand;

CREATE TABLE ampersand.sync_runs (
    id                       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    command                  text NOT NULL,
    project                  text NOT NULL,
    group_ref                text,
    dry_run                  boolean NOT NULL DEFAULT false,
    observed_at              timestamptz NOT NULL,
    started_at               timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at              timestamptz,
    status                   text NOT NULL DEFAULT 'running'
                             CHECK (status IN ('running', 'succeeded', 'failed', 'abandoned')),
    counts                   jsonb NOT NULL DEFAULT '{}',
    rows_inserted            bigint NOT NULL DEFAULT 0,
    rows_updated             bigint NOT NULL DEFAULT 0,
    rows_deleted             bigint NOT NULL DEFAULT 0,
    rejected                 bigint NOT NULL DEFAULT 0,
    deletions_skipped_reason text,
    error                    text,
    tool_version             text NOT NULL,
    host                     text,
    pid                      integer
);
CREATE INDEX sync_runs_project_idx ON ampersand.sync_runs (project, id DESC);

CREATE TABLE ampersand.rejected_records (
    sync_run_id bigint NOT NULL REFERENCES ampersand.sync_runs (id),
    source      text NOT NULL,
    position    bigint NOT NULL,
    reason      text NOT NULL,
    payload     jsonb,
    PRIMARY KEY (sync_run_id, source, position)
);

CREATE TABLE ampersand.projects (
    id            text PRIMARY KEY,
    name          text,
    app_name      text,
    org_id        text,
    create_time   timestamptz,
    update_time   timestamptz,
    entitlements  jsonb,
    extra         jsonb NOT NULL DEFAULT '{}',
    content_hash  text NOT NULL,
    row_hash      text NOT NULL,
    first_seen_at timestamptz NOT NULL,
    changed_at    timestamptz NOT NULL,
    deleted_at    timestamptz,
    sync_run_id   bigint NOT NULL
);

CREATE TABLE ampersand.integrations (
    id                           text PRIMARY KEY,
    project_id                   text NOT NULL,
    name                         text,
    provider                     text,
    create_time                  timestamptz,
    update_time                  timestamptz,
    latest_revision_id           text,
    latest_revision_spec_version text,
    latest_revision_create_time  timestamptz,
    latest_revision_content      jsonb,
    extra                        jsonb NOT NULL DEFAULT '{}',
    content_hash                 text NOT NULL,
    row_hash                     text NOT NULL,
    first_seen_at                timestamptz NOT NULL,
    changed_at                   timestamptz NOT NULL,
    deleted_at                   timestamptz,
    sync_run_id                  bigint NOT NULL
);
CREATE INDEX integrations_project_idx ON ampersand.integrations (project_id);

CREATE TABLE ampersand.groups (
    project_id    text NOT NULL,
    group_ref     text NOT NULL,
    group_name    text,
    create_time   timestamptz,
    update_time   timestamptz,
    extra         jsonb NOT NULL DEFAULT '{}',
    content_hash  text NOT NULL,
    row_hash      text NOT NULL,
    first_seen_at timestamptz NOT NULL,
    changed_at    timestamptz NOT NULL,
    deleted_at    timestamptz,
    sync_run_id   bigint NOT NULL,
    PRIMARY KEY (project_id, group_ref)
);

CREATE TABLE ampersand.consumers (
    project_id    text NOT NULL,
    consumer_ref  text NOT NULL,
    consumer_name text,
    create_time   timestamptz,
    update_time   timestamptz,
    extra         jsonb NOT NULL DEFAULT '{}',
    content_hash  text NOT NULL,
    row_hash      text NOT NULL,
    first_seen_at timestamptz NOT NULL,
    changed_at    timestamptz NOT NULL,
    deleted_at    timestamptz,
    sync_run_id   bigint NOT NULL,
    PRIMARY KEY (project_id, consumer_ref)
);

CREATE TABLE ampersand.provider_apps (
    id            text PRIMARY KEY,
    project_id    text NOT NULL,
    provider      text,
    client_id     text,
    external_ref  text,
    scopes        text[],
    metadata      jsonb,
    create_time   timestamptz,
    update_time   timestamptz,
    extra         jsonb NOT NULL DEFAULT '{}',
    content_hash  text NOT NULL,
    row_hash      text NOT NULL,
    first_seen_at timestamptz NOT NULL,
    changed_at    timestamptz NOT NULL,
    deleted_at    timestamptz,
    sync_run_id   bigint NOT NULL
);
CREATE INDEX provider_apps_project_idx ON ampersand.provider_apps (project_id);

CREATE TABLE ampersand.connections (
    id                       text PRIMARY KEY,
    project_id               text NOT NULL,
    provider                 text,
    provider_app_id          text,
    group_ref                text,
    consumer_ref             text,
    provider_workspace_ref   text,
    provider_consumer_ref    text,
    create_time              timestamptz,
    update_time              timestamptz,
    auth_scheme              text,
    status                   text,
    has_access_token         boolean NOT NULL DEFAULT false,
    access_token_issued_at   timestamptz,
    access_token_expires_at  timestamptz,
    has_refresh_token        boolean NOT NULL DEFAULT false,
    refresh_token_issued_at  timestamptz,
    refresh_token_expires_at timestamptz,
    oauth_scopes             text[],
    has_api_key              boolean NOT NULL DEFAULT false,
    provider_metadata        jsonb,
    extra                    jsonb NOT NULL DEFAULT '{}',
    content_hash             text NOT NULL,
    row_hash                 text NOT NULL,
    first_seen_at            timestamptz NOT NULL,
    changed_at               timestamptz NOT NULL,
    deleted_at               timestamptz,
    sync_run_id              bigint NOT NULL
);
CREATE INDEX connections_project_idx ON ampersand.connections (project_id, group_ref);

CREATE TABLE ampersand.configs (
    id              text PRIMARY KEY,
    project_id      text NOT NULL,
    installation_id text,
    revision_id     text,
    create_time     timestamptz,
    created_by      text,
    created_by_kind text,
    created_by_ref  text,
    content         jsonb,
    extra           jsonb NOT NULL DEFAULT '{}',
    content_hash    text NOT NULL,
    row_hash        text NOT NULL,
    first_seen_at   timestamptz NOT NULL,
    changed_at      timestamptz NOT NULL,
    deleted_at      timestamptz,
    sync_run_id     bigint NOT NULL
);
CREATE INDEX configs_project_idx ON ampersand.configs (project_id);
CREATE INDEX configs_installation_idx ON ampersand.configs (installation_id);

CREATE TABLE ampersand.installations (
    id                    text PRIMARY KEY,
    project_id            text NOT NULL,
    integration_id        text,
    health_status         text,
    last_operation_status text,
    connection_id         text,
    config_id             text,
    group_ref             text,
    create_time           timestamptz,
    created_by            text,
    created_by_kind       text,
    created_by_ref        text,
    update_time           timestamptz,
    extra                 jsonb NOT NULL DEFAULT '{}',
    content_hash          text NOT NULL,
    row_hash              text NOT NULL,
    first_seen_at         timestamptz NOT NULL,
    changed_at            timestamptz NOT NULL,
    deleted_at            timestamptz,
    sync_run_id           bigint NOT NULL
);
CREATE INDEX installations_project_idx ON ampersand.installations (project_id, group_ref);
