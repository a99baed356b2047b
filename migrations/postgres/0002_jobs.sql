-- The durable job queue: every unit of background work (running a generation, delivering a
-- webhook) is a row here, claimed with a lease. Keep in lockstep with sqlite/0002_jobs.sql.
--
-- Finished jobs stay (for history and idempotency); the partial indexes cover only live
-- rows, so claiming costs the same with a million finished or queued rows as with none.

CREATE TABLE jobs (
    id                   TEXT    PRIMARY KEY,
    queue                TEXT    NOT NULL,
    kind                 TEXT    NOT NULL,
    payload              TEXT    NOT NULL,
    status               TEXT    NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'canceled', 'expired')),
    attempts             INTEGER NOT NULL DEFAULT 0,
    max_attempts         INTEGER NOT NULL CHECK (max_attempts >= 1),
    run_at               BIGINT  NOT NULL,
    expires_at           BIGINT,
    lease_owner          TEXT,
    lease_until          BIGINT,
    cancel_requested_at  BIGINT,
    last_error           TEXT,
    created_at           BIGINT  NOT NULL,
    started_at           BIGINT,
    finished_at          BIGINT,
    updated_at           BIGINT  NOT NULL,
    CHECK ((status = 'running') = (lease_owner IS NOT NULL AND lease_until IS NOT NULL)),
    CHECK ((status IN ('succeeded', 'failed', 'canceled', 'expired')) = (finished_at IS NOT NULL))
);
-- Claim: the oldest runnable job of a queue.
CREATE INDEX jobs_claim ON jobs (queue, run_at, id) WHERE status = 'queued';
-- Reaping leases of workers that died.
CREATE INDEX jobs_leases ON jobs (lease_until) WHERE status = 'running';
-- Expiring jobs queued past their deadline.
CREATE INDEX jobs_expiry ON jobs (expires_at) WHERE status = 'queued' AND expires_at IS NOT NULL;
