-- Remote pull workers: their tokens (SHA-256 only, like API keys) and one row per lease, so
-- a worker's counters, idempotent completion replays and quarantine have a record to read.
-- Keep in lockstep with postgres/0017_workers.sql.

CREATE TABLE workers (
    id                 TEXT    PRIMARY KEY,
    name               TEXT    NOT NULL,
    token_hash         TEXT    NOT NULL,
    display_prefix     TEXT    NOT NULL,
    -- JSON arrays of model ids: what the token may claim, what the worker last said it serves.
    models             TEXT    NOT NULL,
    serving            TEXT    NOT NULL DEFAULT '[]',
    version            TEXT,
    created_at         BIGINT  NOT NULL,
    last_seen_at       BIGINT,
    revoked_at         BIGINT,
    jobs_done          BIGINT  NOT NULL DEFAULT 0,
    jobs_failed        BIGINT  NOT NULL DEFAULT 0,
    leases_lost        BIGINT  NOT NULL DEFAULT 0,
    quarantined_until  BIGINT,
    updated_at         BIGINT  NOT NULL,
    -- Named so a taken name maps to DbError::Conflict("workers_name_key").
    CONSTRAINT workers_name_key UNIQUE (name),
    CONSTRAINT workers_token_hash_key UNIQUE (token_hash)
);

CREATE TABLE worker_leases (
    id                 TEXT    PRIMARY KEY,
    worker_id          TEXT    NOT NULL REFERENCES workers (id),
    job_id             TEXT    NOT NULL REFERENCES jobs (id),
    -- The job's attempt this lease runs: every claim bumps the job's attempts, so it grows
    -- with each lease of a job and orders them without trusting clocks.
    attempt            INTEGER NOT NULL,
    claimed_at         BIGINT  NOT NULL,
    deadline_at        BIGINT  NOT NULL,
    lease_until        BIGINT  NOT NULL,
    ended_at           BIGINT,
    outcome            TEXT    CHECK (outcome IN ('succeeded', 'failed', 'canceled', 'lost')),
    completion_digest  TEXT,
    CHECK ((ended_at IS NULL) = (outcome IS NULL))
);
-- The latest lease of a job.
CREATE INDEX worker_leases_job ON worker_leases (job_id, attempt);
-- The sweep of lapsed leases walks only open ones.
CREATE INDEX worker_leases_open ON worker_leases (lease_until) WHERE ended_at IS NULL;
-- A worker's lost leases in the quarantine window.
CREATE INDEX worker_leases_lost ON worker_leases (worker_id, ended_at) WHERE outcome = 'lost';

-- What the worker holding a job last reported. Not part of the job's own columns: only
-- remote workers report it, and a worker's claim clears it.
ALTER TABLE jobs ADD COLUMN progress REAL;
ALTER TABLE jobs ADD COLUMN progress_message TEXT;
