-- Idempotency keys (Stripe semantics): the first request with a key claims it, and its
-- response is replayed to later requests with the same key and body for the key's lifetime.
-- Keep in lockstep with the other dialect's 0004_idempotency.sql.

CREATE TABLE idempotency_keys (
    account_id    TEXT    NOT NULL REFERENCES accounts (id),
    mode          TEXT    NOT NULL CHECK (mode IN ('test', 'live')),
    key           TEXT    NOT NULL,
    request_hash  TEXT    NOT NULL,
    status        INTEGER,
    response      TEXT,
    locked_until  BIGINT,
    created_at    BIGINT  NOT NULL,
    PRIMARY KEY (account_id, mode, key),
    CHECK ((status IS NULL) = (response IS NULL))
);
-- Sweeping rows past their lifetime.
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- Generations whose job ended but which were not settled yet (a node died between the
-- two): the sweep finds them through this small partial index.
CREATE INDEX generations_open ON generations (job_id) WHERE status IN ('queued', 'running');
