-- Generations (the public resource), their outputs, and the events developers see.
-- A generation is run by one job (jobs.id); its status mirrors the job's and both change
-- in the same transaction. Keep in lockstep with sqlite/0003_generations.sql.

CREATE TABLE generations (
    id                 TEXT    PRIMARY KEY,
    account_id         TEXT    NOT NULL REFERENCES accounts (id),
    api_key_id         TEXT    NOT NULL REFERENCES api_keys (id),
    mode               TEXT    NOT NULL CHECK (mode IN ('test', 'live')),
    model              TEXT    NOT NULL,
    kind               TEXT    NOT NULL CHECK (kind IN ('image', 'video')),
    status             TEXT    NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'canceled', 'expired')),
    input              TEXT    NOT NULL,
    end_user           TEXT,
    metadata           TEXT,
    licence            TEXT    NOT NULL CHECK (licence IN ('non_commercial', 'commercial_attribution', 'white_label')),
    credits_estimated  BIGINT  NOT NULL CHECK (credits_estimated >= 0),
    credits_charged    BIGINT  CHECK (credits_charged >= 0),
    error_code         TEXT,
    error_message      TEXT,
    job_id             TEXT    NOT NULL REFERENCES jobs (id),
    created_at         BIGINT  NOT NULL,
    started_at         BIGINT,
    finished_at        BIGINT,
    deleted_at         BIGINT,
    updated_at         BIGINT  NOT NULL,
    CHECK ((status IN ('succeeded', 'failed', 'canceled', 'expired')) = (finished_at IS NOT NULL)),
    CHECK (credits_charged IS NULL OR credits_charged <= credits_estimated)
);
CREATE INDEX generations_list ON generations (account_id, mode, id);
CREATE UNIQUE INDEX generations_job ON generations (job_id);

CREATE TABLE outputs (
    generation_id     TEXT    NOT NULL REFERENCES generations (id),
    idx               INTEGER NOT NULL CHECK (idx >= 0),
    path              TEXT    NOT NULL,
    content_type      TEXT    NOT NULL,
    width             INTEGER NOT NULL,
    height            INTEGER NOT NULL,
    duration_ms       BIGINT,
    bytes             BIGINT  NOT NULL,
    expires_at        BIGINT  NOT NULL,
    deleted_at        BIGINT,
    created_at        BIGINT  NOT NULL,
    PRIMARY KEY (generation_id, idx)
);
-- Retention: outputs to delete once they expire.
CREATE INDEX outputs_expiry ON outputs (expires_at) WHERE deleted_at IS NULL;

CREATE TABLE events (
    id          TEXT   PRIMARY KEY,
    account_id  TEXT   NOT NULL REFERENCES accounts (id),
    mode        TEXT   NOT NULL CHECK (mode IN ('test', 'live')),
    type        TEXT   NOT NULL,
    data        TEXT   NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX events_list ON events (account_id, mode, id);
