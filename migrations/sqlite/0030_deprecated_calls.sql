-- Calls to deprecated API operations (`[[deprecations]]` in the config), per account, mode
-- and operation, so the console can tell an account which of them it still uses before
-- their sunset (clause 14). Counted in memory and added here with each request-log batch,
-- so a call costs no write of its own.
-- Keep in lockstep with the other dialect's 0030_deprecated_calls.sql.
CREATE TABLE deprecated_calls (
    account_id  TEXT   NOT NULL REFERENCES accounts (id),
    mode        TEXT   NOT NULL CHECK (mode IN ('test', 'live')),
    method      TEXT   NOT NULL,
    route       TEXT   NOT NULL,
    calls       BIGINT NOT NULL,
    first_at    BIGINT NOT NULL,
    last_at     BIGINT NOT NULL,
    PRIMARY KEY (account_id, mode, method, route)
);
